"""The whole ``p2s train`` loop: iterations / s with data loading, hooks and logging in it.

``train_step.py`` times the model's step on tensors already on the device.  This runs the
FFHQ inversion config through ``p2s train`` itself (MMEngine's Runner, the config's own
dataloader over synthetic 1024-px PNG faces, every default hook, the deferred loss
logging) with random weights at the real sizes, and reads MMEngine's own per-iteration
``time`` and ``data_time`` from the run's scalars (means per logging interval; the first
interval, with worker start-up and cuDNN's first calls, is left out).  ``data_time`` near
zero says the loader keeps up.  ``tf32`` is a plain ``p2s train`` on a GPU (PyTorch's
defaults: cuDNN convolutions in TF32), ``bf16`` is ``p2s train --amp``.

    python benchmarks/train_loop.py --device cuda --precisions tf32 bf16 --iterations 60
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

from common import Table, machine
from translate_files import photo_like
from p2s.engine.compiled_loss import TRAINING_COMPILE_MODES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
#: random weights for every network the config names a file for (nothing to download)
RANDOM_WEIGHTS = [
    "model.encoder.backbone.weights=None", "model.generator.weights=None",
    "model.losses.lpips.random_backbone=True", "model.losses.id.weights=None", "model.losses.id.random_init=True",
]
#: narrow layers of the same architecture, for the benchmarks' smoke test only
TINY_CONFIG = """_base_ = [{base!r}]
model = dict(encoder=dict(backbone=dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16))),
             generator=dict(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1),
             losses=dict(id=dict(network=dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16)))))
"""


def write_faces(folder: Path, count: int, size: int) -> Path:
    """``count`` PNG faces at ``size`` px (eight distinct ones, repeated), as FFHQ ships them."""
    folder.mkdir(parents=True)
    distinct = [Image.fromarray(photo_like(k, size)) for k in range(min(count, 8))]
    for k in range(count):
        distinct[k % len(distinct)].save(folder / f"{k:05d}.png")
    return folder


def overrides(args: argparse.Namespace, faces: Path) -> list[str]:
    """``p2s train`` KEY=VALUE settings: the synthetic data, no validation or checkpoint,
    scalars averaged per logging interval."""
    interval = args.log_interval
    settings = [
        f"train_dataloader.dataset.root={faces}", f"val_dataloader.dataset.root={faces}",
        "val_dataloader.dataset.max_samples=8",
        f"train_dataloader.batch_size={args.batch}", f"train_dataloader.num_workers={args.workers}",
        f"train_dataloader.persistent_workers={args.workers > 0}",
        # no validation (and so no best checkpoint) at the end either: the run ends with its last interval
        f"train_cfg.max_iters={args.iterations}", f"train_cfg.val_begin={args.iterations + 1}",
        f"default_hooks.checkpoint.interval={10 * args.iterations}", "default_hooks.checkpoint.save_last=False",
        f"default_hooks.logger.interval={interval}", f"log_processor.window_size={interval}",
        f"env_cfg.cudnn_benchmark={args.cudnn_benchmark}",
    ]
    return settings + RANDOM_WEIGHTS


def intervals(work_dir: Path) -> list[dict]:
    """The training rows of the run's scalars (one per logging interval)."""
    files = sorted(work_dir.glob("*/vis_data/scalars.json"))
    if not files:
        return []
    rows = [json.loads(line) for line in files[-1].read_text().splitlines()]
    return [row for row in rows if "time" in row and "data_time" in row and "loss" in row]


def run(args: argparse.Namespace, config: Path, precision: str, faces: Path, work_dir: Path) -> dict:
    command = [sys.executable, "-m", "p2s", "train", str(config), *overrides(args, faces), "--work-dir", str(work_dir)]
    if precision == "bf16":
        command.append("--amp")
    if args.compile != "none":
        command += ["--compile", args.compile]
    env = dict(os.environ)
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # MMEngine trains on a GPU whenever it sees one
    stopped = None
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.run_timeout)
    except subprocess.TimeoutExpired:  # the run is killed (it must not hold the GPU for the next stage);
        stopped = f"stopped after {args.run_timeout} s"  # the intervals it logged still count
    else:
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
            return dict(error=" / ".join(tail)[:300])
    timed = intervals(work_dir)[1:]  # the first interval holds the start-up
    if not timed:
        return dict(error=stopped or f"no timed logging interval: raise --iterations above {2 * args.log_interval}")
    seconds = statistics.median(row["time"] for row in timed)
    measured = dict(it_per_s=1 / seconds, images_per_s=args.batch / seconds, iter_ms=seconds * 1e3,
                    data_ms=statistics.median(row["data_time"] for row in timed) * 1e3, intervals=len(timed))
    return measured if stopped is None else dict(measured, error=f"{stopped}: the intervals logged before")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precisions", nargs="+", default=["tf32", "bf16"], choices=["tf32", "bf16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8, help="dataloader workers (the config's own: 8)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--images", type=int, default=64, help="PNG faces in the synthetic training folder")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="env_cfg.cudnn_benchmark=True")
    parser.add_argument("--compile", default="none", choices=TRAINING_COMPILE_MODES,
                        help="p2s train --compile (the first logging interval, left out, holds the compilation)")
    parser.add_argument("--run-timeout", type=float, default=600, help="seconds one p2s train run may take")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # narrow layers: smoke tests only
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # a stage's `timeout` sends SIGTERM: exit through Python, so subprocess.run kills the run too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    meta = dict(machine=machine(), torch=torch.__version__, device=args.device, config=CONFIG.name,
                batch=args.batch, workers=args.workers, iterations=args.iterations,
                cudnn_benchmark=args.cudnn_benchmark, compile=args.compile, tiny=args.tiny)
    size = 64 if args.tiny else 1024
    table = Table(f"p2s train loop (inversion recipe), {meta['machine']}, {size}-px PNG faces",
                  ["precision", "batch", "workers", "it_per_s", "images_per_s", "iter_ms", "data_ms", "intervals"],
                  args.json, meta)
    with tempfile.TemporaryDirectory(prefix="p2s_train_loop_") as tmp:
        faces = write_faces(Path(tmp) / "faces", args.images, size)
        config = CONFIG
        if args.tiny:
            config = Path(tmp) / "tiny.py"
            config.write_text(TINY_CONFIG.format(base=str(CONFIG)))
        for precision in args.precisions:
            row = run(args, config, precision, faces, Path(tmp) / f"work_{precision}")
            table.add(dict(precision=precision, batch=args.batch, workers=args.workers, **row))
    table.close()


if __name__ == "__main__":
    main()
