# Frontalization with true pairs: every rendered pose (images/) has its yaw-0 view (frontal/).
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='Frontalization', image_size={{_base_.image_size}})
model = dict(losses=dict(l2=dict(type='L2Loss', loss_weight=1.0),
                         w_norm=dict(type='WNormLoss', loss_weight=0.005)))
train_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=True,
                                     how_to_get={{_base_.make_train}},
                                     source_root='data/synthfaces_64/images',
                                     target_root='data/synthfaces_64/frontal'))
val_dataloader = dict(dataset=dict(type='PairedImageDataset', _delete_=True, task=task, train=False, max_samples=64,
                                   how_to_get={{_base_.make_heldout}},
                                   source_root='data/synthfaces_64_heldout/images',
                                   target_root='data/synthfaces_64_heldout/frontal'))
