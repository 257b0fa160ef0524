"""DeferredRuntimeInfoHook: the same scalar history as MMEngine's hook, delivered in
batches (no host sync per iteration), and complete whenever something reads it."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from mmengine.hooks import LoggerHook
from mmengine.logging import MessageHub

from p2s.engine.runtime_info import DeferredRuntimeInfoHook


def _runner(name: str):
    return SimpleNamespace(iter=0, message_hub=MessageHub.get_instance(name), hooks=[LoggerHook(interval=3)])


def _history(runner, key="train/loss"):
    scalars = runner.message_hub.log_scalars
    return scalars[key].data[0].tolist() if key in scalars else []


def test_values_arrive_in_order_at_the_logging_interval():
    runner = _runner("deferred_order")
    hook = DeferredRuntimeInfoHook(flush_interval=3)
    losses = [torch.tensor(float(i)) for i in range(7)]
    for i, loss in enumerate(losses):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs=dict(loss=loss, loss_l2=loss * 2, note=1.5))
        delivered = _history(runner)
        assert len(delivered) == 3 * ((i + 1) // 3), (i, delivered)  # only at iterations 3, 6
    assert _history(runner) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert _history(runner, "train/loss_l2") == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert _history(runner, "train/note") == [1.5] * 6
    hook.before_save_checkpoint(runner, {})  # a checkpoint sees everything so far
    assert _history(runner) == [float(i) for i in range(7)]


def test_pending_values_stay_tensors_until_flushed(monkeypatch):
    runner = _runner("deferred_sync")
    hook = DeferredRuntimeInfoHook(flush_interval=100)
    calls = []
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append(1) or 0.0)
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: calls.append(2) or [0.0] * self.numel())
    for i in range(10):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs=dict(loss=torch.tensor(1.0, requires_grad=True) * 2))
    assert calls == []  # no host transfer in ten iterations
    hook.flush(runner)
    assert calls == [2]  # one transfer for all of them
    assert not hook._pending


def test_shipped_runtime_uses_the_deferred_hook():
    from pathlib import Path

    from mmengine.config import Config

    root = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(root / "configs" / "_base_" / "default_runtime.py"))
    assert cfg.default_hooks.runtime_info.type == "DeferredRuntimeInfoHook"


def test_a_nonfinite_loss_stops_before_a_checkpoint_is_written():
    import pytest

    from p2s.utils.errors import P2SError

    runner = _runner("deferred_nan")
    hook = DeferredRuntimeInfoHook(flush_interval=100)
    for i, value in enumerate([1.0, 0.5, float("nan"), 0.4]):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs=dict(loss=torch.tensor(value), loss_l2=torch.tensor(0.1)))
    with pytest.raises(P2SError, match=r"training diverged: loss is nan at iteration 3;"):
        hook.before_save_checkpoint(runner, {})  # the save is refused: the hook raises first
    assert _history(runner) == [1.0, 0.5]  # the values before the bad one are kept


def test_nonfinite_values_of_other_scalars_and_the_switch_off_pass():
    runner = _runner("deferred_nan_off")
    hook = DeferredRuntimeInfoHook(flush_interval=100, stop_on_nonfinite=False)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float("inf"))))
    hook.flush(runner)
    assert _history(runner) == [float("inf")]
    strict = DeferredRuntimeInfoHook(flush_interval=100)
    strict.after_train_iter(runner, 1, outputs=dict(grad_norm=torch.tensor(float("nan")), loss=torch.tensor(1.0)))
    strict.flush(runner)  # only loss terms stop the run


def test_a_checkpoint_of_broken_weights_is_refused_even_when_the_losses_are_finite():
    import pytest

    from p2s.utils.errors import TrainingDivergedError

    runner = _runner("deferred_nan_weights")
    hook = DeferredRuntimeInfoHook(flush_interval=100)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0)))
    good = {"state_dict": {"w": torch.ones(3), "steps": torch.tensor([1])}, "meta": {"iter": 1}}
    hook.before_save_checkpoint(runner, good)
    bad = {"state_dict": {"w": torch.tensor([1.0, float("inf")])}, "meta": {"iter": 7}}
    with pytest.raises(TrainingDivergedError, match=r"NaN or infinite values after iteration 7 \(e\.g\. 'w'\)"):
        hook.before_save_checkpoint(runner, bad)
