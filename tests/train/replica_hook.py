"""Test-only hook (imported by a config's custom_imports): each rank writes a digest of
its encoder weights after training, so a test can check the DDP replicas agree."""

import json
from pathlib import Path

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from p2s.registry import HOOKS


@HOOKS.register_module(force=True)
class ReplicaDigestHook(Hook):
    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        values = torch.cat([p.detach().double().flatten() for p in model.encoder.parameters()])
        digest = dict(sum=float(values.sum()), sq=float(values.square().sum()), n=values.numel(),
                      world_size=torch.distributed.get_world_size(), wrapped=is_model_wrapper(runner.model))
        Path(runner.work_dir, f"replica_rank{get_rank()}.json").write_text(json.dumps(digest))
