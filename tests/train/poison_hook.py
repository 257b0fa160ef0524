"""Test-only hook (imported by a config's custom_imports): after iteration ``at`` it puts a
NaN into one encoder weight, as NaN gradients of a finite loss would."""

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from p2s.registry import HOOKS


@HOOKS.register_module(force=True)
class PoisonWeightsHook(Hook):
    priority = "NORMAL"  # after the optimizer step, before CheckpointHook (VERY_LOW)

    def __init__(self, at: int = 1) -> None:
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            with torch.no_grad():
                next(model.encoder.parameters()).view(-1)[0] = float("nan")
