# Inversion of synthetic faces with pSp's GradualStyleEncoder (shipped: synthfaces-inversion).
# No LPIPS / ID terms: their pretrained networks cannot be downloaded here, so L2 alone.
_base_ = ['../_base_/synthfaces_psp-64.py']

task = dict(type='Inversion', image_size={{_base_.image_size}})
model = dict(losses=dict(l2=dict(type='L2Loss', loss_weight=1.0)))
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
