"""Host time of one eager inference pass: how much of batch-1 latency is Python, not GPU work.

At batch 1 a GPU finishes each of a pass's ~1,000 kernels faster than the host issues the
next, so latency is the host's time: the model's own Python (p2s's modules and
``torch.nn``'s module calls and functional wrappers) plus one launch per kernel.  That is
what CUDA graphs (``p2s translate --cuda-graphs``) remove.  The pass runs on PyTorch's
``meta`` device, which takes the GPU's code path and computes nothing; ``cProfile`` splits
its time by where it is spent.  Meta's own shape functions (``torch._refs``, ``_prims``,
``_meta_registrations``: Python that a CUDA launch does in C++) are most of a meta pass and
are reported apart, never counted as the model's.  Profiled times are scaled down by the
profiler's own overhead (profiled / unprofiled time of the same pass).

    python benchmarks/host_overhead.py --batch-sizes 1 32 --json host_overhead.json
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path

import torch

from common import Table, add_model_arguments, machine, median, psp_parts, time_call
from p2s.apis.translator import Translator
from p2s.models import PSP
from p2s.tasks import Inversion
from roofline import KernelCounter

#: where a profiled frame's time goes: the first group whose marker is in its file name
GROUPS = {
    "p2s": ("/p2s/",),
    "torch_nn": ("/torch/nn/",),
    "meta_shape_functions": ("/torch/_refs/", "/torch/_prims", "/torch/_meta_registrations", "/torch/_decomp",
                             "/torch/fx/", "/torch/_prims_common/"),
}


def group_of(filename: str) -> str:
    return next((name for name, markers in GROUPS.items() if any(m in filename for m in markers)), "other")


def profiled_seconds(run: Callable[[], object]) -> dict[str, float]:
    """Seconds spent in each group's own frames (not their callees) during ``run()``."""
    profile = cProfile.Profile()
    profile.runcall(run)
    seconds = dict.fromkeys([*GROUPS, "other"], 0.0)
    for (filename, _, _), (_, _, own, _, _) in pstats.Stats(profile).stats.items():
        seconds[group_of(filename)] += own
    return seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--launch-us", type=float, default=5.0, help="host time to launch one CUDA kernel")
    parser.add_argument("--repeats", type=int, default=5)
    add_model_arguments(parser)
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device("meta")
    model = PSP(**psp_parts(args.resolution, args.tiny))
    translator = Translator(model, Inversion(), device, precision="tf32")
    meta = dict(machine=machine(), resolution=args.resolution, torch=torch.__version__, launch_us=args.launch_us,
                tiny=args.tiny)
    table = Table(f"host time of one eager pSp pass (on meta), {meta['machine']}, output {args.resolution} px",
                  ["batch", "kernels", "meta_pass_ms", "p2s_python_ms", "torch_nn_python_ms", "meta_shape_functions_ms",
                   "launch_ms", "model_host_ms"], args.json, meta)
    with torch.no_grad():
        for batch in args.batch_sizes:
            sources = torch.empty(batch, 3, 256, 256, device=device)
            counter = KernelCounter()
            with counter:
                translator.translate(sources)
            seconds = median(time_call(lambda: translator.translate(sources), device, 1, args.repeats))
            profiled = profiled_seconds(lambda: translator.translate(sources))
            scale = seconds / sum(profiled.values())  # the profiler's overhead, spread evenly
            ms = {name: value * scale * 1e3 for name, value in profiled.items()}
            launch_ms = len(counter.kernels) * args.launch_us / 1e3
            table.add(dict(batch=batch, kernels=len(counter.kernels), meta_pass_ms=seconds * 1e3,
                           p2s_python_ms=ms["p2s"], torch_nn_python_ms=ms["torch_nn"],
                           meta_shape_functions_ms=ms["meta_shape_functions"], launch_ms=launch_ms,
                           model_host_ms=ms["p2s"] + ms["torch_nn"] + launch_ms))
    table.close()


if __name__ == "__main__":
    main()
