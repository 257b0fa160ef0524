"""Fixtures of the engine tests: a toy model and dataset and a Runner factory (MMEngine's
singletons are cleared after every test by tests/conftest.py)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import p2s.engine  # noqa: F401  (registers hooks, Ranger and the weights_only loader)

SIZE = 16
_names = itertools.count()


class ToyDataset(Dataset):
    """``n`` fixed random (source, target) pairs; one-hot sources when ``channels > 3``."""

    def __init__(self, n: int = 8, channels: int = 3, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        if channels > 3:
            labels = torch.randint(0, channels, (n, SIZE, SIZE), generator=gen)
            self.sources = F.one_hot(labels, channels).permute(0, 3, 1, 2).float()
        else:
            self.sources = torch.rand(n, channels, SIZE, SIZE, generator=gen) * 2 - 1
        self.targets = torch.rand(n, 3, SIZE, SIZE, generator=gen) * 2 - 1

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> dict:
        return dict(inputs=self.sources[i], target=self.targets[i])


class ToyModel(BaseModel):
    """Two convolutions; keeps ``last_visuals`` in loss and predict mode (the grid contract)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 3, 3, padding=1)
        self.source_value_range = (-1.0, 1.0)
        self.last_visuals = None

    def forward(self, inputs, target=None, mode="tensor"):
        out = torch.tanh(self.conv2(F.relu(self.conv1(inputs))))
        if mode == "tensor":
            return out
        self.last_visuals = dict(
            source=inputs[:4].detach(), output=out[:4].detach(), target=target[:4].detach()
        )
        if mode == "loss":
            return dict(loss_l2=F.mse_loss(out, target))
        return [dict(pred=o, target=t) for o, t in zip(out, target)]


class ToyMetric(BaseMetric):
    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            self.results.append(F.mse_loss(sample["pred"], sample["target"]).item())

    def compute_metrics(self, results: list) -> dict:
        return dict(mse=sum(results) / len(results))


def _loader(channels: int) -> dict:
    return dict(
        dataset=ToyDataset(channels=channels),
        sampler=dict(type="DefaultSampler", shuffle=False),
        collate_fn=dict(type="default_collate"),
        batch_size=2,
        num_workers=0,
    )


@pytest.fixture
def make_runner():
    """``make_runner(work_dir, max_iters, ...)`` -> a Runner on the toy model (seed 0).

    Keywords: ``resume``, ``checkpoint`` (hook type), ``checkpoint_options``, ``custom_hooks`` (defaults to
    SafeCheckpointHook), ``val`` (validate every 2 iterations), ``tensorboard``,
    ``channels`` (source channels), ``k`` (Ranger's Lookahead period).
    """

    def make(
        work_dir,
        max_iters: int,
        *,
        resume: bool = False,
        checkpoint: str = "AtomicCheckpointHook",
        checkpoint_options: dict | None = None,
        custom_hooks: list | None = None,
        val: bool = False,
        tensorboard: bool = False,
        channels: int = 3,
        k: int = 3,
    ) -> Runner:
        torch.manual_seed(0)
        backends = [dict(type="LocalVisBackend")]
        if tensorboard:
            backends.append(dict(type="TensorboardVisBackend"))
        evaluation = {}
        if val:
            evaluation = dict(
                val_dataloader=_loader(channels),
                val_evaluator=[ToyMetric()],
                val_cfg=dict(type="ValLoop"),
            )
        return Runner(
            model=ToyModel(in_channels=channels),
            work_dir=str(work_dir),
            experiment_name=f"engine_test_{next(_names)}",
            default_scope="p2s",
            train_dataloader=_loader(channels),
            train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
            optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="Ranger", lr=1e-3, k=k)),
            default_hooks=dict(
                checkpoint=dict(type=checkpoint, interval=2, by_epoch=False, **(checkpoint_options or {})),
                logger=dict(type="LoggerHook", interval=1),
            ),
            custom_hooks=[dict(type="SafeCheckpointHook")] if custom_hooks is None else custom_hooks,
            # `_scope_`: build from MMEngine's registry, whether or not p2s.visualization exists
            visualizer=dict(type="Visualizer", vis_backends=backends, _scope_="mmengine"),
            randomness=dict(seed=0, deterministic=True),
            resume=resume,
            **evaluation,
        )

    return make
