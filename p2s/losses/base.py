"""The loss contract the pSp model relies on, and the frozen-network helpers.

Every loss is called as ``loss(pred, target, source=..., codes=..., latent_avg=...)`` and
returns one scalar that is already multiplied by its ``loss_weight``.  Its ``loss_name``
starts with ``loss_``: MMEngine's ``parse_losses`` sums every logged key that contains
``loss``, so the name decides whether a value is optimised.  Values meant only for the
logs must therefore be named without ``loss``.

Pretrained networks inside losses (LPIPS trunk, IR-SE50, MoCo ResNet-50) are *frozen*:
no parameter requires grad, they stay in eval mode whatever ``train()`` the parent model
calls, and they are left out of ``state_dict()`` (they come from their own weight files,
so training checkpoints keep the official ``encoder.*`` / ``decoder.*`` layout).
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from typing import Any

import torch
from torch import nn

from p2s.utils.errors import P2SError

__all__ = ["FACE_CROP", "BaseLoss", "FrozenNetworkMixin", "crop_images", "freeze"]

#: ``(top, bottom, left, right)`` of the face region of an FFHQ-aligned 256x256 image:
#: rows 35:223 and columns 32:220, as the official pSp ID loss and ``*_crop`` losses use.
FACE_CROP: tuple[int, int, int, int] = (35, 223, 32, 220)


def crop_images(images: torch.Tensor, crop: tuple[int, int, int, int] | None) -> torch.Tensor:
    """``images[:, :, top:bottom, left:right]`` for ``crop=(top, bottom, left, right)``."""
    if crop is None:
        return images
    top, bottom, left, right = crop
    return images[:, :, top:bottom, left:right]


def check_crop(crop: Any, owner: str) -> tuple[int, int, int, int] | None:
    """Validate a ``(top, bottom, left, right)`` crop; ``None`` means the whole image."""
    if crop is None:
        return None
    try:
        values = tuple(int(v) for v in crop)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or values[0] >= values[1] or values[2] >= values[3] or min(values) < 0:
        raise P2SError(
            f"{owner} crop must be (top, bottom, left, right) with top < bottom and "
            f"left < right, e.g. FACE_CROP {FACE_CROP}; got {crop!r}"
        )
    return values  # type: ignore[return-value]


def freeze(module: nn.Module) -> nn.Module:
    """Make ``module`` a fixed function: no parameter requires grad, eval mode."""
    module.requires_grad_(False)
    module.eval()
    return module


class FrozenNetworkMixin:
    """Keeps the sub-networks added with :meth:`add_frozen` frozen.

    Mix into an ``nn.Module`` (before it in the bases).  Frozen sub-networks stay in eval
    mode when ``train()`` is called on this module or any parent, and their weights are
    neither saved in ``state_dict()`` nor expected when a state dict is loaded (set
    ``persist_frozen = True`` on a subclass to keep them in the state dict).
    """

    #: save frozen sub-networks in ``state_dict()`` (off: they come from weight files)
    persist_frozen: bool = False

    def add_frozen(self, name: str, module: nn.Module) -> nn.Module:
        """Register ``module`` as sub-module ``name``, frozen."""
        names = self.__dict__.get("_frozen_names")
        if names is None:
            names = []
            self.__dict__["_frozen_names"] = names
            if not self.persist_frozen:
                owner: Any = self  # an nn.Module (the mixin is placed before it)
                owner.register_state_dict_post_hook(_drop_frozen_from_state_dict)
                owner.register_load_state_dict_pre_hook(_fill_in_frozen)
        setattr(self, name, freeze(module))
        if name not in names:
            names.append(name)
        return module

    @property
    def frozen_names(self) -> tuple[str, ...]:
        """Names of the frozen sub-modules."""
        return tuple(self.__dict__.get("_frozen_names", ()))

    def train(self, mode: bool = True):  # noqa: ANN201 - returns self, like nn.Module.train
        super().train(mode)  # type: ignore[misc]
        for name in self.frozen_names:
            getattr(self, name).eval()
        return self


def _frozen_prefixes(module: FrozenNetworkMixin, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{name}." for name in module.frozen_names)


def _drop_frozen_from_state_dict(
    module: Any, state_dict: dict, prefix: str, local_metadata: Any
) -> None:
    prefixes = _frozen_prefixes(module, prefix)
    for key in [k for k in state_dict if k.startswith(prefixes)]:
        del state_dict[key]


def _fill_in_frozen(module: Any, state_dict: dict, prefix: str, *args: Any) -> None:
    """Load-time counterpart: a state dict without the frozen weights keeps the current ones.

    Runs before this module's own entries are read; the sub-modules are loaded from the same
    (already copied) dict afterwards, so the filled-in entries are copied onto themselves.
    """
    for name in module.frozen_names:
        for local, value in getattr(module, name).state_dict().items():
            state_dict.setdefault(f"{prefix}{name}.{local}", value)


class BaseLoss(nn.Module, metaclass=ABCMeta):
    """A weighted training loss: ``forward`` returns ``loss_weight * value`` (a scalar).

    Args:
        loss_weight: factor applied to the value (the official ``*_lambda``).
        loss_name: the key the model logs the value under; must start with ``loss_``
            so that MMEngine sums it into the total loss.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = "loss_x") -> None:
        super().__init__()
        if not isinstance(loss_name, str) or not loss_name.startswith("loss_"):
            raise P2SError(
                f"{type(self).__name__} loss_name must start with 'loss_' (MMEngine sums the "
                f"logged values whose name contains 'loss'), got {loss_name!r}"
            )
        if isinstance(loss_weight, bool) or not isinstance(loss_weight, (int, float)) or not (
                math.isfinite(loss_weight) and loss_weight >= 0):
            raise P2SError(f"{type(self).__name__} loss_weight must be a finite number >= 0 (a negative one "
                           f"maximises the loss), got {loss_weight!r}")
        self.loss_weight = float(loss_weight)
        self.loss_name = loss_name

    @abstractmethod
    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        *,
        source: torch.Tensor | None = None,
        codes: torch.Tensor | None = None,
        latent_avg: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Implemented by every concrete subclass."""

    def extra_repr(self) -> str:
        return f"loss_name={self.loss_name!r}, loss_weight={self.loss_weight}"


def configured_loss_name(loss: Any) -> str | None:
    """The ``loss_name`` a loss config logs under: its own, or its class's default
    (None when the config alone cannot tell)."""
    import inspect

    from p2s.registry import LOSSES
    from p2s.utils.build import config_class

    if isinstance(loss, dict) and isinstance(loss.get("loss_name"), str):
        return loss["loss_name"]
    cls = config_class(LOSSES, loss)
    parameter = inspect.signature(cls).parameters.get("loss_name") if callable(cls) else None
    default = getattr(parameter, "default", None)
    return default if isinstance(default, str) else None
