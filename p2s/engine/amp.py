"""The bf16 mixed-precision setting of ``p2s train --amp``, on GPUs and CPUs alike.

bf16 keeps float32's exponent range, so its gradients need no loss scaling.  MMEngine's
``AmpOptimWrapper`` is built around float16's GradScaler (by default each step scales the
loss, unscales every gradient in an extra pass and reads the overflow flag back to the
host: a device sync per iteration) and refuses to run without a GPU.  This wrapper is a
plain ``OptimWrapper`` whose forward context is ``torch.autocast`` to bfloat16 on the
model's own device: no scaler, and the same route on a CUDA device and on a CPU (where
oneDNN has bf16 kernels on AVX-512-BF16 and AMX processors; CI runs the route there too).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from p2s.registry import OPTIM_WRAPPERS

#: ``optim_wrapper`` keys that turn a plain ``OptimWrapper`` config into bf16 autocast
BF16_AMP = dict(type="BF16AutocastOptimWrapper")
#: what MMEngine's AmpOptimWrapper added to a checkpoint's optimizer state
_SCALER_KEY = "loss_scaler"


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs the forward pass (``optim_context``) under bf16 autocast
    on the device of the model's parameters; the backward and the step are the plain ones."""

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device, dtype=torch.bfloat16):
            yield

    def load_state_dict(self, state_dict: dict) -> None:
        """The optimizer's state; a checkpoint written under MMEngine's AmpOptimWrapper
        (earlier ``p2s train --amp``) also carries its disabled scaler, which is dropped."""
        super().load_state_dict({key: value for key, value in state_dict.items() if key != _SCALER_KEY})


def use_bf16_autocast(optim_wrapper: MutableMapping) -> None:
    """Turn an ``optim_wrapper`` config into bf16 autocast in place: a single wrapper, or
    each wrapper of a constructor's dict (the GAN's ``generator`` and ``discriminator``)."""
    nested = [value for value in optim_wrapper.values() if isinstance(value, Mapping) and "optimizer" in value]
    if "constructor" in optim_wrapper and nested:
        for wrapper in nested:
            wrapper.update(BF16_AMP)
    else:
        optim_wrapper.update(BF16_AMP)
