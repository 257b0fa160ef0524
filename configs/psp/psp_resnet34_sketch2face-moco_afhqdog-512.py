# AFHQ dog sketch -> image with the MoCo-v2 similarity loss the pSp and ReStyle READMEs
# recommend for non-face domains (official --moco_lambda=0.5). Needs
# moco_v2_800ep_pretrain.pt (the pSp README's "MoCo ResNet-50" link; facebookresearch/moco's
# moco_v2_800ep_pretrain.pth.tar loads too).
_base_ = ['./psp_resnet34_sketch2face_afhqdog-512.py']

model = dict(losses=dict(
    moco=dict(type='MoCoLoss', loss_weight=0.5, weights='pretrained_models/moco_v2_800ep_pretrain.pt'),
))
