"""Inference passes replayed from CUDA graphs: one capture per input shape, then one launch.

A pSp forward is about a thousand small kernels; at batch 1 the GPU finishes each before
Python has launched the next, so the eager pass is bound by launch overhead.  A CUDA graph
records the kernels once and replays them with one call.  The eager model is captured as
it is (no compiler, seconds instead of minutes); ``torch.compile(mode='reduce-overhead')``
is the other way to get graphs.  What a replayed pass must respect:

- its inputs are copied into tensors the graph owns, and its output is one tensor the next
  replay overwrites: a caller that keeps the result clones it;
- shapes, dtypes and options are fixed per graph, so each new signature is captured anew
  (warm-up passes, then the capture);
- inference only: no autograd, no host synchronisation, no CPU tensors inside the pass
  (``tests/test_device_placement.py`` runs every Translator pass on the meta device, where
  a host read or a tensor made on the CPU fails).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch

from p2s.utils.errors import P2SError

#: ``capture(run) -> (replay, output)``: record ``run``; ``replay()`` reruns it into ``output``
Capture = Callable[[Callable[[], torch.Tensor]], tuple[Callable[[], None], torch.Tensor]]


def check_cuda_graphs_device(device: torch.device) -> None:
    """CUDA graphs record GPU work; on any other device there is nothing to record."""
    if device.type != "cuda":
        raise P2SError(f"--cuda-graphs needs a CUDA device (it replays recorded GPU work), got {device}; drop it")


def capture_cuda_graph(run: Callable[[], torch.Tensor], warmup: int = 2) -> tuple[Callable[[], None], torch.Tensor]:
    """Warm ``run`` up on a side stream (cuDNN and cuBLAS choose algorithms and allocate
    workspaces there, which a capture may not do), then record it into a graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    # thread_local: the file workers beside the model (or a caller's own threads) may go on
    # using CUDA while this thread records
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        output = run()
    return graph.replay, output


def replay_eagerly(run: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
    """A stand-in for :func:`capture_cuda_graph` on a CPU: the same contract (one output
    tensor that every replay overwrites), the work rerun eagerly.  For tests."""
    output = run()

    def replay() -> None:
        output.copy_(run())

    return replay, output


@dataclass
class _Graph:
    inputs: tuple[torch.Tensor, ...]
    replay: Callable[[], None]
    output: torch.Tensor


class GraphedPass:
    """``fn(*tensors, **options)`` replayed from one recorded graph per signature.

    The signature is the tensors' shapes, dtypes and devices, the options, the autocast
    state and ``settings()`` (what else changes the recorded work, e.g. a model's number
    of refinement steps).  The result is the graph's own output tensor: clone it to keep it.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], capture: Capture = capture_cuda_graph,
                 settings: Callable[[], Hashable] = lambda: None) -> None:
        self._fn, self._capture, self._settings = fn, capture, settings
        self._graphs: dict[Hashable, _Graph] = {}

    @property
    def captures(self) -> int:
        """How many graphs were recorded (one per signature seen)."""
        return len(self._graphs)

    def __call__(self, *tensors: torch.Tensor, **options: Hashable) -> torch.Tensor:
        if torch.is_grad_enabled():
            raise P2SError("CUDA graphs replay inference passes only: call them under torch.no_grad()")
        key = self._signature(tensors, options)
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = self._record(tensors, options)
        else:
            for static, tensor in zip(graph.inputs, tensors):
                static.copy_(tensor)
        graph.replay()
        return graph.output

    def _signature(self, tensors: tuple[torch.Tensor, ...], options: dict[str, Hashable]) -> Hashable:
        shapes = tuple((tuple(t.shape), t.dtype, t.device) for t in tensors)
        device = tensors[0].device.type if tensors else "cuda"
        autocast = (torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        return shapes, tuple(sorted(options.items())), autocast, self._settings()

    def _record(self, tensors: tuple[torch.Tensor, ...], options: dict[str, Hashable]) -> _Graph:
        inputs = tuple(t.clone() for t in tensors)  # the graph's own inputs, in the callers' layout
        try:
            replay, output = self._capture(lambda: self._fn(*inputs, **options))
        except RuntimeError as error:  # an op that cannot be recorded: say so in one line
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise P2SError(f"--cuda-graphs could not record this pass ({first[:200]}); run without --cuda-graphs") \
                from error
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"a graphed pass must return one tensor, got a {type(output).__name__}")
        return _Graph(inputs, replay, output)
