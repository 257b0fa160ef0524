"""Optimisation-based inversion: fit a W+ code to an image by gradient descent.

The classic alternative to an encoder (Image2StyleGAN-style): start from the mean
latent, minimise L2 + LPIPS between the generator's output (pooled to the model's
``pooled_size``, 256 for pSp) and the
target, with the generator frozen and its stored noise.  It is slow (hundreds of
generator passes per image) but needs no training, which makes it the reference the
encoders are compared against.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from p2s.models.psp import PSP
from p2s.utils.errors import P2SError

#: the largest learning rate accepted: far above what works, below what overflows float32 steps
MAX_LR = 10.0


def check_lr(lr: float, name: str = "lr") -> None:
    """Adam's step on W+: in (0, MAX_LR]; 0, negative, NaN or huge steps never fit."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= MAX_LR):
        raise P2SError(f"{name} must be a number in (0, {MAX_LR:g}] (StyleGAN projectors use 0.01 to 0.1), got {lr}")


@dataclass
class ProjectionResult:
    """Final W+ codes ``[N, num_ws, w_dim]``, their images and the loss per step."""

    latents: torch.Tensor
    images: torch.Tensor
    losses: list[float]


class Projector:
    """Fits W+ codes of ``model``'s generator to target images in [-1, 1].

    Args:
        model: a PSP model; only its ``decoder`` and ``latent_avg`` are used.
        lpips: an ``LPIPSLoss`` (weights already loaded), or ``None`` for L2 alone.
        steps: optimisation steps.
        lr: Adam learning rate on the W+ offsets.
        l2_weight, lpips_weight: loss weights.
    """

    def __init__(self, model: PSP, lpips: nn.Module | None = None, steps: int = 300, lr: float = 0.05,
                 l2_weight: float = 1.0, lpips_weight: float = 0.8) -> None:
        if not (isinstance(steps, int) and steps >= 1):
            raise P2SError(f"Projector steps must be a positive integer, got {steps!r}")
        check_lr(lr, "Projector lr")
        self.model = model  # frozen only while projecting: a translator's or trainer's model is left as it was
        self.lpips = lpips
        self.steps, self.lr = steps, lr
        self.l2_weight, self.lpips_weight = l2_weight, lpips_weight

    def _render(self, codes: torch.Tensor) -> torch.Tensor:
        images = self.model.decode(codes, noise_mode="const")
        size = self.model.pooled_size
        return images if images.shape[-1] == size else F.adaptive_avg_pool2d(images, size)

    def _loss(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.l2_weight * F.mse_loss(images, targets)
        if self.lpips is not None:
            loss = loss + self.lpips_weight / self.lpips.loss_weight * self.lpips(images, targets)
        return loss

    def project(self, targets: torch.Tensor, on_step: Callable[[int], None] | None = None) -> ProjectionResult:
        """Fit one W+ code per target ``[N, 3, S, S]`` (``S = pooled_size``, values in [-1, 1]).

        ``on_step(step)`` runs after each step (a progress bar); the losses are read on the
        host once, at the end, so the steps queue up on a GPU without waiting for each other.
        """
        self._check_targets(targets)
        with _frozen(self.model):
            codes, losses = self._fit(targets, on_step)
            with torch.no_grad():
                images = self.model.decode(codes, noise_mode="const")
        return ProjectionResult(codes, images, losses.tolist())

    def _check_targets(self, targets: torch.Tensor) -> None:
        size = self.model.pooled_size
        if not (isinstance(targets, torch.Tensor) and targets.is_floating_point()):
            raise P2SError(f"Projector targets must be a float tensor [N, 3, {size}, {size}] in [-1, 1], got "
                           f"{getattr(targets, 'dtype', type(targets).__name__)}")
        if targets.ndim != 4 or targets.shape[1:] != (3, size, size) or len(targets) == 0:
            raise P2SError(f"Projector targets must be [N, 3, {size}, {size}] (N >= 1), got {list(targets.shape)}")

    def _fit(self, targets: torch.Tensor, on_step: Callable[[int], None] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The optimisation: final codes and the loss per step, both still on the device."""
        start = self.model.latent_avg.detach().unsqueeze(0).expand(len(targets), -1, -1)
        offset = torch.zeros_like(start, requires_grad=True)
        optimizer = torch.optim.Adam([offset], lr=self.lr)
        losses = torch.empty(self.steps, device=targets.device)
        for step in range(self.steps):
            loss = self._loss(self._render(start + offset), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
            if on_step:
                on_step(step)
        return (start + offset).detach(), losses


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode with no parameter gradients, restored afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    training = model.training
    model.eval().requires_grad_(False)
    try:
        yield
    finally:
        for param, flag in zip(model.parameters(), flags):
            param.requires_grad_(flag)
        model.train(training)
