"""Where a pSp forward spends its time: torch.profiler's table of the top operators.

Random weights at real sizes (IR-SE50 encoder, StyleGAN2 at --resolution), through the
``Translator`` path of ``p2s translate``; the profile follows warm-up calls.

    python benchmarks/device/profile_translate.py --batch 32 --precision bf16 --out profile.txt
    python benchmarks/device/profile_translate.py --device cpu --batch 1 --resolution 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import add_model_arguments  # noqa: E402
from translate import translator  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", choices=["fp32", "tf32", "bf16"],
                        help="default: bf16 on CUDA, fp32 on CPU (bf16 without CPU bf16 kernels is not the path to profile)")
    add_model_arguments(parser)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    t = translator(args.resolution, args.device, args.precision, True, "none", args.tiny)
    sources = torch.randn(args.batch, 3, 256, 256, device=device)
    for _ in range(3):
        t.translate(sources)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        t.translate(sources)
        if device.type == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=args.rows)
    header = f"{args.precision}, batch {args.batch}, {args.resolution} px, {device}\n"
    print(header + table)
    if args.out:
        args.out.write_text(header + table)


if __name__ == "__main__":
    main()
