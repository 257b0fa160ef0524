"""The encoder contract: image -> latent codes for a StyleGAN generator."""

from __future__ import annotations

import torch
from torch import nn

from p2s.backbones.base import BaseBackbone, run_stages
from p2s.registry import BACKBONES
from p2s.utils.build import build


class BaseEncoder(nn.Module):
    """Maps ``[N, in_channels, H, W]`` to ``[N, num_ws, w_dim]`` (W+) or, when
    ``learns_in_w`` is true, to ``[N, w_dim]`` (one W code for every layer)."""

    num_ws: int
    w_dim: int
    in_channels: int
    learns_in_w: bool = False


class BackboneEncoder(BaseEncoder):
    """An encoder built on a registered backbone whose ``input_layer`` and ``body``
    it adopts under its own names, matching the official pSp state-dict keys."""

    component_options = {"backbone": BACKBONES}  # checked before anything is built

    def __init__(self, backbone: dict, num_ws: int, w_dim: int) -> None:
        super().__init__()
        net = build(BACKBONES, backbone, BaseBackbone)
        self.input_layer = net.input_layer
        self.body = net.body
        self.stage_ends = net.stage_ends
        self.stage_channels = net.stage_channels
        self.stage_strides = net.stage_strides
        self.in_channels = net.in_channels
        self.num_ws, self.w_dim = num_ws, w_dim

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone features of every stage, coarsest last."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects [N, {self.in_channels}, H, W] input, got {list(x.shape)}"
            )
        return run_stages(self.input_layer, self.body, self.stage_ends, x)
