"""ResNet-34 backbone for non-face domains (random init or torchvision weights)."""

from __future__ import annotations

import re

from torch import nn
from torchvision.models.resnet import BasicBlock

from p2s.backbones.base import BaseBackbone
from p2s.registry import BACKBONES
from p2s.utils.checkpoint import check_state_dict, describe_mismatch, load_checkpoint_file
from p2s.utils.errors import CheckpointMismatchError

RESNET34_UNITS = (3, 4, 6, 3)
#: ``layer{stage}.{unit}.{rest}`` of torchvision's ResNet-34 (stages 1..4)
_LAYER_KEY = re.compile(r"layer([1-4])\.([0-9]+)\.(.+)", re.DOTALL)
RESNET34_HOW_TO_GET = (
    "Use torchvision's resnet34 ImageNet file (resnet34-b627a593.pth, e.g. from "
    "~/.cache/torch/hub/checkpoints on a machine that has it) and pass its path."
)


@BACKBONES.register_module()
class ResNet34Backbone(BaseBackbone):
    """torchvision ResNet-34 without max-pool or head, so its stages have the same
    strides as IR-SE (2, 4, 8, 16) and the same pSp feature pyramid fits on top.

    Args:
        in_channels: input channels; torchvision's ``conv1`` is loaded only for 3.
        weights: optional path of a torchvision ``resnet34`` state dict.
    """

    def __init__(self, in_channels: int = 3, weights: str | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_layer = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        units, ends, width_in = [], [], 64
        for stage, (num_units, width) in enumerate(zip(RESNET34_UNITS, (64, 128, 256, 512))):
            for i in range(num_units):
                stride = 2 if (i == 0 and stage > 0) else 1
                downsample = None
                if stride != 1 or width_in != width:
                    downsample = nn.Sequential(
                        nn.Conv2d(width_in, width, 1, stride, bias=False), nn.BatchNorm2d(width)
                    )
                units.append(BasicBlock(width_in, width, stride, downsample))
                width_in = width
            ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        self.stage_ends = tuple(ends)
        self.stage_channels = (64, 128, 256, 512)
        self.stage_strides = (2, 4, 8, 16)
        if weights:
            self.load_torchvision(weights)

    def load_torchvision(self, path: str) -> None:
        """Map torchvision names (``conv1``, ``bn1``, ``layerK.J``) onto this layout."""
        source = f"ResNet-34 weights '{path}'"
        raw = load_checkpoint_file(path, "ResNet-34 weights", RESNET34_HOW_TO_GET)
        state = check_state_dict(raw, source, RESNET34_HOW_TO_GET)
        mapped = {}
        for key, value in state.items():
            name = self._own_name(key)
            if name is not None:
                mapped[name] = value
        own = self.state_dict()
        if self.in_channels != 3:
            own = {k: v for k, v in own.items() if not k.startswith("input_layer.0.")}
        diff = describe_mismatch(own, mapped)
        if diff:
            raise CheckpointMismatchError(f"{source} do not match: {diff}")
        self.load_state_dict(mapped, strict=False)

    def _own_name(self, key: str) -> str | None:
        """This layout's name for a torchvision key; ``None`` for keys it has no use for
        (``fc.*``, ``conv1`` of a non-RGB input).  A ``layer*`` key outside ResNet-34
        (``layer5.0.x``, ``layer1.9.x``) is kept as it is, so the mismatch names it."""
        head, _, rest = key.partition(".")
        if head == "conv1":
            return f"input_layer.0.{rest}" if self.in_channels == 3 else None
        if head == "bn1":
            return f"input_layer.1.{rest}"
        if not head.startswith("layer"):
            return None
        match = _LAYER_KEY.fullmatch(key)
        if match is None:
            return key
        stage, unit, tail = int(match[1]) - 1, int(match[2]), match[3]
        if unit >= RESNET34_UNITS[stage]:
            return key
        return f"body.{sum(RESNET34_UNITS[:stage]) + unit}.{tail}"
