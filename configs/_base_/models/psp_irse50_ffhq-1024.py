# pSp: IR-SE50 GradualStyleEncoder on a frozen StyleGAN2 FFHQ 1024 generator.
# Weight files (override on the command line, e.g. model.generator.weights=/data/sg2.pt):
#   model.generator.weights          rosinality stylegan2-ffhq-config-f.pt
#   model.encoder.backbone.weights   model_ir_se50.pth (encoder initialisation)
model = dict(
    type='PSP',
    encoder=dict(
        type='GradualStyleEncoder',
        backbone=dict(type='IRSEBackbone', depth=50, mode='ir_se', in_channels=3,
                      weights='pretrained_models/model_ir_se50.pth')),
    generator=dict(type='StyleGAN2Generator', resolution=1024, w_dim=512, n_mlp=8, channel_multiplier=2,
                   weights='pretrained_models/stylegan2-ffhq-config-f.pt'),
    start_from_latent_avg=True,
)
