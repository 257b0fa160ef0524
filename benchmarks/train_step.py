"""Training-step throughput of the pSp inversion recipe (L2 + LPIPS + ID, Ranger).

Random weights at real sizes by default (IR-SE50 encoder, 1024 StyleGAN2, AlexNet LPIPS,
IR-SE50 identity network). Prints a table and writes JSON. ``bf16`` is the path of
``p2s train --amp`` (MMEngine's AmpOptimWrapper, bf16 autocast, no loss scaling); ``tf32`` is fp32 with
TF32 matrix products and convolutions.

    python benchmarks/train_step.py --device cuda --batch-sizes 8 32 --precisions fp32 tf32 bf16 --json train.json
    python benchmarks/train_step.py --device cpu --batch-sizes 2 --resolution 256   # CPU
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from common import machine, median, peak_memory_mib, report, reset_peak, time_call
from p2s.engine import Ranger
from p2s.engine.amp import bf16_wrapper_kwargs
from p2s.models import PSP


def build(resolution: int, device: torch.device) -> PSP:
    model = PSP(
        encoder=dict(type="GradualStyleEncoder", backbone=dict(type="IRSEBackbone", depth=50)),
        generator=dict(type="StyleGAN2Generator", resolution=resolution),
        losses=dict(
            l2=dict(type="L2Loss", loss_weight=1.0),
            lpips=dict(type="LPIPSLoss", loss_weight=0.8, random_backbone=True),
            id=dict(type="IDLoss", loss_weight=0.1, weights=None, random_init=True),
        ),
    )
    return model.to(device).train()


def optim_wrapper(model: PSP, precision: str, device: torch.device) -> OptimWrapper:
    """Ranger on the encoder, wrapped as ``p2s train`` wraps it (``--amp`` for bf16)."""
    optimizer = Ranger(model.encoder.parameters(), lr=1e-4)
    if precision != "bf16":
        return OptimWrapper(optimizer)
    if device.type != "cuda":
        raise SystemExit("bf16 training (AmpOptimWrapper) needs a CUDA device")
    return AmpOptimWrapper(optimizer=optimizer, **bf16_wrapper_kwargs())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "tf32", "bf16"])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = build(args.resolution, device)
    rows = []
    for precision in args.precisions:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
        wrapper = optim_wrapper(model, precision, device)
        for batch in args.batch_sizes:
            source = torch.randn(batch, 3, 256, 256, device=device)
            target = torch.randn(batch, 3, 256, 256, device=device).clamp(-1, 1)

            def step() -> None:
                with wrapper.optim_context(model):
                    losses = model.loss(source, dict(target=target))
                loss, _ = model.parse_losses(losses)
                wrapper.update_params(loss)

            reset_peak(device)
            seconds = median(time_call(step, device, args.warmup, args.repeats))
            rows.append(dict(precision=precision, batch=batch, it_per_s=1 / seconds, images_per_s=batch / seconds,
                             step_ms=seconds * 1e3, peak_mib=peak_memory_mib(device) or "n/a"))
    meta = dict(machine=machine(), resolution=args.resolution, torch=torch.__version__, device=str(device))
    print(f"inversion recipe training step, {meta['machine']}, output {args.resolution} px")
    report(rows, ["precision", "batch", "it_per_s", "images_per_s", "step_ms", "peak_mib"], args.json, meta)


if __name__ == "__main__":
    main()
