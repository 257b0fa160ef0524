# Source and target folders paired by file stem (sketches, label maps, ...).
# The datasets take the config's top-level `task` (p2s train fills it in; a config read
# by MMEngine alone passes task=task).
# 8 workers: one decodes and prepares 20-30 1024-px PNG samples a second
# (benchmarks/dataloader.py), and the bf16 training target on one H100/H200 is 150 a second;
# a `p2s data cache` copy needs far fewer (200+ a second per worker for inversion).
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='PositionedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PairedImageDataset', source_root='data/train_source', target_root='data/train_target', train=True),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PairedImageDataset', source_root='data/test_source', target_root='data/test_target', train=False),
)
