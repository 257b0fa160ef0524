"""Save and restore random-number state with checkpoints.

MMEngine re-seeds on resume but does not restore where the random streams were, so a
resumed run would draw different generator noise than an uninterrupted one.  This hook
stores the Python, NumPy and torch (CPU and CUDA) states in every checkpoint, as plain
tensors and tuples that ``torch.load(weights_only=True)`` accepts, and restores them on
``--resume``.  Validation leaves them as it found them.  Data augmentation does not
depend on these streams (``PositionedInfiniteSampler`` seeds each draw by its position).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook

from p2s.registry import HOOKS


def capture_rng_state() -> dict:
    """The current random states, in weights_only-safe types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back a state made by :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Checkpoints carry ``rng_state``; resuming restores it (see module docstring)."""

    priority = "VERY_LOW"

    def __init__(self) -> None:
        self._training_rng: dict | None = None

    def before_val(self, runner) -> None:
        self._training_rng = capture_rng_state()

    def after_val(self, runner) -> None:
        """Validation draws from the streams too (its loader's seed, noise): put them
        back, so training continues as if it had not run.  A checkpoint written before
        validation then resumes exactly, and ``val_interval`` does not change training."""
        if self._training_rng is not None:
            restore_rng_state(self._training_rng)
            self._training_rng = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """A checkpoint written during validation (MMEngine writes the last one again
        after a new best score) records the streams as training left them."""
        during_validation = self._training_rng
        checkpoint["rng_state"] = during_validation if during_validation is not None else capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if "rng_state" in checkpoint and runner._resume:
            restore_rng_state(checkpoint["rng_state"])
