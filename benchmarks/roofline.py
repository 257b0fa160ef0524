"""What a GPU can do at best with p2s's inference path and training step: kernels, FLOPs and bytes, counted.

The model runs on PyTorch's ``meta`` device, which takes the GPU's code path (batched
modulation, the zero-insertion FIR filter, one kernel per elementwise op) and computes
nothing, so the real sizes cost seconds on a CPU.  Every aten op that is not a view is
one eager kernel; its FLOPs come from torch's own FLOP counter, its bytes from the
tensors it reads and writes (a broadcast operand counts once).  A kernel takes at least
``max(FLOPs / peak, bytes / bandwidth)``; their sum is the eager floor, and the
convolutions' and matrix products' sum alone is what perfect fusion could reach.
bf16 is modelled by casting the networks (autocast has no meta device); its elementwise
ops then run in bf16, as the autocast path does after session 12's dtype fixes.
``--mode train`` counts one training step of the inversion recipe (L2 + LPIPS + ID, Ranger:
``benchmarks/train_step.py``'s model) after a first step that made the optimizer's state;
under bf16 the optimizer still steps float32 master weights, as ``p2s train --amp`` does.

    python benchmarks/roofline.py --batch-sizes 1 32 --precisions bf16 fp32 --json roofline.json
    python benchmarks/roofline.py --mode train --batch-sizes 8 32 --precisions bf16 tf32
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

from common import add_model_arguments, machine, psp_parts, report
from p2s.apis.translator import Translator
from p2s.models import PSP
from p2s.tasks import Inversion


@dataclass(frozen=True)
class Chip:
    """Peaks: dense tensor-core rates measured in the issue (bf16, TF32), NVIDIA's figure
    for float32 without tensor cores, HBM bandwidth at about 90 % of the data sheet."""

    bf16_tflops: float
    tf32_tflops: float
    fp32_tflops: float
    bandwidth_tbs: float


CHIPS = {
    "h100": Chip(bf16_tflops=793, tf32_tflops=412, fp32_tflops=67, bandwidth_tbs=3.0),
    "h200": Chip(bf16_tflops=793, tf32_tflops=412, fp32_tflops=67, bandwidth_tbs=4.3),
}
#: precision -> (dtype of the networks, which peak their products run at)
PRECISIONS = {"bf16": (torch.bfloat16, "bf16_tflops"), "tf32": (torch.float32, "tf32_tflops"),
              "fp32": (torch.float32, "fp32_tflops")}


def footprint_bytes(t: torch.Tensor) -> int:
    """Bytes a kernel touches in ``t``: broadcast (stride-0) dimensions count once."""
    elements = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride != 0:
            elements *= size
    return elements * t.element_size()


def category(name: str) -> str:
    if "conv" in name:
        return "convolution"
    if name in ("mm", "addmm", "bmm", "linear", "matmul"):
        return "matrix product"
    if "copy" in name or name in ("_to_copy", "clone", "contiguous", "cat", "constant_pad_nd", "flip"):
        return "copy / pad / cast"
    return "elementwise / reduction"


class KernelCounter(TorchDispatchMode):
    """Records (category, FLOPs, bytes) for every non-view aten op on the meta device."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels: list[tuple[str, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._schema.name.split("::")[-1]
        if func.is_view or name in ("empty", "empty_strided", "detach"):  # no kernel, no traffic
            return out
        packet = func._overloadpacket
        flops = flop_registry[packet](*args, **kwargs, out_val=out) if packet in flop_registry else 0
        inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        outputs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if not any(t.is_meta for t in inputs + outputs):
            return out  # host work (the optimizer's CPU step counters), no GPU kernel
        if name == "convolution_backward" and not args[-1][1]:  # no weight gradient: the input is not read
            inputs = [a for a in inputs if a is not args[1]]
        unique = {id(t): t for t in inputs + outputs}  # an in-place op returns its input
        moved = sum(footprint_bytes(t) for t in unique.values())
        self.kernels.append((category(name), int(flops), moved))
        return out


def cast_inputs(module: torch.nn.Module, args: tuple, dtype: torch.dtype) -> tuple:
    return tuple(a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)


def count_forward(resolution: int, batch: int, precision: str, tiny: bool) -> KernelCounter:
    """One ``Translator.translate`` of a batch on meta, as ``p2s translate`` runs it on a GPU."""
    dtype, _ = PRECISIONS[precision]
    model = PSP(**psp_parts(resolution, tiny)).to(dtype)
    for network in (model.encoder, model.decoder):  # the translator feeds them float32
        network.register_forward_pre_hook(partial(cast_inputs, dtype=dtype))
    translator = Translator(model, Inversion(), torch.device("meta"), channels_last=True)
    sources = torch.empty(batch, 3, 256, 256, device="meta", dtype=dtype)
    counter = KernelCounter()
    with torch.no_grad(), counter:
        translator.translate(sources)
    return counter


