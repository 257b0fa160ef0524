"""Training scalars without a host sync per iteration.

MMEngine's ``RuntimeInfoHook`` turns every loss term into a Python float after every
iteration (``MessageHub.update_scalar`` calls ``.item()``), which on a GPU waits for the
step to finish before the next one can be queued.  :class:`DeferredRuntimeInfoHook`
keeps the detached values on the device and hands them to the message hub in one
transfer every ``flush_interval`` iterations (by default the logger's interval), and
always before anything reads them: logging, validation, checkpoints, the end of
training.  The history is the same value by value, only delivered later.

Divergence (``stop_on_nonfinite``): a loss that is NaN or infinite stops the run at that
flush with one line naming the term and the iteration.  Checkpoints flush first, and a
checkpoint whose weights hold a NaN or an infinity is refused as well (the loss lags the
weights by one step: NaN gradients of a finite loss break the weights first).  So a
diverged run never writes a checkpoint from broken weights over a good one.  The loss
check is per process (DDP ranks log their own losses); the weights check runs where the
checkpoint is written.

Config (``configs/_base_/default_runtime.py`` uses it)::

    default_hooks = dict(runtime_info=dict(type='DeferredRuntimeInfoHook'))
"""

from __future__ import annotations

import math

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook

from p2s.registry import HOOKS
from p2s.utils.checkpoint import nonfinite_entries
from p2s.utils.errors import TrainingDivergedError


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` whose per-iteration scalars are moved to the host in batches.

    Args:
        flush_interval: iterations between transfers; ``None`` follows the
            ``LoggerHook`` interval (the first iteration a logger could print).
        stop_on_nonfinite: raise :class:`TrainingDivergedError` when a ``loss*`` value
            is NaN or infinite (checked on the host copy: no extra sync), or when a
            checkpoint's weights are.
    """

    def __init__(self, flush_interval: int | None = None, stop_on_nonfinite: bool = True) -> None:
        super().__init__()
        self.flush_interval = flush_interval
        self.stop_on_nonfinite = stop_on_nonfinite
        #: (iteration, 1-based; its outputs) not yet handed to the message hub
        self._pending: list[tuple[int, dict[str, torch.Tensor | float]]] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.flush_interval is None:
            intervals = [h.interval for h in runner.hooks if isinstance(h, LoggerHook)]
            self.flush_interval = min(intervals) if intervals else 50

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        if outputs:
            self._pending.append(
                (runner.iter + 1, {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in outputs.items()})
            )
        # iteration n + 1 just finished; LoggerHook prints when (n + 1) % interval == 0
        if (runner.iter + 1) % max(int(self.flush_interval), 1) == 0:
            self.flush(runner)

    def flush(self, runner) -> None:
        """Hand every pending value to the message hub, in iteration order."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        tensors = [v for _, row in pending for v in row.values() if isinstance(v, torch.Tensor)]
        if tensors:  # one device-to-host copy (per device) for the whole interval
            host = iter(_host_values(tensors))
        for iteration, row in pending:
            for key, value in row.items():
                scalar = next(host) if isinstance(value, torch.Tensor) else value
                if self.stop_on_nonfinite and key.startswith("loss") and _not_finite(scalar):
                    raise TrainingDivergedError(
                        f"training diverged: {key} is {scalar} at iteration {iteration}; "
                        "no checkpoint was written from it (lower the learning rate or check the data, "
                        "then --resume from the last checkpoint)"
                    )
                runner.message_hub.update_scalar(f"train/{key}", scalar)

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.flush(runner)
        state = checkpoint.get("state_dict")
        broken = nonfinite_entries(state) if self.stop_on_nonfinite and isinstance(state, dict) else []
        if broken:
            raise TrainingDivergedError(
                f"training diverged: the weights hold NaN or infinite values after iteration {_iteration(checkpoint, runner)} "
                f"(e.g. '{broken[0]}'); no checkpoint was written from them (lower the learning rate or "
                "check the data, then --resume from the last checkpoint)"
            )

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)


def _host_values(tensors: list[torch.Tensor]) -> list[float]:
    """The values of one-element tensors, one copy per device: a model may log a CPU
    scalar next to its CUDA losses, and a stack across devices fails."""
    values = [0.0] * len(tensors)
    for device in dict.fromkeys(t.device for t in tensors):
        index = [i for i, t in enumerate(tensors) if t.device == device]
        stacked = torch.stack([tensors[i].float().reshape(()) for i in index])
        for i, value in zip(index, stacked.tolist()):  # tolist copies a device tensor to the host
            values[i] = value
    return values


def _not_finite(value) -> bool:
    return isinstance(value, (int, float)) and not math.isfinite(value)


def _iteration(checkpoint: dict, runner) -> int:
    """The iteration a checkpoint is saved after (MMEngine writes it into ``meta``)."""
    meta = checkpoint.get("meta")
    return int(meta["iter"]) if isinstance(meta, dict) and "iter" in meta else runner.iter
