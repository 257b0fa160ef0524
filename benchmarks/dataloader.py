"""Does training data loading keep up?  Samples / s of a config's train dataloader.

The config's own ``train_dataloader`` (dataset, task pre-processing and augmentation,
sampler, collate, pinned memory) is built as ``p2s train`` builds it, over synthetic
1024-px files written to a temporary folder (faces as PNG, as FFHQ ships them; sketches
and label maps for the paired tasks), once per ``--workers`` value.  The first batch
(worker start-up) is not timed.  Files come from the page cache, so a cold disk is
slower; one worker per core is the most a machine gives.  ``--cache`` also measures the
same loader over ``p2s data cache``'s copy (the files resized once to the task's size).

    python benchmarks/dataloader.py --workers 0 1 2 --cache
    python benchmarks/dataloader.py --configs configs/psp/psp_irse50_sketch2face_celebahq-1024.py --workers 4 8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

import p2s.registry  # noqa: F401  (registers the p2s datasets, samplers and tasks)
from common import Table, machine
from p2s.datasets.cache import cache_dataset
from p2s.synthfaces.generate import render_sample
from translate_files import photo_like

DEFAULT_CONFIGS = [
    "configs/psp/psp_irse50_inversion_ffhq-1024.py",
    "configs/psp/psp_irse50_superres_celebahq-1024.py",
    "configs/psp/psp_irse50_sketch2face_celebahq-1024.py",
    "configs/psp/psp_irse50_seg2face_celebamaskhq-1024.py",
]
ROOT = Path(__file__).resolve().parents[1]


def write_files(folder: Path, count: int) -> dict[str, Path]:
    """``faces/``, ``sketches/`` and ``labels/`` with ``count`` 1024-px files each."""
    roots = {kind: folder / kind for kind in ("faces", "sketches", "labels")}
    for root in roots.values():
        root.mkdir(parents=True)
    for k in range(count):
        sample = render_sample(0, k, 256)
        Image.fromarray(photo_like(k)).save(roots["faces"] / f"{k:05d}.png")
        Image.fromarray(sample["sketch"]).resize((1024, 1024), Image.BICUBIC).save(roots["sketches"] / f"{k:05d}.png")
        Image.fromarray(sample["label"]).resize((1024, 1024), Image.NEAREST).save(roots["labels"] / f"{k:05d}.png")
    return roots


def point_at(dataset: dict, roots: dict[str, Path]) -> str:
    """Aim the dataset config at the synthetic files; returns what the sources are."""
    task = dataset["task"]["type"]
    if "root" in dataset:
        dataset["root"] = str(roots["faces"])
        return "faces"
    source = {"Sketch2Face": "sketches", "Seg2Face": "labels"}.get(task, "faces")
    dataset["source_root"], dataset["target_root"] = str(roots[source]), str(roots["faces"])
    return source


def samples_per_s(loader_cfg: dict, batches: int) -> float:
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batch_size = loader_cfg["batch_size"]
    iterator = iter(loader)
    next(iterator)  # worker start-up
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batches", type=int, default=8, help="timed batches per measurement")
    parser.add_argument("--files", type=int, default=32, help="distinct files of each kind")
    parser.add_argument("--cache", action="store_true", help="also measure the p2s data cache copy")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    init_default_scope("p2s")
    meta = dict(machine=machine(), torch=torch.__version__, cpus=os.cpu_count(),
                files=args.files, batches=args.batches, numpy=np.__version__)
    table = Table(f"train data loading, {meta['machine']}, 1024-px PNG files ({meta['cpus']} CPUs)",
                  ["config", "sources", "files", "batch", "workers", "pin_memory", "samples_per_s"], args.json, meta)
    with tempfile.TemporaryDirectory(prefix="p2s_loader_") as tmp:
        roots = write_files(Path(tmp), args.files)
        for number, config in enumerate(args.configs):
            cfg = Config.fromfile(ROOT / config if not Path(config).is_absolute() else config)
            base = cfg.train_dataloader.to_dict()
            source = point_at(base["dataset"], roots)
            datasets = {"1024 px": base["dataset"]}
            if args.cache:
                datasets["cached"] = cache_dataset(base["dataset"], Path(tmp) / f"cache{number}", check=2)
            for files, dataset in datasets.items():
                for workers in args.workers:
                    loader_cfg = dict(base, dataset=dataset, num_workers=workers, persistent_workers=workers > 0)
                    table.add(dict(config=Path(config).stem, sources=source, files=files,
                                   batch=loader_cfg["batch_size"], workers=workers,
                                   pin_memory=loader_cfg.get("pin_memory", False),
                                   samples_per_s=samples_per_s(loader_cfg, args.batches)))
    table.close()

if __name__ == "__main__":
    main()
