# AFHQ cat inversion on a StyleGAN2-ADA 512 generator (convert the NVlabs afhqcat.pkl
# with `p2s convert ada-pkl`); non-face losses only: l2 1, lpips 0.8, w-norm 0.005.
_base_ = ['../_base_/datasets/folder.py', '../_base_/schedules/ranger_500k.py',
          '../_base_/default_runtime.py']

task = dict(type='Inversion')
model = dict(
    type='PSP',
    # the backbone starts from torchvision's ImageNet ResNet-34, as the authors' non-face
    # encoders (ReStyle's ResNetBackboneEncoder); the face configs start from model_ir_se50.pth
    encoder=dict(type='GradualStyleEncoder',
                 backbone=dict(type='ResNet34Backbone', in_channels=3,
                               weights='pretrained_models/resnet34-b627a593.pth')),
    generator=dict(type='StyleGAN2Generator', resolution=512, w_dim=512, n_mlp=8, channel_multiplier=2,
                   weights='pretrained_models/afhqcat.pt'),
    start_from_latent_avg=True,
    losses=dict(
        l2=dict(type='L2Loss', loss_weight=1.0),
        lpips=dict(type='LPIPSLoss', loss_weight=0.8, net='alex'),
        w_norm=dict(type='WNormLoss', loss_weight=0.005),
    ))
train_dataloader = dict(dataset=dict(root='data/afhq/train/cat', task=task))
val_dataloader = dict(dataset=dict(root='data/afhq/val/cat', task=task))
