"""Validation loss as an MMEngine metric (so ``save_best`` can use it)."""

from __future__ import annotations

from collections.abc import Sequence

from mmengine.evaluator import BaseMetric

from p2s.registry import METRICS


@METRICS.register_module()
class LossMetric(BaseMetric):
    """Sample-weighted mean of the loss terms ``PSP.val_step`` returns (``val/loss``,
    ``val/loss_l2``, ...); lower is better."""

    default_prefix = "val"

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append((sample["losses"], sample["batch_size"]))

    def compute_metrics(self, results: list) -> dict[str, float]:
        total = sum(size for _, size in results)
        names = results[0][0].keys() if results else []
        return {name: sum(values[name] * size for values, size in results) / total for name in names}
