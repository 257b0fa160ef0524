"""pSp's GradualStyleEncoder: a feature pyramid with one map2style head per W+ row."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from p2s.encoders.base import BackboneEncoder
from p2s.generators.layers import EqualLinear
from p2s.registry import ENCODERS


class GradualStyleBlock(nn.Module):
    """map2style: stride-2 3x3 convs (LeakyReLU 0.01) down to 1x1, then an EqualLinear.

    The convs are ``hidden_channels`` wide (pSp: ``out_channels``); narrower heads keep
    small encoders small, since there is one head per W+ row.
    """

    def __init__(self, in_channels: int, out_channels: int, spatial: int, hidden_channels: int | None = None) -> None:
        super().__init__()
        hidden = hidden_channels or out_channels
        num_pools = int(math.log2(spatial))
        layers: list[nn.Module] = []
        for i in range(max(num_pools, 1)):
            layers += [nn.Conv2d(in_channels if i == 0 else hidden, hidden, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.hidden_channels = hidden
        self.linear = EqualLinear(hidden, out_channels, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        return self.linear(x.reshape(-1, self.hidden_channels))


def upsample_add(coarse: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear (align_corners=True, as pSp) up-sampling of ``coarse`` + ``lateral``."""
    size = lateral.shape[-2:]
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=True) + lateral


@ENCODERS.register_module()
class GradualStyleEncoder(BackboneEncoder):
    """Coarse rows (< ``coarse``) read the deepest stage, middle rows (< ``middle``) the
    next pyramid level, fine rows the finest.

    Args:
        backbone: backbone config, e.g. ``dict(type='IRSEBackbone', depth=50)``.
        num_ws: W+ rows (the generator's ``num_ws``; 18 at 1024 px, 14 at 256).
        w_dim: style width (512).
        coarse, middle: the row splits (3 and 7 in the paper).
        input_size: encoder input resolution; sets how many convs each head needs.
        head_channels: width of each map2style head's convs (``None``: ``w_dim``, as pSp).
    """

    def __init__(
        self,
        backbone: dict,
        num_ws: int,
        w_dim: int = 512,
        coarse: int = 3,
        middle: int = 7,
        input_size: int = 256,
        head_channels: int | None = None,
    ) -> None:
        super().__init__(backbone, num_ws, w_dim)
        _, c2, c3, c4 = self.stage_channels
        sizes = [input_size // s for s in self.stage_strides]
        #: the largest input side the heads fit (their convs bring it down to 1x1)
        self.input_size = int(input_size)
        self.coarse, self.middle = coarse, middle
        self.styles = nn.ModuleList()
        for i in range(num_ws):
            spatial = sizes[3] if i < coarse else sizes[2] if i < middle else sizes[1]
            self.styles.append(GradualStyleBlock(c4, w_dim, spatial, head_channels))
        # pyramid levels exist only when some rows read them (unused layers would stall DDP)
        if num_ws > coarse:
            self.latlayer1 = nn.Conv2d(c3, c4, 1, 1, 0)
        if num_ws > middle:
            self.latlayer2 = nn.Conv2d(c2, c4, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > self.input_size:
            # the heads' convs would leave maps larger than 1x1, and flattening them would
            # silently multiply the batch (4x for twice the side)
            raise ValueError(f"{type(self).__name__} takes input of at most {self.input_size}x{self.input_size} "
                             f"(its input_size), got {list(x.shape)}")
        _, c1, c2, c3 = self.stages(x)
        latents = [self.styles[j](c3) for j in range(min(self.coarse, self.num_ws))]
        if self.num_ws > self.coarse:
            p2 = upsample_add(c3, self.latlayer1(c2))
            latents += [self.styles[j](p2) for j in range(self.coarse, min(self.middle, self.num_ws))]
        if self.num_ws > self.middle:
            p1 = upsample_add(p2, self.latlayer2(c1))
            latents += [self.styles[j](p1) for j in range(self.middle, self.num_ws)]
        return torch.stack(latents, dim=1)
