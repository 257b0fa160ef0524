"""The backbone contract shared by every encoder.

A backbone is an ``input_layer`` followed by one flat ``body`` of residual units.  The
units where a resolution stage ends are listed in ``stage_ends``.  Keeping the body
flat (rather than nested stages) is what lets encoders adopt ``input_layer`` and
``body`` under the official pSp key names (``encoder.input_layer.*``,
``encoder.body.N.*``), so official checkpoints and p2s checkpoints share one layout.
"""

from __future__ import annotations

import torch
from torch import nn


def run_stages(
    input_layer: nn.Module, body: nn.Sequential, stage_ends: tuple[int, ...], x: torch.Tensor
) -> list[torch.Tensor]:
    """Run ``input_layer`` and ``body``, returning the output of every stage."""
    x = input_layer(x)
    ends = set(stage_ends)
    features = []
    for index, unit in enumerate(body):
        x = unit(x)
        if index in ends:
            features.append(x)
    return features


class BaseBackbone(nn.Module):
    """Image ``[N, C, H, W]`` -> dict of named stage features ``stage1`` ... ``stageK``.

    Subclasses set ``input_layer``, ``body``, ``stage_ends`` (body indices where
    stages end), ``stage_channels`` and ``stage_strides`` (total down-sampling of each
    stage output relative to the input image).
    """

    input_layer: nn.Module
    body: nn.Sequential
    stage_ends: tuple[int, ...]
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    in_channels: int

    def stage_names(self) -> list[str]:
        return [f"stage{i + 1}" for i in range(len(self.stage_ends))]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects [N, {self.in_channels}, H, W] input, "
                f"got {list(x.shape)}"
            )
        feats = run_stages(self.input_layer, self.body, self.stage_ends, x)
        return dict(zip(self.stage_names(), feats))
