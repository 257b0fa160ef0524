"""``GraphedPass``: one recording per signature, inputs copied in, one output overwritten.

CI has no GPU, so the recording is :func:`replay_eagerly`, which keeps the contract of a
CUDA graph (static inputs, one output tensor that every replay overwrites) and reruns the
work; what this file proves is the bookkeeping around the graphs.
"""

from __future__ import annotations

import pytest
import torch

from p2s.utils.cuda_graphs import GraphedPass, check_cuda_graphs_device, replay_eagerly
from p2s.utils.errors import P2SError


class Counting:
    """``x * scale + shift``, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, x: torch.Tensor, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
        self.runs += 1
        return x * scale + shift


@torch.no_grad()
def test_replays_give_the_pass_results_into_one_output_tensor():
    fn = Counting()
    graphed = GraphedPass(fn, replay_eagerly)
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    first = graphed(a, scale=2.0)
    torch.testing.assert_close(first, a * 2, rtol=0, atol=0)
    kept = first.clone()
    second = graphed(b, scale=2.0)
    torch.testing.assert_close(second, b * 2, rtol=0, atol=0)
    assert second is first  # the graph's own output, overwritten: callers clone what they keep
    torch.testing.assert_close(kept, a * 2, rtol=0, atol=0)
    assert graphed.captures == 1


@torch.no_grad()
def test_each_shape_dtype_and_option_is_recorded_once():
    graphed = GraphedPass(Counting(), replay_eagerly)
    calls = [
        (torch.ones(2, 3), {}), (torch.ones(2, 3), {}),
        (torch.ones(4, 3), {}),  # a new batch size
        (torch.ones(2, 3, dtype=torch.float64), {}),  # a new dtype
        (torch.ones(2, 3), {"shift": 1.0}), (torch.ones(2, 3), {"shift": 1.0}),  # a new option
    ]
    for x, options in calls:
        torch.testing.assert_close(graphed(x, **options), x + options.get("shift", 0.0))
    assert graphed.captures == 4


@torch.no_grad()
def test_settings_and_autocast_are_part_of_the_signature():
    steps = {"n": 1}
    graphed = GraphedPass(lambda x: x * steps["n"], replay_eagerly, settings=lambda: steps["n"])
    x = torch.ones(3)
    assert graphed(x).tolist() == [1, 1, 1]
    steps["n"] = 3
    assert graphed(x).tolist() == [3, 3, 3]  # recorded again, not the stale graph
    with torch.autocast("cpu", dtype=torch.bfloat16):
        graphed(x)
    assert graphed.captures == 3


@torch.no_grad()
def test_the_input_is_copied_in_at_each_call():
    """The graph reads its own input tensor: a caller's later change to its tensor is not seen,
    and a call with a non-contiguous tensor of the same shape is copied in."""
    graphed = GraphedPass(Counting(), replay_eagerly)
    x = torch.arange(6.0).view(2, 3)
    out = graphed(x).clone()
    x.zero_()
    torch.testing.assert_close(out, torch.arange(6.0).view(2, 3))
    transposed = torch.arange(6.0).view(3, 2).t()
    torch.testing.assert_close(graphed(transposed), transposed)
    assert graphed.captures == 1


def test_training_passes_are_refused():
    with pytest.raises(P2SError, match="inference passes only"):
        GraphedPass(Counting(), replay_eagerly)(torch.ones(2))


@torch.no_grad()
def test_a_pass_must_return_one_tensor():
    with pytest.raises(TypeError, match="one tensor, got a tuple"):
        GraphedPass(lambda x: (x, x), replay_eagerly)(torch.ones(2))


@torch.no_grad()
def test_a_pass_that_cannot_be_recorded_is_one_line_that_says_what_to_do():
    def refusing_capture(run):
        raise RuntimeError("operation not permitted when stream is capturing\nCUDA kernel errors might be ...")

    graphed = GraphedPass(Counting(), refusing_capture)
    with pytest.raises(P2SError, match=r"^--cuda-graphs could not record this pass \(operation not permitted when "
                                       r"stream is capturing\); run without --cuda-graphs$"):
        graphed(torch.ones(2))
    assert graphed.captures == 0  # nothing half-recorded is kept


def test_graphs_need_a_cuda_device():
    with pytest.raises(P2SError, match="--cuda-graphs needs a CUDA device .* got cpu; drop it"):
        check_cuda_graphs_device(torch.device("cpu"))
    check_cuda_graphs_device(torch.device("cuda", 1))  # a check of the type only: no device is touched
