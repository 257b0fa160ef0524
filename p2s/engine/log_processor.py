"""Validation metrics logged as measured, not smoothed across validations."""

from __future__ import annotations

from mmengine.runner import LogProcessor

from p2s.registry import LOG_PROCESSORS

#: a pattern no key matches
_NOTHING = r"(?!)"


@LOG_PROCESSORS.register_module()
class P2SLogProcessor(LogProcessor):
    """MMEngine's ``LogProcessor``, except that validation and test metrics are the last
    validation's values.

    MMEngine averages every key matching ``mean_pattern`` (any name with ``loss`` in it)
    over ``window_size`` entries of its history; for the training loss that is the mean
    over the logging interval, but each validation adds a single ``val/loss``, so the logged
    and TensorBoard validation curve was the mean of up to 50 validations.  ``time`` and
    ``data_time`` stay per-validation means (MMEngine adds them with ``window_size='epoch'``).
    """

    def _collect_scalars(self, custom_cfg, runner, mode, reserve_prefix=False):
        if mode == "train":
            return super()._collect_scalars(custom_cfg, runner, mode, reserve_prefix)
        pattern, self.mean_pattern = self.mean_pattern, _NOTHING
        try:
            return super()._collect_scalars(custom_cfg, runner, mode, reserve_prefix)
        finally:
            self.mean_pattern = pattern