def cast_every_module(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Every module's floating parameters, buffers and inputs in ``dtype``: on meta, where an
    op does not check that its operands agree, the closest thing to autocast."""
    model.to(dtype)
    for module in model.modules():
        module.register_forward_pre_hook(partial(cast_inputs, dtype=dtype))


def count_train_step(resolution: int, batch: int, precision: str, tiny: bool) -> KernelCounter:
    """One training step on meta: forward, backward, Ranger on the encoder; a first step
    (not counted) makes the optimizer's state, as every step after the first finds it."""
    from train_step import build

    from p2s.engine import Ranger

    dtype, _ = PRECISIONS[precision]
    with torch.device("meta"):
        model = build(resolution, torch.device("meta"), tiny)
        masters = [torch.nn.Parameter(torch.empty_like(p, dtype=torch.float32)) for p in model.encoder.parameters()]
    cast_every_module(model, dtype)
    optimizer = Ranger(masters, lr=1e-4, foreach=True)  # what PyTorch picks for CUDA tensors
    source = torch.empty(batch, 3, 256, 256, device="meta", dtype=dtype)
    target = torch.empty(batch, 3, 256, 256, device="meta", dtype=dtype)

    def step() -> None:
        loss, _ = model.parse_losses(model.loss(source, dict(target=target)))
        loss.backward()
        for master, param in zip(masters, model.encoder.parameters()):
            master.grad = param.grad.float()  # autocast's weight casts give float32 gradients
            param.grad = None
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    counter = KernelCounter()
    with counter:
        step()
    return counter


def floors(counter: KernelCounter, chip: Chip, peak_name: str) -> dict[str, float]:
    """Seconds at best: every kernel alone (eager), and the products alone (fused)."""
    peak = getattr(chip, peak_name) * 1e12
    bandwidth = chip.bandwidth_tbs * 1e12
    per_kernel = [max(flops / peak, moved / bandwidth) for _, flops, moved in counter.kernels]
    products = [t for t, (cat, _, _) in zip(per_kernel, counter.kernels) if cat in ("convolution", "matrix product")]
    return dict(eager=sum(per_kernel), products=sum(products))


def summarise(counter: KernelCounter) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = defaultdict(lambda: dict(kernels=0, gflop=0.0, gbytes=0.0))
    for cat, flops, moved in counter.kernels:
        row = table[cat]
        row["kernels"] += 1
        row["gflop"] += flops / 1e9
        row["gbytes"] += moved / 1e9
    return dict(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="translate", choices=["translate", "train"],
                        help="p2s translate's inference pass, or one training step of the inversion recipe")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=list(PRECISIONS))
    parser.add_argument("--launch-us", type=float, default=5.0,
                        help="host time to launch one eager kernel (the launch column: the batch-1 latency floor without CUDA graphs)")
    parser.add_argument("--chip", default="h200", choices=list(CHIPS))
    add_model_arguments(parser)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    chip = CHIPS[args.chip]
    rows, parts = [], []
    for precision in args.precisions:
        for batch in args.batch_sizes:
            count = count_forward if args.mode == "translate" else count_train_step
            counter = count(args.resolution, batch, precision, args.tiny)
            best = floors(counter, chip, PRECISIONS[precision][1])
            for cat, row in sorted(summarise(counter).items()):
                parts.append(dict(precision=precision, batch=batch, part=cat, kernels=int(row["kernels"]),
                                  gflop_per_image=row["gflop"] / batch, gbytes_per_image=row["gbytes"] / batch))
            rows.append(dict(precision=precision, batch=batch, kernels=len(counter.kernels),
                             gflop_per_image=sum(f for _, f, _ in counter.kernels) / batch / 1e9,
                             gbytes_per_image=sum(m for _, _, m in counter.kernels) / batch / 1e9,
                             eager_images_per_s=batch / best["eager"],
                             fused_images_per_s=batch / best["products"],
                             launch_ms=len(counter.kernels) * args.launch_us / 1e3))
    meta = dict(machine=machine(), mode=args.mode, chip=args.chip, peaks=chip.__dict__,
                resolution=args.resolution, torch=torch.__version__, tiny=args.tiny)
    what = "inference" if args.mode == "translate" else "inversion-recipe training step"
    print(f"pSp {what} at best on an {args.chip.upper()} ({chip}), output {args.resolution} px, counted on meta")
    report(rows, list(rows[0]), args.json, meta)
    print("per kind of kernel")
    report(parts, list(parts[0]), args.json.with_name(args.json.stem + "_parts.json") if args.json else None, meta)


if __name__ == "__main__":
    main()
