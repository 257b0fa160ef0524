"""Validation metrics are logged as measured; the training loss stays smoothed."""

from __future__ import annotations

from types import SimpleNamespace

from mmengine.logging import MessageHub
from mmengine.runner import LogProcessor

from p2s.engine.log_processor import P2SLogProcessor


def _runner_with(scalars: dict[str, list[float]]) -> SimpleNamespace:
    hub = MessageHub.get_instance("p2s_test_log_processor")
    hub.log_scalars.clear()
    for key, values in scalars.items():
        for value in values:
            hub.update_scalar(key, value)
    return SimpleNamespace(message_hub=hub)


def test_a_validation_metric_is_the_last_validation_not_a_mean_over_them():
    runner = _runner_with({"val/loss": [1.0, 3.0], "val/loss_l2": [0.5, 0.25], "train/loss": [4.0, 2.0]})
    ours, mmengine = P2SLogProcessor(window_size=50), LogProcessor(window_size=50)
    assert mmengine._collect_scalars([], runner, "val")["loss"] == 2.0  # what the logs and TensorBoard showed
    assert ours._collect_scalars([], runner, "val") == {"loss": 3.0, "loss_l2": 0.25}
    assert ours._collect_scalars([], runner, "train")["loss"] == 3.0  # the interval mean, as MMEngine's
    assert ours.mean_pattern == mmengine.mean_pattern  # restored after the validation


def test_a_validation_iteration_line_shows_no_stale_metrics():
    """The hub still holds the previous validation's val/loss while the next one runs."""
    runner = _runner_with({"val/val/loss": [1.0417], "val/val/loss_l2": [0.7256], "val/time": [0.25],
                           "val/data_time": [0.01], "train/loss": [0.99]})
    vars(runner).update(val_loop=SimpleNamespace(dataloader=[None]), _train_loop=None, iter=4, max_iters=4)
    runner.message_hub.update_info("eta", 1)
    ours, mmengine = P2SLogProcessor(by_epoch=False), LogProcessor(by_epoch=False)
    assert "val/loss: 1.0417" in mmengine.get_log_after_iter(runner, 0, "val")[1]  # what the log showed
    _, line = ours.get_log_after_iter(runner, 0, "val")
    assert line.startswith("Iter(val) [1/1]") and "time: 0.2500" in line and "val/" not in line, line
    tag, line = ours.get_log_after_epoch(runner, 1, "val")  # this validation's values: in its epoch line
    assert tag["val/loss"] == 1.0417 and "val/loss: 1.0417" in line and "val/loss_l2: 0.7256" in line
    tag, line = ours.get_log_after_iter(runner, 0, "train")
    assert tag["loss"] == 0.99 and "val/" not in line


def test_the_shipped_runtime_uses_it():
    from pathlib import Path

    from mmengine.config import Config

    cfg = Config.fromfile(str(Path(__file__).resolve().parents[2] / "configs" / "_base_" / "default_runtime.py"))
    assert cfg.log_processor.type == "P2SLogProcessor"
