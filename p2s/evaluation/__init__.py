"""Metrics: the validation ``LossMetric`` (registry ``METRICS``) and image-quality metrics
(MSE, PSNR, SSIM, LPIPS, identity similarity) used by ``p2s evaluate``, which pairs folders by stem (:mod:`p2s.evaluation.pairs`)."""

from p2s.evaluation.loss_metric import LossMetric
from p2s.evaluation.metrics import (
    METRIC_NAMES,
    IDSimilarity,
    LPIPSMetric,
    build_metrics,
    id_similarity,
    l2,
    lpips,
    mse,
    parse_metric_names,
    psnr,
    ssim,
)
from p2s.evaluation.pairs import MetricSummary, Pairing, evaluate_pairs, load_pair, pair_by_stem, summary_json

__all__ = [
    "METRIC_NAMES",
    "IDSimilarity",
    "LPIPSMetric",
    "LossMetric",
    "MetricSummary",
    "Pairing",
    "build_metrics",
    "evaluate_pairs",
    "id_similarity",
    "l2",
    "load_pair",
    "lpips",
    "mse",
    "pair_by_stem",
    "parse_metric_names",
    "psnr",
    "ssim",
    "summary_json",
]
