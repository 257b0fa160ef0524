"""Inference throughput and latency of a pSp model (encoder + generator), fp32.

Random weights at real sizes (IR-SE50 GradualStyleEncoder, StyleGAN2 at --resolution).

    python benchmarks/translate.py --device cuda --batch-sizes 1 8 32 64 --json translate.json
    python benchmarks/translate.py --device cpu --batch-sizes 1 2 --resolution 1024
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common import machine, median, peak_memory_mib, report, reset_peak, time_call
from p2s.models import PSP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = PSP(encoder=dict(type="GradualStyleEncoder", backbone=dict(type="IRSEBackbone", depth=50)),
                generator=dict(type="StyleGAN2Generator", resolution=args.resolution)).to(device).eval()
    rows = []
    for batch in args.batch_sizes:
        source = torch.randn(batch, 3, 256, 256, device=device)

        @torch.inference_mode()
        def forward() -> None:
            model.decode(model.encode(source))

        reset_peak(device)
        seconds = median(time_call(forward, device, args.warmup, args.repeats))
        rows.append(dict(batch=batch, images_per_s=batch / seconds, latency_ms=seconds * 1e3,
                         peak_mib=peak_memory_mib(device) or "n/a"))
    meta = dict(machine=machine(), resolution=args.resolution, torch=torch.__version__, device=str(device))
    print(f"pSp inference (fp32), {meta['machine']}, output {args.resolution} px")
    report(rows, ["batch", "images_per_s", "latency_ms", "peak_mib"], args.json, meta)


if __name__ == "__main__":
    main()
