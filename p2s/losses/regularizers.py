"""Latent-code regularisers (the official ``w_norm_lambda`` term)."""

from __future__ import annotations

import torch

from p2s.losses.base import BaseLoss
from p2s.registry import LOSSES
from p2s.utils.errors import P2SError


@LOSSES.register_module()
class WNormLoss(BaseLoss):
    """Mean over the batch of the Frobenius norm of each sample's (residual) code.

    With ``start_from_latent_avg`` the codes given to the generator include
    ``latent_avg``, so it is subtracted first and the loss pulls the encoder's output
    towards the average latent, as in pSp.

    Args:
        loss_weight: factor on the mean norm (official ``w_norm_lambda``).
        start_from_latent_avg: subtract ``latent_avg`` from ``codes`` first.
        loss_name: logged name.
    """

    def __init__(
        self,
        loss_weight: float = 0.005,
        start_from_latent_avg: bool = True,
        loss_name: str = "loss_w_norm",
    ) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        self.start_from_latent_avg = start_from_latent_avg

    def forward(
        self,
        pred: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        *,
        codes: torch.Tensor | None = None,
        latent_avg: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        if codes is None:
            raise P2SError(f"{type(self).__name__} needs the W+ codes (codes=...)")
        latent = codes
        if self.start_from_latent_avg:
            if latent_avg is None:
                raise P2SError(
                    f"{type(self).__name__} with start_from_latent_avg=True needs latent_avg"
                )
            latent = codes - latent_avg.to(codes.dtype)
        norms = latent.flatten(1).norm(p=2, dim=1)
        return norms.sum() / latent.shape[0] * self.loss_weight

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, start_from_latent_avg={self.start_from_latent_avg}"
