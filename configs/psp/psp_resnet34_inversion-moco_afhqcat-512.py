# AFHQ cat inversion with the MoCo-v2 similarity loss the pSp and ReStyle READMEs recommend
# for non-face domains (official --moco_lambda=0.5): the identity loss of faces has no
# counterpart for cats, and MoCo's self-supervised ResNet-50 features keep what an animal
# looks like. Needs moco_v2_800ep_pretrain.pt (the pSp README's "MoCo ResNet-50" link, the
# query encoder of facebookresearch/moco's moco_v2_800ep_pretrain.pth.tar; either file loads).
_base_ = ['./psp_resnet34_inversion_afhqcat-512.py']

model = dict(losses=dict(
    moco=dict(type='MoCoLoss', loss_weight=0.5, weights='pretrained_models/moco_v2_800ep_pretrain.pt'),
))
