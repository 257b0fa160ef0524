# Super-resolution x1..x8 (a 64 px face has no x16 / x32); inference default x4 (16 px input).
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='SuperResolution', image_size={{_base_.image_size}}, resize_factor=4, train_factors=(1, 2, 4, 8))
model = dict(losses=dict(l2=dict(type='L2Loss', loss_weight=1.0)))
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
