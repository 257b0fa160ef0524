"""``p2s train --compile``: the training forward through ``torch.compile``.

Only the model's ``loss`` is compiled: the encoder, the generator and the loss networks'
forward become one graph, and AOTAutograd compiles its backward with it, so inductor
fuses the elementwise work that eager PyTorch runs one kernel at a time (on an H200 the
bf16 training step's floor is about 330 images/s eager and 800 with the products alone,
benchmarks/roofline.py --mode train).  MMEngine's loop, the optimizer and the hooks stay
eager: MMEngine's own ``compile`` setting wraps ``train_step``, whose backward and
optimizer step would break the graph anyway.
"""

from __future__ import annotations

from mmengine.model import BaseModel, is_model_wrapper
from torch import nn

from p2s.utils.compiling import check_compile_mode, compiled
from p2s.utils.errors import P2SError

#: reduce-overhead is left out: its CUDA graphs would overwrite a step's outputs (the
#: logged loss terms, the visuals a hook draws) when the next step replays them
TRAINING_COMPILE_MODES = ("none", "default", "max-autotune")


def compile_training_loss(model: nn.Module, mode: str, backend: str = "inductor") -> None:
    """Replace ``model.loss`` (or a wrapped model's) by its compiled version, in place."""
    check_compile_mode(mode, TRAINING_COMPILE_MODES)
    if mode == "none":
        return
    inner = model.module if is_model_wrapper(model) else model
    trains_through_loss = type(inner).train_step is BaseModel.train_step and callable(getattr(inner, "loss", None))
    if not trains_through_loss:
        raise P2SError(f"--compile compiles a model's loss(), and {type(inner).__name__} trains through its own "
                       "train_step; train it without --compile")
    inner.loss = compiled(inner.loss, mode, backend)
