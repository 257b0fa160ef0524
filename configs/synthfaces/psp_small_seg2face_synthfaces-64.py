# Segmentation map (19 CelebAMask-HQ classes) -> face on the renderer's label maps.
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='Seg2Face', image_size={{_base_.image_size}})
model = dict(encoder=dict(backbone=dict(in_channels=19)), source_value_range=(0.0, 1.0),
             losses=dict(l2=dict(type='L2Loss', loss_weight=1.0),
                         w_norm=dict(type='WNormLoss', loss_weight=0.005)))
train_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=True,
                                     source_root='data/synthfaces_64/labels',
                                     target_root='data/synthfaces_64/images'))
val_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=False, max_samples=64,
                                   source_root='data/synthfaces_64_heldout/labels',
                                   target_root='data/synthfaces_64_heldout/images'))
