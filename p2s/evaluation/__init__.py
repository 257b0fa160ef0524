"""Metrics (registry ``METRICS``)."""

from p2s.evaluation.loss_metric import LossMetric

__all__ = ["LossMetric"]
