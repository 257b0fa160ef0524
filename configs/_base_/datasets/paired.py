# Source and target folders paired by file stem (sketches, label maps, ...).
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='PositionedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PairedImageDataset', source_root='data/train_source', target_root='data/train_target',
                 task=dict(type='Inversion'), train=True),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PairedImageDataset', source_root='data/test_source', target_root='data/test_target',
                 task=dict(type='Inversion'), train=False),
)
