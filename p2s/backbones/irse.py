"""IR and IR-SE residual backbones (ArcFace, TreB1eN layout), as pSp uses them.

Parameter names follow ``model_ir_se50.pth`` exactly (``input_layer.*``,
``body.N.res_layer.*``, ``body.N.shortcut_layer.*``, ``output_layer.*``), so that file
loads strictly and pSp encoders start from it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from p2s.backbones.base import BaseBackbone
from p2s.registry import BACKBONES
from p2s.utils.checkpoint import check_state_dict, describe_mismatch, load_checkpoint_file
from p2s.utils.errors import CheckpointMismatchError, P2SError

#: units per stage for each depth; stage widths are 64, 128, 256, 512
IR_DEPTHS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
STAGE_WIDTHS = (64, 128, 256, 512)
IRSE50_HOW_TO_GET = (
    "Download model_ir_se50.pth (TreB1eN's IR-SE50 ArcFace weights, linked from the pSp "
    "README) and pass its path."
)


class SEModule(nn.Module):
    """Squeeze-and-excitation gate; convs named ``fc1``/``fc2`` as in the weight files."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.adaptive_avg_pool2d(x, 1)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(gate))))
        return x * gate


class Subsample(nn.Module):
    """Every ``stride``-th pixel: the official ``MaxPool2d(1, stride)`` shortcut, whose one-pixel
    window makes it exactly this.  A view, not a kernel (21 of them in IR-SE50), and the
    identity at stride 1."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.stride == 1 else x[:, :, :: self.stride, :: self.stride]

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class BottleneckIR(nn.Module):
    """Pre-activation residual unit: BN, conv3x3, PReLU, conv3x3 (strided), BN [, SE]."""

    def __init__(self, in_channels: int, depth: int, stride: int, use_se: bool) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if use_se:
            layers.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def make_input_layer(in_channels: int, width: int = 64) -> nn.Sequential:
    """conv3x3 -> BN -> PReLU at full resolution (``input_layer.0/1/2``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width)
    )


@BACKBONES.register_module()
class IRSEBackbone(BaseBackbone):
    """IR / IR-SE backbone of depth 50, 100 or 152.

    Args:
        depth: 50, 100 or 152.
        mode: ``'ir_se'`` (with squeeze-excitation) or ``'ir'``.
        in_channels: input channels; a pretrained file's ``input_layer`` is skipped
            when this is not 3 (as the official pSp code does for label maps).
        with_output_layer: add the ArcFace head (BN, dropout, flatten, 25088->512
            linear, BN1d) used for identity embeddings of 112x112 faces.
        drop_ratio: dropout of the head (inactive in eval mode).
        weights: optional path of a TreB1eN-layout file such as ``model_ir_se50.pth``.
        widths: stage widths (official: 64, 128, 256, 512); smaller for tiny models.
        units: units per stage, overriding ``depth`` (tiny models for tests).
    """

    def __init__(
        self,
        depth: int = 50,
        mode: str = "ir_se",
        in_channels: int = 3,
        with_output_layer: bool = False,
        drop_ratio: float = 0.6,
        weights: str | None = None,
        widths: tuple[int, ...] = STAGE_WIDTHS,
        units: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if units is None and depth not in IR_DEPTHS:
            raise P2SError(f"IRSEBackbone depth must be one of 50, 100, 152, got {depth}")
        if mode not in ("ir", "ir_se"):
            raise P2SError(f"IRSEBackbone mode must be 'ir' or 'ir_se', got {mode!r}")
        self.depth, self.mode, self.in_channels = depth, mode, in_channels
        widths = tuple(widths)
        units = tuple(units) if units is not None else IR_DEPTHS[depth]
        if len(widths) != 4 or len(units) != 4:
            raise P2SError(f"IRSEBackbone needs 4 stage widths and unit counts, got {widths}, {units}")
        self.input_layer = make_input_layer(in_channels, widths[0])
        blocks, ends, width_in = [], [], widths[0]
        for num_units, width in zip(units, widths):
            for i in range(num_units):
                stride = 2 if i == 0 else 1
                blocks.append(BottleneckIR(width_in, width, stride, use_se=mode == "ir_se"))
                width_in = width
            ends.append(len(blocks) - 1)
        self.body = nn.Sequential(*blocks)
        self.stage_ends = tuple(ends)
        self.stage_channels = widths
        self.stage_strides = (2, 4, 8, 16)
        self.output_layer = None
        if with_output_layer:
            self.output_layer = nn.Sequential(
                nn.BatchNorm2d(widths[3]),
                nn.Dropout(drop_ratio),
                nn.Flatten(),
                nn.Linear(widths[3] * 7 * 7, 512),
                nn.BatchNorm1d(512),
            )
        if weights:
            self.load_pretrained(weights)

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """L2-normalised identity embedding of 112x112 face crops (needs the head)."""
        if self.output_layer is None:
            raise P2SError("IRSEBackbone.embed needs with_output_layer=True")
        x = self.input_layer(faces)
        x = self.body(x)
        return F.normalize(self.output_layer(x), dim=1)

    def load_pretrained(self, path: str) -> None:
        """Load a TreB1eN-layout file; strict for the parts this backbone has."""
        state = load_checkpoint_file(path, "IR-SE weights", IRSE50_HOW_TO_GET)
        state = state.get("state_dict", state) if isinstance(state, Mapping) else state
        source = f"IR-SE weights '{path}'"
        load_backbone_state(self, check_state_dict(state, source, IRSE50_HOW_TO_GET), source)


def load_backbone_state(backbone: BaseBackbone, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``input_layer``/``body`` (and the head if present) from a pretrained state.

    The input layer is skipped when the backbone does not take 3 channels, and the
    head is skipped when the backbone has none.  Everything else must match exactly.
    """
    state = check_state_dict(state, source)
    wanted = ["body."]
    if backbone.in_channels == 3:
        wanted.append("input_layer.")
    if getattr(backbone, "output_layer", None) is not None:
        wanted.append("output_layer.")
    subset = {k: v for k, v in state.items() if k.startswith(tuple(wanted))}
    own = {k: v for k, v in backbone.state_dict().items() if k.startswith(tuple(wanted))}
    diff = describe_mismatch(own, subset)
    if diff:
        raise CheckpointMismatchError(f"{source} does not match {type(backbone).__name__}: {diff}")
    backbone.load_state_dict(subset, strict=False)
