"""A training set resized once to the task's size, so the loader stops decoding 1024 px.

Every shipped task resizes its target (to RGB) and its source (to the task's mode) to
``image_size`` before anything else happens to them, so those resized images, stored
losslessly, give the same training samples: on reading, the conversion and the resize
are no-ops.  Decoding a 1024-px PNG is two thirds of a sample's loading cost
(benchmarks/dataloader.py), so a cached set loads several times faster.  The cache is
checked against the original, sample for sample, before it is used; a task that works
on full-size images first fails the check and nothing is left behind.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from p2s.datasets.folders import ImageFolderDataset, PairedImageDataset, read_image
from p2s.datasets.transforms.official import pil_resize
from p2s.registry import DATASETS
from p2s.utils.build import build, config_class
from p2s.utils.errors import P2SError

#: fast lossless writes; the level never changes the pixels
CACHE_PNG_LEVEL = 1


def check_cacheable(dataset_cfg: dict) -> None:
    """Only the task datasets' image folders have a cached form (a GAN config's do not)."""
    cls = config_class(DATASETS, dataset_cfg)
    if not (isinstance(cls, type) and issubclass(cls, (ImageFolderDataset, PairedImageDataset))):
        name = getattr(cls, "__name__", None) or dataset_cfg.get("type")
        raise P2SError(f"p2s data cache copies the image folders of pSp task datasets (ImageFolderDataset, "
                       f"PairedImageDataset); this config's is a {name}")


def _jobs(dataset, out: Path) -> list[tuple[Path, Path, str]]:
    """``(original, cached, PIL mode)`` for every file the dataset reads."""
    source_mode = dataset.task.source_mode
    if isinstance(dataset, ImageFolderDataset):
        jobs = [(path, out / "targets" / f"{path.stem}.png", "RGB") for path in dataset.files]
    elif isinstance(dataset, PairedImageDataset):
        jobs = [job for source, target in dataset.pairs for job in (
            (source, out / "sources" / f"{source.stem}.png", source_mode),
            (target, out / "targets" / f"{target.stem}.png", "RGB"))]
    else:
        raise P2SError(f"p2s data cache reads ImageFolderDataset and PairedImageDataset, "
                       f"not {type(dataset).__name__}")
    seen: dict[Path, Path] = {}
    for original, cached, _ in jobs:
        if cached in seen:
            raise P2SError(f"'{seen[cached].name}' and '{original.name}' would both be cached as {cached.name}")
        seen[cached] = original
    return jobs


def _cached_config(dataset_cfg: dict, out: Path) -> dict:
    cfg = copy.deepcopy(dataset_cfg)
    if "root" in cfg:
        cfg["root"] = str(out / "targets")
    else:
        cfg["source_root"], cfg["target_root"] = str(out / "sources"), str(out / "targets")
    return cfg


def _resize_one(job: tuple[Path, Path, str], size: int) -> None:
    original, cached, mode = job
    image = pil_resize(read_image(original).convert(mode), size)
    image.save(cached, format="PNG", compress_level=CACHE_PNG_LEVEL)


def _same_sample(a: dict, b: dict) -> bool:
    if a["data_samples"]["stem"] != b["data_samples"]["stem"]:
        return False
    return torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["data_samples"]["target"],
                                                                   b["data_samples"]["target"])


def cache_dataset(
    dataset_cfg: dict,
    out: Path,
    workers: int = 4,
    check: int = 16,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``out/targets`` (and ``out/sources``) at the task's ``image_size``; returns
    the dataset config that reads them.  The first ``check`` samples (with the same
    augmentation draws) must equal the original's, or ``out`` is removed and an error
    says why.  ``out`` must not exist yet.  ``on_progress(done, total)`` follows the files."""
    if out.exists():
        raise P2SError(f"cache folder '{out}' already exists; remove it or choose another --output")
    if not 0 <= check:
        raise P2SError(f"--check must be 0 or more, got {check}")
    check_cacheable(dataset_cfg)
    original = build(DATASETS, dataset_cfg)
    jobs = _jobs(original, out)
    size = original.task.image_size
    try:
        for folder in {cached.parent for _, cached, _ in jobs}:
            folder.mkdir(parents=True)
        with ThreadPoolExecutor(max(workers, 1)) as pool:
            for done, _ in enumerate(pool.map(lambda job: _resize_one(job, size), jobs), start=1):
                if on_progress:
                    on_progress(done, len(jobs))
        cached_cfg = _cached_config(dataset_cfg, out)
        cached = build(DATASETS, cached_cfg)
        for index in np.linspace(0, len(original) - 1, min(check, len(original))).round().astype(int):
            key = (int(index), int(index) + 7)  # as the infinite sampler draws: (index, position)
            want = original[key]
            if not _same_sample(want, cached[key]):
                raise P2SError(
                    f"cached sample {index} ('{want['data_samples']['stem']}') differs from the original: task "
                    f"'{original.task.name}' changes images before resizing them, so it cannot train from a cache"
                )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return cached_cfg

