"""Folder-level evaluation: predictions and targets paired by file stem, every metric
on every pair, and the summary ``p2s evaluate`` prints and writes as JSON."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2s.datasets.folders import IMAGE_SUFFIXES, by_stem, open_rgb
from p2s.evaluation.metrics import MetricFn
from p2s.utils.errors import P2SError


def list_images(folder: str | Path, role: str = "folder") -> dict[str, Path]:
    """Stem -> image file directly in ``folder`` (sorted by name); duplicate stems are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise P2SError(f"{role} folder '{folder}' does not exist")
    files = (p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return by_stem(files, role, folder)


@dataclass
class Pairing:
    """Images matched by stem, and the stems found on one side only."""

    pairs: list[tuple[str, Path, Path]]
    pred_only: list[str] = field(default_factory=list)
    target_only: list[str] = field(default_factory=list)


def pair_by_stem(pred_dir: str | Path, target_dir: str | Path) -> Pairing:
    """Match ``pred_dir/<stem>.*`` with ``target_dir/<stem>.*``; error if nothing pairs."""
    preds = list_images(pred_dir, "pred")
    targets = list_images(target_dir, "target")
    common = sorted(set(preds) & set(targets))
    if not common:
        raise P2SError(
            f"no image stem is in both '{pred_dir}' ({len(preds)} images) and '{target_dir}' "
            f"({len(targets)} images); files pair by name without extension"
        )
    return Pairing(
        pairs=[(stem, preds[stem], targets[stem]) for stem in common],
        pred_only=sorted(set(preds) - set(targets)),
        target_only=sorted(set(targets) - set(preds)),
    )


def _to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def _open_side(side: str, path: str | Path) -> Image.Image:
    try:
        return open_rgb(Path(path))
    except P2SError as err:
        raise P2SError(f"{side} {err}") from None


def load_pair(
    pred_path: str | Path, target_path: str | Path, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as ``[1, 3, H, W]`` in ``[0, 1]``; the prediction is resized (bicubic)
    to the target's size when they differ, or with ``size`` both are resized (bilinear)
    to ``size`` x ``size`` first, as pSp's metric script does at 256. An unusable file is
    a :class:`P2SError` naming its side (``pred a.png: ...``): both sides often hold the
    same file name."""
    pred, target = (_open_side(side, path) for side, path in (("pred", pred_path), ("target", target_path)))
    if size is not None:
        pred, target = (im.resize((size, size), Image.Resampling.BILINEAR) for im in (pred, target))
    elif pred.size != target.size:
        pred = pred.resize(target.size, Image.Resampling.BICUBIC)
    return _to_tensor(pred), _to_tensor(target)


@dataclass
class MetricSummary:
    """Per-image values of one metric, with their mean and (population) standard deviation."""

    per_image: dict[str, float]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_image.values()))) if self.per_image else math.nan

    @property
    def std(self) -> float:
        values = np.asarray(list(self.per_image.values()), dtype=np.float64)
        if values.size == 0:
            return math.nan
        if np.isinf(values).any():  # e.g. PSNR with identical pairs: spread is undefined
            return 0.0 if np.all(values == values[0]) else math.nan
        return float(values.std())


def evaluate_pairs(
    pairs: Sequence[tuple[str, Path, Path]],
    metrics: dict[str, MetricFn],
    device: str | torch.device = "cpu",
    on_error: Callable[[str, str], None] | None = None,
    on_pair: Callable[[str], None] | None = None,
    size: int | None = None,
) -> dict[str, MetricSummary]:
    """Every metric on every ``(stem, pred path, target path)``; a pair that cannot be read
    or measured (an image too small for SSIM's window, say) goes to ``on_error(stem,
    message)`` and is left out of every metric, so all of them cover the same pairs.
    ``size``: compare both images resized to ``size`` x ``size`` (see :func:`load_pair`)."""
    results = {name: MetricSummary({}) for name in metrics}
    for stem, pred_path, target_path in pairs:
        try:
            pred, target = load_pair(pred_path, target_path, size)
            pred, target = pred.to(device), target.to(device)
            try:
                values = {name: float(fn(pred, target)[0]) for name, fn in metrics.items()}
            except P2SError as err:
                raise P2SError(f"{pred_path.name}: {err}") from None
        except P2SError as err:
            if on_error is not None:
                on_error(stem, str(err))
        else:
            for name, value in values.items():
                results[name].per_image[stem] = value
        if on_pair is not None:
            on_pair(stem)
    return results


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summary_json(results: dict[str, MetricSummary], pairs: int, size: int | None = None) -> dict:
    """``{metric: {mean, std, per_image: {stem: value}}, pairs: N}`` (and ``size`` when the
    images were compared resized); non-finite numbers (PSNR of identical images is
    ``+inf``) become ``null``."""
    data: dict = {}
    for name, summary in results.items():
        data[name] = {
            "mean": _json_number(summary.mean),
            "std": _json_number(summary.std),
            "per_image": {stem: _json_number(v) for stem, v in summary.per_image.items()},
        }
    data["pairs"] = pairs
    if size is not None:
        data["size"] = size
    return data
