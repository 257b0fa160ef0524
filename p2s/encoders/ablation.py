"""The paper's ablation encoders: the last backbone stage into one W or into W+."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from p2s.encoders.base import BackboneEncoder
from p2s.generators.layers import EqualLinear
from p2s.registry import ENCODERS


@ENCODERS.register_module()
class WEncoder(BackboneEncoder):
    """Global-average-pooled last stage -> EqualLinear -> one W code ``[N, w_dim]``
    (official ``BackboneEncoderUsingLastLayerIntoW``)."""

    learns_in_w = True

    def __init__(self, backbone: dict, num_ws: int, w_dim: int = 512) -> None:
        super().__init__(backbone, num_ws, w_dim)
        self.linear = EqualLinear(self.stage_channels[-1], w_dim, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.stages(x)[-1]
        return self.linear(F.adaptive_avg_pool2d(last, 1).flatten(1))


@ENCODERS.register_module()
class WPlusEncoder(BackboneEncoder):
    """Last stage -> BN, 7x7 pool, linear -> EqualLinear to ``num_ws`` rows at once
    (official ``BackboneEncoderUsingLastLayerIntoWPlus``, the naive W+ baseline)."""

    def __init__(self, backbone: dict, num_ws: int, w_dim: int = 512) -> None:
        super().__init__(backbone, num_ws, w_dim)
        channels = self.stage_channels[-1]
        self.output_layer_2 = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.AdaptiveAvgPool2d((7, 7)),
            nn.Flatten(),
            nn.Linear(channels * 7 * 7, w_dim),
        )
        self.linear = EqualLinear(w_dim, w_dim * num_ws, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = self.stages(x)[-1]
        return self.linear(self.output_layer_2(last)).view(-1, self.num_ws, self.w_dim)
