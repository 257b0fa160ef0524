# AFHQ dog sketch -> image on a StyleGAN2-ADA 512 generator; l2 1, lpips 0.8, w-norm 0.005.
_base_ = ['../_base_/datasets/paired.py', '../_base_/schedules/ranger_500k.py',
          '../_base_/default_runtime.py']

task = dict(type='Sketch2Face')
model = dict(
    type='PSP',
    # the backbone starts from torchvision's ImageNet ResNet-34, as the authors' non-face
    # encoders (ReStyle's ResNetBackboneEncoder); the face configs start from model_ir_se50.pth
    encoder=dict(type='GradualStyleEncoder',
                 backbone=dict(type='ResNet34Backbone', in_channels=1,
                               weights='pretrained_models/resnet34-b627a593.pth')),
    generator=dict(type='StyleGAN2Generator', resolution=512, w_dim=512, n_mlp=8, channel_multiplier=2,
                   weights='pretrained_models/afhqdog.pt'),
    start_from_latent_avg=True,
    source_value_range=(0.0, 1.0),
    losses=dict(
        l2=dict(type='L2Loss', loss_weight=1.0),
        lpips=dict(type='LPIPSLoss', loss_weight=0.8, net='alex'),
        w_norm=dict(type='WNormLoss', loss_weight=0.005),
    ))
train_dataloader = dict(dataset=dict(source_root='data/afhq_sketch/train/dog', target_root='data/afhq/train/dog',
                                     task=task))
val_dataloader = dict(dataset=dict(source_root='data/afhq_sketch/val/dog', target_root='data/afhq/val/dog',
                                   task=task))
