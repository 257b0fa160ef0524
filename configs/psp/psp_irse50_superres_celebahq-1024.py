# Super-resolution: bicubic down-sampling by a random factor of 1, 2, 4, 8, 16, 32 per
# sample (validation and inference use resize_factor); l2 1, lpips 0.8, id 0.1, w-norm 0.005
# (the official README's super-resolution command).
_base_ = ['../_base_/models/psp_irse50_ffhq-1024.py', '../_base_/datasets/folder.py',
          '../_base_/schedules/ranger_500k.py', '../_base_/default_runtime.py']

task = dict(type='SuperResolution', resize_factor=16, train_factors=(1, 2, 4, 8, 16, 32))
model = dict(
    losses=dict(
        l2=dict(type='L2Loss', loss_weight=1.0),
        lpips=dict(type='LPIPSLoss', loss_weight=0.8, net='alex'),
        id=dict(type='IDLoss', loss_weight=0.1, weights='pretrained_models/model_ir_se50.pth'),
        w_norm=dict(type='WNormLoss', loss_weight=0.005),
    ))
train_dataloader = dict(dataset=dict(root='data/celebahq/train', task=task))
val_dataloader = dict(dataset=dict(root='data/celebahq/test', task=task))
