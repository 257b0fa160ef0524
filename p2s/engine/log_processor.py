"""Validation metrics logged as measured, not smoothed across validations, and only
in the line of the validation that measured them."""

from __future__ import annotations

from mmengine.runner import LogProcessor

from p2s.registry import LOG_PROCESSORS

#: a pattern no key matches
_NOTHING = r"(?!)"


@LOG_PROCESSORS.register_module()
class P2SLogProcessor(LogProcessor):
    """MMEngine's ``LogProcessor``, except that validation and test metrics are the last
    validation's values, and the line of a validation iteration shows none.

    MMEngine averages every key matching ``mean_pattern`` (any name with ``loss`` in it)
    over ``window_size`` entries of its history; for the training loss that is the mean
    over the logging interval, but each validation adds a single ``val/loss``, so the logged
    and TensorBoard validation curve was the mean of up to 50 validations.  ``time`` and
    ``data_time`` stay per-validation means (MMEngine adds them with ``window_size='epoch'``).

    A validation's metrics reach the message hub at its end, so while it runs the hub
    holds the previous validation's, which MMEngine printed in each ``Iter(val)`` line
    as if they were this one's.  Those lines now leave out every metric (an evaluator's
    ``prefix/name`` key); the epoch line after them has this validation's.  Only the text
    log changes: MMEngine writes no scalars for a validation iteration.
    """

    _iteration_line = False

    def get_log_after_iter(self, runner, batch_idx: int, mode: str):
        if mode == "train":
            return super().get_log_after_iter(runner, batch_idx, mode)
        self._iteration_line = True
        try:
            return super().get_log_after_iter(runner, batch_idx, mode)
        finally:
            self._iteration_line = False

    def _collect_scalars(self, custom_cfg, runner, mode, reserve_prefix=False):
        if mode == "train":
            return super()._collect_scalars(custom_cfg, runner, mode, reserve_prefix)
        pattern, self.mean_pattern = self.mean_pattern, _NOTHING
        try:
            tag = super()._collect_scalars(custom_cfg, runner, mode, reserve_prefix)
        finally:
            self.mean_pattern = pattern
        if self._iteration_line:
            for key in [k for k in tag if "/" in (self._remove_prefix(k, f"{mode}/") if reserve_prefix else k)]:
                del tag[key]
        return tag
