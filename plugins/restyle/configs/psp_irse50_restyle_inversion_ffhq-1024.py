# ReStyle-pSp: FFHQ inversion by iterative refinement (Alaluf et al., ICCV 2021), the
# inversion losses. The encoder sees the source and the current reconstruction (6
# channels) and predicts a W+ residual, 5 steps in training and at inference.
# The model is registered only through custom_imports: core p2s never imports it.
_base_ = ['../../../configs/psp/psp_irse50_inversion_ffhq-1024.py']

custom_imports = dict(imports=['p2s_plugins.restyle'], allow_failed_imports=False)
model = dict(
    type='ReStylePSP',
    encoder=dict(backbone=dict(in_channels=6)),
    iterations=5,
    train_iterations=5,
)
