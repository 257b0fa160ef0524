"""Inference throughput and latency of a pSp model (encoder + generator).

Random weights at real sizes (IR-SE50 GradualStyleEncoder, StyleGAN2 at --resolution),
through ``p2s.apis.Translator`` so the measured path is the one ``p2s translate`` runs.

    python benchmarks/translate.py --device cuda --batch-sizes 1 8 32 64 --precisions fp32 tf32 bf16
    python benchmarks/translate.py --device cpu --batch-sizes 1 2 --resolution 1024
    python benchmarks/translate.py --device cuda --batch-sizes 1 32 --precisions bf16 --cuda-graphs

``mean_abs_error_vs_fp32``: mean absolute difference of a fixed 2-image probe's outputs
from the fp32 ones (images in [0, 1]; list fp32 first to get it).  ``max_abs_diff_vs_eager``:
with ``--compile`` or ``--cuda-graphs``, the largest difference of the probe's images from the
eager model's at the same precision (0 where the fast path runs the same kernels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common import (Table, add_model_arguments, failure, machine, measured, median, peak_memory_mib, psp_parts,
                    reset_peak, time_call)
from p2s.apis.translator import Translator
from p2s.models import PSP
from p2s.tasks import Inversion


def translator(resolution: int, device: str, precision: str, channels_last: bool, compile_mode: str,
               tiny: bool = False, cuda_graphs: bool = False) -> Translator:
    torch.manual_seed(0)  # the same random weights for every precision, so their images compare
    model = PSP(**psp_parts(resolution, tiny))
    return Translator(model, Inversion(), device, precision=precision, channels_last=channels_last,
                      compile_mode=compile_mode, cuda_graphs=cuda_graphs)


def difference_from_eager(images: torch.Tensor, probe: torch.Tensor, args: argparse.Namespace,
                          precision: str) -> float | str:
    """How far a fast path's images are from the eager model's (same weights, same precision)."""
    if args.compile == "none" and not args.cuda_graphs:
        return "n/a"
    eager = translator(args.resolution, args.device, precision, not args.no_channels_last, "none", args.tiny)
    reference = eager.translate(probe).images.float().clamp(-1, 1)
    return float((images - reference).abs().max()) / 2  # in [0, 1] units


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "tf32", "bf16"])
    add_model_arguments(parser)
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its algorithms for each new shape (torch.backends.cudnn.benchmark)")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--compile", default="none", choices=["none", "default", "reduce-overhead", "max-autotune"],
                        help="torch.compile mode (compilation happens in the warm-up calls)")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="replay the eager passes from CUDA graphs (recorded in the first warm-up call)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    meta = dict(machine=machine(), resolution=args.resolution, torch=torch.__version__, device=str(device),
                cudnn_benchmark=args.cudnn_benchmark, channels_last=not args.no_channels_last, compile=args.compile,
                cuda_graphs=args.cuda_graphs, tiny=args.tiny)
    table = Table(f"pSp inference, {meta['machine']}, output {args.resolution} px",
                  ["precision", "batch", "images_per_s", "latency_ms", "peak_mib", "mean_abs_error_vs_fp32",
                   "max_abs_diff_vs_eager"],
                  args.json, meta)
    probe = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1)).to(device)
    reference = None  # fp32 images of the probe: what the other precisions are compared with
    for precision in args.precisions:
        try:
            t = translator(args.resolution, args.device, precision, not args.no_channels_last, args.compile, args.tiny,
                           args.cuda_graphs)
            images = t.translate(probe).images.float().clamp(-1, 1)
            vs_eager = difference_from_eager(images, probe, args, precision)
        except Exception as error:  # noqa: BLE001 - one failed precision leaves the others to run
            table.add(dict(precision=precision, **failure(error, device)))
            continue
        reference = images if precision == "fp32" else reference
        error = "n/a" if reference is None else float((images - reference).abs().mean()) / 2  # in [0, 1] units
        for batch in args.batch_sizes:
            sources = torch.randn(batch, 3, 256, 256, device=device)

            def measure() -> dict:
                reset_peak(device)
                seconds = median(time_call(lambda: t.translate(sources), device, args.warmup, args.repeats))
                return dict(images_per_s=batch / seconds, latency_ms=seconds * 1e3,
                            peak_mib=peak_memory_mib(device) or "n/a", mean_abs_error_vs_fp32=error,
                            max_abs_diff_vs_eager=vs_eager)

            table.add(dict(precision=precision, batch=batch, **measured(measure, device)))
        t = None  # frees this precision's model and compiled graphs before the next one is built
    table.close()


if __name__ == "__main__":
    main()
