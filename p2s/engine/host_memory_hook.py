"""Bound the freed host memory a CPU training run keeps for reuse.

``p2s train`` on a machine without a GPU keeps freed memory in the process
(:mod:`p2s.utils.host_memory`): the step's activations then cost no page faults.  This
hook checks after every iteration (train, validation, test) that what the process holds
beyond its live tensors stays within the budget, and hands the excess back otherwise.
It does nothing where the reuse is off (beside a GPU, ``P2S_REUSE_HOST_MEMORY=0``).
"""

from __future__ import annotations

from mmengine.hooks import Hook

from p2s.registry import HOOKS
from p2s.utils.host_memory import trim_excess_freed_memory


@HOOKS.register_module()
class HostMemoryTrimHook(Hook):
    """``budget_mb``: freed memory the process may keep resident, in MiB (``None``: a
    quarter of the machine's memory)."""

    priority = "LOWEST"

    def __init__(self, budget_mb: int | None = None) -> None:
        if budget_mb is not None and (isinstance(budget_mb, bool) or not isinstance(budget_mb, int)
                                      or budget_mb < 0):
            raise ValueError(f"budget_mb must be an integer >= 0 or None, got {budget_mb!r}")
        self.budget_bytes = None if budget_mb is None else budget_mb * 2**20
        self.trims = 0

    def _check(self) -> None:
        self.trims += trim_excess_freed_memory(self.budget_bytes)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check()

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check()

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check()
