# StyleGAN2 at 128 px on synthetic faces (256 channels up to 64 px, 128 at 128 px; w_dim 256).
# Make the data first:  p2s data synthfaces --n 70000 --size 128 --out data/synthfaces_128
# Train:                p2s train configs/stylegan2/synthfaces_128.py
# Export g_ema:         p2s data export-generator work_dirs/synthfaces_128/iter_100000.pth synthfaces_128.pt
_base_ = ['./synthfaces_64.py']

resolution = 128
model = dict(
    generator=dict(resolution=resolution),
    discriminator=dict(resolution=resolution),
    r1_gamma=1.0,  # about (128 / 256)^2 x rosinality's 10, lowered as at 64 px
)
train_dataloader = dict(dataset=dict(root='data/synthfaces_128/images', size=resolution))
val_dataloader = dict(dataset=dict(root='data/synthfaces_128/images', size=resolution))
train_cfg = dict(max_iters=100000)
