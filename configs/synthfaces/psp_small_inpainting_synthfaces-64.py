# Inpainting: a random symmetric triangle blanked out in training, a fixed one at inference.
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='Inpainting', image_size={{_base_.image_size}})
model = dict(losses=dict(l2=dict(type='L2Loss', loss_weight=1.0)))
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
