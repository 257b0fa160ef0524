"""LPIPS perceptual loss (the official ``lpips_lambda`` and ``lpips_lambda_crop`` terms).

Wraps the ``lpips`` package.  Its learned linear layers ship inside the wheel, but its
trunk (torchvision's AlexNet or VGG16 features) would be downloaded at construction, so
p2s builds the trunk randomly (``pnet_rand=True``) and loads torchvision's file itself,
from an explicit path or from the torch hub cache; nothing is ever downloaded.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from p2s.losses.base import BaseLoss, FrozenNetworkMixin, check_crop, crop_images
from p2s.registry import LOSSES
from p2s.utils.checkpoint import check_state_dict, describe_mismatch, load_checkpoint_file
from p2s.utils.errors import CheckpointMismatchError, MissingWeightsError, P2SError

__all__ = ["LPIPS_TRUNKS", "LPIPSLoss", "lpips_trunk_key_map", "resolve_trunk_weights"]

#: lpips ``net`` -> (torchvision weight file, torchvision builder name)
LPIPS_TRUNKS: dict[str, tuple[str, str]] = {
    "alex": ("alexnet-owt-7be5be79.pth", "alexnet"),
    "vgg": ("vgg16-397923af.pth", "vgg16"),
}

#: lpips trunk parameter names: ``slice<k>.<torchvision features index>.<param>``
_SLICE_KEY = re.compile(r"^slice\d+\.(\d+)\.(.+)$")


def hub_checkpoint_dir() -> Path:
    """Where torchvision keeps downloaded weights: ``<torch.hub.get_dir()>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_trunk_weights(
    net: str, backbone_weights: str | None = None, option: str = "backbone_weights", instead: str = ""
) -> Path:
    """The torchvision weight file of the LPIPS trunk ``net``, or a MissingWeightsError.

    ``option`` is how the user gives the path (a config key, or a CLI flag such as
    ``--lpips-weights``) and ``instead`` an alternative without LPIPS, both for the message.
    """
    file_name, builder = LPIPS_TRUNKS[net]
    hub_dir = hub_checkpoint_dir()
    download = (
        f"run `python -c \"import torchvision; torchvision.models.{builder}(weights='DEFAULT')\"` "
        f"on a machine with internet (it saves {file_name} in <torch hub dir>/checkpoints), "
        f"or copy {file_name} into {hub_dir}"
    )
    what = f"LPIPS {builder} trunk weights ({file_name})"
    flag = option.startswith("--")
    instead = f"; {instead}" if instead else ""
    if backbone_weights is not None:
        path = Path(backbone_weights).expanduser()
        if not path.is_file():
            given = f"{option} {backbone_weights}" if flag else f"{option}={str(backbone_weights)!r}"
            raise MissingWeightsError(
                what,
                str(path.resolve()),
                f"Looked only at {given}. Fix the path, or leave {option} out to use "
                f"{hub_dir / file_name} ({download}){instead}.",
            )
        return path
    path = hub_dir / file_name
    if not path.is_file():
        raise MissingWeightsError(
            what,
            str(path),
            f"Looked only in the torch hub cache {hub_dir} (torch.hub.get_dir(), i.e. "
            f"$TORCH_HOME/hub); nothing is downloaded. To get it, {download}, or pass "
            f"{option}{' ' if flag else '='}PATH{instead}.",
        )
    return path


def lpips_trunk_key_map(trunk: nn.Module) -> dict[str, str]:
    """lpips trunk key -> torchvision key (``slice2.3.weight`` -> ``features.3.weight``).

    lpips copies torchvision's ``features`` layers into ``slice1..sliceK`` under their
    original indices, so the index in the name is the torchvision index.
    """
    mapping: dict[str, str] = {}
    for key in trunk.state_dict():
        match = _SLICE_KEY.match(key)
        if match is None:
            raise RuntimeError(f"unexpected lpips trunk key {key!r} (lpips version change?)")
        mapping[key] = f"features.{match.group(1)}.{match.group(2)}"
    return mapping


def load_trunk_weights(trunk: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load torchvision ``features.*`` weights into an lpips trunk, strictly for the features.

    Keys outside ``features.`` (the classifier) are ignored; every trunk parameter must be
    present with its shape, and the file must have no other ``features.*`` entry.
    """
    mapping = lpips_trunk_key_map(trunk)
    own = trunk.state_dict()
    expected = {tv_key: own[lp_key] for lp_key, tv_key in mapping.items()}
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    diff = describe_mismatch(expected, features)
    if diff:
        raise CheckpointMismatchError(f"{source} does not match the LPIPS trunk: {diff}")
    trunk.load_state_dict({lp_key: features[tv_key] for lp_key, tv_key in mapping.items()})


def build_lpips(net: str) -> nn.Module:
    """``lpips.LPIPS`` with a random trunk and the shipped linear layers, built quietly."""
    import lpips  # noqa: PLC0415 - slow import (torchvision models), only when used

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # torchvision warns that ``pretrained`` is deprecated; lpips prints its set-up
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)


@LOSSES.register_module()
class LPIPSLoss(FrozenNetworkMixin, BaseLoss):
    """LPIPS distance of ``pred`` and ``target`` (both in [-1, 1]), averaged over the batch.

    Args:
        loss_weight: factor on the mean distance (official ``lpips_lambda`` 0.8).
        net: ``'alex'`` (as pSp) or ``'vgg'``.
        backbone_weights: torchvision's ``alexnet-owt-7be5be79.pth`` /
            ``vgg16-397923af.pth``; by default looked up in ``<torch hub dir>/checkpoints``.
        random_backbone: keep the trunk random (tests only: the distance is meaningless).
        crop: ``(top, bottom, left, right)`` region to compare (``FACE_CROP`` for the
            official ``lpips_lambda_crop`` term), or ``None``.
        loss_name: logged name.
    """

    def __init__(
        self,
        loss_weight: float = 0.8,
        net: str = "alex",
        backbone_weights: str | None = None,
        random_backbone: bool = False,
        crop: tuple[int, int, int, int] | None = None,
        loss_name: str = "loss_lpips",
    ) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        if net not in LPIPS_TRUNKS:
            raise P2SError(f"LPIPSLoss net must be one of {sorted(LPIPS_TRUNKS)}, got {net!r}")
        self.net_type = net
        self.crop = check_crop(crop, type(self).__name__)
        self.random_backbone = bool(random_backbone)
        path = None if random_backbone else resolve_trunk_weights(net, backbone_weights)
        model = build_lpips(net)
        if path is not None:
            file_name = LPIPS_TRUNKS[net][0]
            state = load_checkpoint_file(path, f"LPIPS trunk weights ({file_name})")
            if isinstance(state, Mapping) and "state_dict" in state:
                state = state["state_dict"]
            source = f"LPIPS trunk weights '{path}'"
            load_trunk_weights(model.net, check_state_dict(state, source), source)
        self.weights_path = None if path is None else str(path)
        self.add_frozen("lpips", model)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        distance = self.lpips(
            crop_images(pred, self.crop), crop_images(target, self.crop), normalize=False
        )
        return distance.mean() * self.loss_weight

    def extra_repr(self) -> str:
        trunk = "random" if self.random_backbone else self.weights_path
        return f"{super().extra_repr()}, net={self.net_type!r}, trunk={trunk!r}, crop={self.crop}"
