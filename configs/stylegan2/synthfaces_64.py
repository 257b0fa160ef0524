# StyleGAN2 at 64 px on synthetic faces, reduced width (256 channels, w_dim 256).
# Make the data first:  p2s data synthfaces --n 50000 --size 64 --out data/synthfaces_64
# Train:                p2s train configs/stylegan2/synthfaces_64.py
# Export g_ema:         p2s data export-generator work_dirs/synthfaces_64/iter_60000.pth synthfaces_64.pt
# Data folder override: train_dataloader.dataset.root=... val_dataloader.dataset.root=...
# Single process only (no --launcher pytorch, no --amp): the model steps two optimizers itself.
_base_ = ['../_base_/default_runtime.py']

custom_imports = dict(imports=['p2s.models.stylegan2_gan', 'p2s.synthfaces.dataset'], allow_failed_imports=False)

resolution = 64
# lazy R1 every 16 D steps: D's lr and betas follow StyleGAN2's ratio 16 / 17
r1_interval = 16
d_reg_ratio = r1_interval / (r1_interval + 1)

model = dict(
    type='StyleGAN2GAN',
    generator=dict(type='StyleGAN2Generator', resolution=resolution, w_dim=256, n_mlp=8, channel_multiplier=2,
                   channel_max=256, lr_mlp=0.01, weights=None),
    discriminator=dict(type='StyleGAN2Discriminator', resolution=resolution, channel_multiplier=2, channel_max=256),
    # gamma: rosinality uses 10 at 256 px; R1 scales with resolution^2 (about 0.6 at 64 px)
    r1_gamma=0.5,
    r1_interval=r1_interval,
    mixing_prob=0.9,
    ema_kimg=10.0,      # g_ema half-life in thousands of images (rosinality: 0.5 ** (32 / 10000) per batch of 32)
    ema_rampup=0.05,    # ...but at most 5% of the images seen so far (StyleGAN2-ADA)
    num_samples=16,
)
optim_wrapper = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99), eps=1e-8)),
    discriminator=dict(type='OptimWrapper',
                       optimizer=dict(type='Adam', lr=0.002 * d_reg_ratio, betas=(0.0, 0.99**d_reg_ratio), eps=1e-8)),
)

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='PositionedInfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='GANImageDataset', root='data/synthfaces_64/images', size=resolution, flip=True),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='GANImageDataset', root='data/synthfaces_64/images', size=resolution, flip=False,
                 max_samples=64),
)
val_evaluator = dict(type='LossMetric')  # val/score_real, val/score_fake, val/colour_gap
train_cfg = dict(type='IterBasedTrainLoop', max_iters=60000, val_interval=2500)
val_cfg = dict(type='ValLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    # a GAN has no validation loss to pick a "best" checkpoint by
    checkpoint=dict(type='AtomicCheckpointHook', interval=5000, by_epoch=False, max_keep_ckpts=3,
                    save_best=None, save_last=True),
)
custom_hooks = [
    dict(type='SafeCheckpointHook'),
    dict(type='RNGStateHook'),
    dict(type='ImageGridHook', interval=1000, max_samples=8, tile_size=128),  # fake | real
]
