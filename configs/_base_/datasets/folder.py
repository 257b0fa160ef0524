# Target images in one folder; the task derives each source from its target.
# Override: train_dataloader.dataset.root=..., val_dataloader.dataset.root=...
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='PositionedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root='data/ffhq', task=dict(type='Inversion'), train=True),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root='data/celebahq_test', task=dict(type='Inversion'), train=False),
)
