# Synthetic faces (p2s data synthfaces): training set seed 0, held-out set seed 1.
#   p2s data synthfaces --n 6226 --size 64 --seed 0 --out data/synthfaces_64
#   p2s data synthfaces --n 500 --size 64 --seed 1 --out data/synthfaces_64_heldout
# Folder tasks read <root>/images; paired tasks override source_root / target_root.
data_root = 'data/synthfaces_64'
heldout_root = 'data/synthfaces_64_heldout'
make_train = 'make it with: p2s data synthfaces --n 6226 --size 64 --seed 0 --out ' + data_root
make_heldout = 'make it with: p2s data synthfaces --n 500 --size 64 --seed 1 --out ' + heldout_root
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='PositionedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=data_root + '/images', train=True, how_to_get=make_train),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageFolderDataset', root=heldout_root + '/images', train=False, max_samples=64,
                 how_to_get=make_heldout),
)
