"""Metrics: the validation ``LossMetric`` (registry ``METRICS``) and image-quality metrics
(MSE, PSNR, SSIM, LPIPS, identity similarity) used by ``p2s evaluate``."""

from p2s.evaluation.loss_metric import LossMetric
from p2s.evaluation.metrics import (
    METRIC_NAMES,
    IDSimilarity,
    LPIPSMetric,
    MetricSummary,
    Pairing,
    build_metrics,
    evaluate_pairs,
    id_similarity,
    load_pair,
    lpips,
    mse,
    pair_by_stem,
    parse_metric_names,
    psnr,
    ssim,
    summary_json,
)

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
    "load_pair",
    "lpips",
    "mse",
    "pair_by_stem",
    "parse_metric_names",
    "psnr",
    "ssim",
    "summary_json",
]
