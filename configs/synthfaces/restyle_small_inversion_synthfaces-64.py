# ReStyle-pSp (plugins/restyle) on synthetic faces: the small inversion recipe with
# ReStyle's iterative residual encoder, so the plugin can be tried offline on a CPU.
# The encoder sees the source and the current reconstruction (6 channels); 3 refinement
# steps in training (activations grow with them), 5 at inference (--iterations N).
_base_ = ['./psp_small_inversion_synthfaces-64.py']

custom_imports = dict(imports=['p2s_plugins.restyle'], allow_failed_imports=False)
model = dict(
    type='ReStylePSP',
    encoder=dict(backbone=dict(in_channels=6)),
    iterations=5,
    train_iterations=3,
)
