"""Pixel-wise reconstruction loss (the official ``l2_lambda`` and ``l2_lambda_crop`` terms)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from p2s.losses.base import BaseLoss, check_crop, crop_images
from p2s.registry import LOSSES


@LOSSES.register_module()
class L2Loss(BaseLoss):
    """Mean squared error between ``pred`` and ``target``.

    Args:
        loss_weight: factor on the mean squared error.
        crop: ``(top, bottom, left, right)`` region to compare (``FACE_CROP`` for the
            official ``l2_lambda_crop`` term); ``None`` compares whole images.
        loss_name: logged name; a cropped second instance needs its own, e.g.
            ``'loss_l2_crop'``.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        crop: tuple[int, int, int, int] | None = None,
        loss_name: str = "loss_l2",
    ) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        self.crop = check_crop(crop, type(self).__name__)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        value = F.mse_loss(crop_images(pred, self.crop), crop_images(target, self.crop))
        return value * self.loss_weight

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, crop={self.crop}"
