# Segmentation map (19 CelebAMask-HQ classes) -> face on the renderer's label maps.
# w-norm 0.0005, not the paper's 0.005: with L2 as the only image loss (no pretrained LPIPS
# here) and 10x128 latents, 0.005 holds every code at latent_avg, so the encoder outputs
# the mean face for every input (600-iteration check: val L2 0.151 at 0.005, 0.135 at 0).
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='Seg2Face', image_size={{_base_.image_size}})
model = dict(encoder=dict(backbone=dict(in_channels=19)), source_value_range=(0.0, 1.0),
             losses=dict(l2=dict(type='L2Loss', loss_weight=1.0),
                         w_norm=dict(type='WNormLoss', loss_weight=0.0005)))
train_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=True,
                                     how_to_get={{_base_.make_train}},
                                     source_root='data/synthfaces_64/labels',
                                     target_root='data/synthfaces_64/images'))
val_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=False, max_samples=64,
                                   how_to_get={{_base_.make_heldout}},
                                   source_root='data/synthfaces_64_heldout/labels',
                                   target_root='data/synthfaces_64_heldout/images'))
