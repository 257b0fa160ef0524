"""Training-step throughput of the pSp inversion recipe (L2 + LPIPS + ID, Ranger).

Random weights at real sizes by default (IR-SE50 encoder, 1024 StyleGAN2, AlexNet LPIPS,
IR-SE50 identity network). Prints a table and writes JSON. ``bf16`` is the path of
``p2s train --amp`` (``BF16AutocastOptimWrapper``: bf16 autocast, no loss scaling); ``fp32`` is IEEE
float32 throughout; ``tf32`` is float32 with TF32 matrix products and convolutions, about what a plain
``p2s train`` runs on a GPU (PyTorch's defaults: cuDNN convolutions in TF32, matrix products in float32).

    python benchmarks/train_step.py --device cuda --batch-sizes 8 32 --precisions fp32 tf32 bf16 --json train.json
    python benchmarks/train_step.py --device cpu --batch-sizes 2 --resolution 256   # CPU
    python benchmarks/train_step.py --device cuda --batch-sizes 32 --precisions bf16 --compile default  # p2s train --compile
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from mmengine.optim import OptimWrapper

from common import (Table, add_model_arguments, machine, measured, median, peak_memory_mib, psp_parts,
                    reset_peak, time_call)
from p2s.engine import Ranger
from p2s.engine.amp import BF16AutocastOptimWrapper
from p2s.engine.compiled_loss import TRAINING_COMPILE_MODES, compile_training_loss
from p2s.models import PSP
from p2s.utils.precision import set_float32_precision

#: narrow identity network of ``--tiny`` (the smoke test's), in place of IR-SE50
TINY_FACENET = dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16))


def build(resolution: int, device: torch.device, tiny: bool = False) -> PSP:
    model = PSP(
        **psp_parts(resolution, tiny),
        losses=dict(
            l2=dict(type="L2Loss", loss_weight=1.0),
            lpips=dict(type="LPIPSLoss", loss_weight=0.8, random_backbone=True),
            id=dict(type="IDLoss", loss_weight=0.1, weights=None, random_init=True,
                    network=TINY_FACENET if tiny else None),
        ),
    )
    return model.to(device).train()


def optim_wrapper(model: PSP, precision: str) -> OptimWrapper:
    """Ranger on the encoder, wrapped as ``p2s train`` wraps it (``--amp`` for bf16)."""
    optimizer = Ranger(model.encoder.parameters(), lr=1e-4)
    if precision != "bf16":
        return OptimWrapper(optimizer)
    return BF16AutocastOptimWrapper(optimizer=optimizer)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "tf32", "bf16"])
    add_model_arguments(parser)
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN time its algorithms for each new shape (torch.backends.cudnn.benchmark)")
    parser.add_argument("--compile", default="none", choices=TRAINING_COMPILE_MODES,
                        help="torch.compile the loss as p2s train --compile does (compilation happens in the warm-up steps)")
    parser.add_argument("--compile-backend", default="inductor", help=argparse.SUPPRESS)  # eager / aot_eager: smoke tests
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    meta = dict(machine=machine(), resolution=args.resolution, torch=torch.__version__, device=str(device),
                cudnn_benchmark=args.cudnn_benchmark, compile=args.compile, tiny=args.tiny)
    table = Table(f"inversion recipe training step, {meta['machine']}, output {args.resolution} px",
                  ["precision", "batch", "it_per_s", "images_per_s", "step_ms", "peak_mib"], args.json, meta)
    model = build(args.resolution, device, args.tiny)
    compile_training_loss(model, args.compile, args.compile_backend)
    for precision in args.precisions:
        set_float32_precision("tf32" if precision == "tf32" else "ieee")  # bf16: what autocast leaves in float32
        wrapper = optim_wrapper(model, precision)
        for batch in args.batch_sizes:
            source = torch.randn(batch, 3, 256, 256, device=device)
            target = torch.randn(batch, 3, 256, 256, device=device).clamp(-1, 1)

            def step() -> None:
                with wrapper.optim_context(model):
                    losses = model.loss(source, dict(target=target))
                loss, _ = model.parse_losses(losses)
                wrapper.update_params(loss)

            def measure() -> dict:
                model.zero_grad(set_to_none=True)  # no gradients left over from a batch that ran out of memory
                reset_peak(device)
                seconds = median(time_call(step, device, args.warmup, args.repeats))
                return dict(it_per_s=1 / seconds, images_per_s=batch / seconds, step_ms=seconds * 1e3,
                            peak_mib=peak_memory_mib(device) or "n/a")

            table.add(dict(precision=precision, batch=batch, **measured(measure, device)))
    table.close()


if __name__ == "__main__":
    main()
