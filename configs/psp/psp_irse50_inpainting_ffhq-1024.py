# Inpainting: a symmetric triangular mask over the input; the inversion losses.
_base_ = ['./psp_irse50_inversion_ffhq-1024.py']

task = dict(type='Inpainting')
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
