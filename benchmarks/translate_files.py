"""Throughput of ``p2s translate`` on files: reading, writing, and the whole pipeline.

At 1024 px a PNG takes longer to compress than a GPU takes to generate a batch, so the
file work, not the model, sets the pace of a folder translation unless it runs on
worker threads beside the model (``--workers``) at a fast zlib level
(``--png-compression``).  Rows:

- ``read``: open a 1024-px input and pre-process it to the encoder's 256-px batch entry
  (what ``load_batches`` does per file), images / s over ``workers`` threads;
- ``write``: compress and atomically write a 1024-px output PNG at each level;
- ``translate_files``: the whole ``p2s translate`` path with the real-size random-weight
  model (IR-SE50 encoder, 1024 StyleGAN2) against ``model only`` (the same batches as
  prepared tensors, no files), when ``--pipeline-images`` > 0 (default: 256 on CUDA).

Inputs are synthetic faces rendered at 256 px, enlarged to 1024 px with a little noise,
so they compress about as well as photographs (about 1.4 MB at Pillow's default level).

    python benchmarks/translate_files.py --workers 0 2
    python benchmarks/translate_files.py --device cuda --workers 0 4 8 16 --batch 32
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import Table, add_model_arguments, machine, sync
from translate import translator
from p2s.apis.files import translate_files
from p2s.utils.atomic import save_png
from p2s.synthfaces.generate import render_sample
from p2s.tasks import Inversion


def photo_like(index: int, size: int = 1024) -> np.ndarray:
    """A synthetic face at ``size`` px with photographic grain (sigma 2 levels)."""
    face = Image.fromarray(render_sample(0, index, 256)["image"]).resize((size, size), Image.BICUBIC)
    grain = np.random.default_rng(index).normal(0, 2, (size, size, 3))
    return np.clip(np.asarray(face, np.float32) + grain, 0, 255).astype(np.uint8)


def write_inputs(folder: Path, count: int, suffix: str) -> list[Path]:
    distinct = [photo_like(k) for k in range(min(count, 8))]
    paths = []
    for k in range(count):
        path = folder / f"{k:05d}{suffix}"
        Image.fromarray(distinct[k % len(distinct)]).save(path, quality=95)
        paths.append(path)
    return paths


def rate(fn, items: list, workers: int) -> float:
    """Items per second of ``fn`` over ``items`` on ``workers`` threads (0: inline)."""
    start = time.perf_counter()
    if workers == 0:
        for item in items:
            fn(item)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fn, items))
    return len(items) / (time.perf_counter() - start)


def add_file_rows(table: Table, inputs: list[Path], out: Path, workers_list: list[int], levels: list[int]) -> None:
    task = Inversion()
    for workers in workers_list:
        per_s = rate(lambda p: task.prepare_source(task.load_source(p)), inputs, workers)
        table.add(dict(stage="read", workers=workers, png_level="-", images_per_s=per_s, mb_per_image="-"))
    outputs = [photo_like(100 + k) for k in range(8)]
    for level in levels:
        for workers in workers_list:
            jobs = [(outputs[k % len(outputs)], out / f"{k:05d}.png") for k in range(len(inputs))]
            per_s = rate(lambda job: save_png(job[0], job[1], level), jobs, workers)
            size = np.mean([job[1].stat().st_size for job in jobs]) / 1e6
            table.add(dict(stage="write", workers=workers, png_level=level, images_per_s=per_s, mb_per_image=size))


def add_pipeline_rows(table: Table, inputs: list[Path], out: Path, args: argparse.Namespace) -> None:
    t = translator(args.resolution, args.device, args.precision, True, "none", args.tiny)
    device = torch.device(args.device)
    sources = torch.randn(args.batch, 3, 256, 256)
    for _ in range(2):
        t.translate(sources).to_uint8()
    sync(device)
    start = time.perf_counter()
    batches = -(-len(inputs) // args.batch)
    for _ in range(batches):
        t.translate(sources).to_uint8()  # the device-to-host copy of the uint8 images included
    sync(device)
    table.add(dict(stage="model only", workers="-", png_level="-",
                   images_per_s=batches * args.batch / (time.perf_counter() - start), mb_per_image="-"))
    for workers in args.workers:
        for level in args.levels:
            shutil.rmtree(out, ignore_errors=True)
            result = translate_files(t, inputs, out, batch_size=args.batch, workers=workers, compress_level=level)
            table.add(dict(stage="translate_files", workers=workers, png_level=level,
                           images_per_s=result.images / result.seconds, mb_per_image="-"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--levels", type=int, nargs="+", default=[6, 1])
    parser.add_argument("--images", type=int, default=32, help="files per read / write measurement")
    parser.add_argument("--input-format", default="jpg", choices=["jpg", "png"])
    parser.add_argument("--pipeline-images", type=int, default=None,
                        help="inputs of the whole-pipeline rows (default: 256 on CUDA, none on CPU)")
    parser.add_argument("--batch", type=int, default=32)
    add_model_arguments(parser)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pipeline_images = args.pipeline_images if args.pipeline_images is not None else (
        256 if args.device.startswith("cuda") else 0)
    meta = dict(machine=machine(), device=args.device, torch=torch.__version__, input_format=args.input_format,
                batch=args.batch, precision=args.precision, resolution=args.resolution,
                cpu_threads=torch.get_num_threads(), tiny=args.tiny)
    title = (f"p2s translate on files, {meta['machine']}: 1024-px {args.input_format} inputs, 1024-px PNG writes"
             + (f", pipeline at {args.resolution} px, batch {args.batch}, {args.precision}" if pipeline_images else ""))
    table = Table(title, ["stage", "workers", "png_level", "images_per_s", "mb_per_image"], args.json, meta)
    with tempfile.TemporaryDirectory(prefix="p2s_bench_") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        inputs = write_inputs(tmp / "in", max(args.images, pipeline_images), f".{args.input_format}")
        add_file_rows(table, inputs[: args.images], tmp / "written", args.workers, args.levels)
        if pipeline_images:
            add_pipeline_rows(table, inputs[:pipeline_images], tmp / "translated", args)
    table.close()

if __name__ == "__main__":
    main()
