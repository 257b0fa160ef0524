# pSp on the shipped synthetic-face generator (64 px, w_dim 128): a small IR-SE encoder
# (0.4 M backbone parameters, 64-channel map2style heads) that trains on a CPU.
# 'synthfaces-generator' is a shipped model name (p2s zoo list); a path works as well.
image_size = 64
model = dict(
    type='PSP',
    encoder=dict(
        type='GradualStyleEncoder', input_size=image_size, head_channels=64,
        backbone=dict(type='IRSEBackbone', depth=50, mode='ir_se', in_channels=3,
                      units=(1, 2, 2, 1), widths=(32, 48, 64, 96), weights=None)),
    generator=dict(type='StyleGAN2Generator', resolution=64, w_dim=128, n_mlp=8, channel_multiplier=1,
                   channel_max=64, weights='synthfaces-generator'),
    start_from_latent_avg=True,
    pooled_size=image_size,
)
