# Colorization plugin: grayscale -> colour FFHQ faces, the inversion losses.
# The task is registered only through custom_imports: core p2s never imports it.
_base_ = ['../../../configs/psp/psp_irse50_inversion_ffhq-1024.py']

custom_imports = dict(imports=['p2s_plugins.colorization'], allow_failed_imports=False)
task = dict(type='Colorization')
model = dict(encoder=dict(backbone=dict(in_channels=1)))
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
