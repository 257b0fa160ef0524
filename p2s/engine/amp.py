"""The bf16 mixed-precision setting of ``p2s train --amp``.

bf16 keeps float32's exponent range, so its gradients need no loss scaling.  MMEngine's
``AmpOptimWrapper`` scales dynamically by default (a GradScaler made for float16): each
step multiplies the loss, unscales every gradient in an extra pass, and reads the
overflow flag back to the host before the optimizer may step -- a device sync per
iteration.  A disabled scaler does none of that and steps the optimizer directly.
"""

from __future__ import annotations

#: ``optim_wrapper`` keys that turn a plain ``OptimWrapper`` config into bf16 autocast
BF16_AMP = dict(type="AmpOptimWrapper", dtype="bfloat16", loss_scale=dict(enabled=False))


def bf16_wrapper_kwargs() -> dict:
    """``AmpOptimWrapper(optimizer=..., **bf16_wrapper_kwargs())`` as ``p2s train --amp``."""
    return {key: value for key, value in BF16_AMP.items() if key != "type"}
