# Sketch -> face on CelebA-HQ sketches (paper: l2 1, lpips 0.8, w-norm 0.005, no ID loss).
_base_ = ['../_base_/models/psp_irse50_ffhq-1024.py', '../_base_/datasets/paired.py',
          '../_base_/schedules/ranger_500k.py', '../_base_/default_runtime.py']

task = dict(type='Sketch2Face')
model = dict(
    encoder=dict(backbone=dict(in_channels=1)),
    source_value_range=(0.0, 1.0),
    losses=dict(
        l2=dict(type='L2Loss', loss_weight=1.0),
        lpips=dict(type='LPIPSLoss', loss_weight=0.8, net='alex'),
        w_norm=dict(type='WNormLoss', loss_weight=0.005),
    ))
train_dataloader = dict(dataset=dict(source_root='data/celebahq_sketch/train', target_root='data/celebahq/train',
                                     task=task))
val_dataloader = dict(dataset=dict(source_root='data/celebahq_sketch/test', target_root='data/celebahq/test',
                                   task=task))
