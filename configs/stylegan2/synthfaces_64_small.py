# The generator p2s ships (`synthfaces-generator`): StyleGAN2 at 64 px, 64 channels at most
# (32 at 64 px), w_dim 128 -- small enough to train on a CPU.  For a stronger domain on a
# GPU use synthfaces_64.py or synthfaces_128.py with the same steps:
#   p2s data synthfaces --n 6226 --size 64 --out data/synthfaces_64
#   p2s train configs/stylegan2/synthfaces_64_small.py train_cfg.max_iters=5000
#   p2s data export-generator work_dirs/synthfaces_64_small/iter_5000.pth synthfaces_64_small.pt
# The shipped generator is iteration 5000 (80k images shown, 65 min on 2 CPU cores):
# faces, hair, eyes and mouths, with speckle artefacts a longer (GPU) run would remove.
_base_ = ['./synthfaces_64.py']

model = dict(
    generator=dict(w_dim=128, channel_multiplier=1, channel_max=64),
    discriminator=dict(channel_multiplier=1, channel_max=64),
    # StyleGAN2-ADA's rule of thumb gamma = 0.0002 * res^2 / batch is 0.05 here; a little
    # more keeps D smooth early in a short run
    r1_gamma=0.2,
    ema_kimg=5.0,
)
train_dataloader = dict(batch_size=16, num_workers=1, persistent_workers=True, pin_memory=False)
val_dataloader = dict(num_workers=0, persistent_workers=False, pin_memory=False)
train_cfg = dict(max_iters=20000, val_interval=1000)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, max_keep_ckpts=2),
)
custom_hooks = [
    dict(type='SafeCheckpointHook'),
    dict(type='RNGStateHook'),
    dict(type='ImageGridHook', interval=250, max_samples=8, tile_size=128),
]
