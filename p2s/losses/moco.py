"""MoCo-v2 feature loss: the identity loss of non-face domains (official ``moco_lambda``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from p2s.losses.base import BaseLoss, FrozenNetworkMixin
from p2s.registry import LOSSES
from p2s.utils.checkpoint import describe_mismatch, load_checkpoint_file
from p2s.utils.errors import CheckpointMismatchError, P2SError

__all__ = ["MOCO_PREFIX", "MoCoLoss", "load_moco_resnet50"]

#: where a MoCo training checkpoint keeps the query encoder (a DDP-wrapped ResNet-50)
MOCO_PREFIX = "module.encoder_q."
MOCO_HOW_TO_GET = (
    "Download moco_v2_800ep_pretrain.pt (the pSp README's MoCo ResNet-50) or "
    "moco_v2_800ep_pretrain.pth.tar (facebookresearch/moco; the same weights) and pass its path."
)
#: the official loss resizes to the ResNet's ImageNet input size
MOCO_SIZE = 224


def load_moco_resnet50(resnet: nn.Module, checkpoint: object, source: str) -> None:
    """Load the query encoder of a MoCo checkpoint into a torchvision ResNet-50.

    ``checkpoint`` is the file's content: ``{'state_dict': {'module.encoder_q.<key>': ...}}``
    (a bare state dict is accepted too).  The MLP head ``module.encoder_q.fc.*`` and every
    entry outside the query encoder (key encoder, queue) are ignored; every other ResNet
    weight must be present with its shape.
    """
    state = checkpoint
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(
            f"{source} holds a {type(state).__name__}, not a MoCo checkpoint dict"
        )
    head = MOCO_PREFIX + "fc."
    subset = {
        k[len(MOCO_PREFIX):]: v
        for k, v in state.items()
        if isinstance(k, str) and k.startswith(MOCO_PREFIX) and not k.startswith(head)
    }
    if not subset:
        raise CheckpointMismatchError(
            f"{source} has no '{MOCO_PREFIX}*' entries: not a MoCo v2 training checkpoint "
            "(expected {'state_dict': {'module.encoder_q.conv1.weight': ...}})"
        )
    expected = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    diff = describe_mismatch(expected, subset)
    if diff:
        raise CheckpointMismatchError(f"{source} does not match a ResNet-50 query encoder: {diff}")
    result = resnet.load_state_dict(subset, strict=False)
    stray = [
        k for k in result.missing_keys
        if not k.startswith("fc.") and not k.endswith("num_batches_tracked")
    ]
    if stray or result.unexpected_keys:  # pragma: no cover - describe_mismatch checked this
        raise CheckpointMismatchError(
            f"{source}: missing {stray}, unexpected {result.unexpected_keys}"
        )


@LOSSES.register_module()
class MoCoLoss(FrozenNetworkMixin, BaseLoss):
    """``mean_i (1 - <f(pred_i), f(target_i)>)`` with ``f`` the L2-normalised pooled
    features of a MoCo-v2 ResNet-50 (its fc head removed); target features are detached.

    Images are resized to 224x224 and fed as they are ([-1, 1]), as pSp does.

    Args:
        weights: path of a MoCo-v2 checkpoint (``moco_v2_800ep_pretrain.pt`` or ``.pth.tar``).
        loss_weight: factor on the mean distance (official ``moco_lambda``).
        random_init: allow ``weights=None`` and keep the network random (tests only).
        loss_name: logged name.
        resize_mode: ``F.interpolate`` mode of the resize to 224.  Default ``'nearest'``,
            as the official code (``F.interpolate(x, size=224)``); ``'bilinear'`` or
            ``'area'`` alias less.
    """

    def __init__(
        self,
        weights: str | None,
        loss_weight: float = 0.5,
        random_init: bool = False,
        loss_name: str = "loss_moco",
        resize_mode: str = "nearest",
    ) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        if weights is None and not random_init:
            raise P2SError(
                "MoCoLoss needs MoCo-v2 weights: set its weights in the config to the "
                f"checkpoint's path. {MOCO_HOW_TO_GET}"
            )
        if resize_mode not in ("bilinear", "bicubic", "nearest", "area"):
            raise P2SError(
                "MoCoLoss resize_mode must be bilinear, bicubic, nearest or area, "
                f"got {resize_mode!r}"
            )
        self.resize_mode = resize_mode
        self.weights_path = None if weights is None else str(weights)
        checkpoint = None
        if weights is not None:  # read before building: a bad path fails fast
            checkpoint = load_checkpoint_file(weights, "MoCo-v2 weights", MOCO_HOW_TO_GET)
        import torchvision  # noqa: PLC0415 - slow import, only when used

        resnet = torchvision.models.resnet50(weights=None)
        if checkpoint is not None:
            load_moco_resnet50(resnet, checkpoint, f"MoCo-v2 weights '{weights}'")
        self.add_frozen("backbone", nn.Sequential(*list(resnet.children())[:-1]))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` -> ``[N, 2048]`` unit vectors."""
        kwargs = {} if self.resize_mode in ("nearest", "area") else {"align_corners": False}
        size = (MOCO_SIZE, MOCO_SIZE)
        resized = F.interpolate(images, size=size, mode=self.resize_mode, **kwargs)
        return F.normalize(self.backbone(resized).flatten(1), dim=1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        # one pass for both halves: the network is in eval mode, so samples do not interact
        feats = self.features(torch.cat([pred, target.to(pred.dtype)], dim=0))
        pred_feat, target_feat = feats.split(pred.shape[0], dim=0)
        similarity = (pred_feat * target_feat.detach()).sum(dim=1)
        return (1 - similarity).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, weights={self.weights_path!r}, "
            f"resize_mode={self.resize_mode!r}"
        )
