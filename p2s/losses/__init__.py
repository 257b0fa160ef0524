"""Training losses (registry ``LOSSES``): ``loss(pred, target, *, source, codes, latent_avg)``
returns a weighted scalar whose ``loss_name`` starts with ``loss_``."""

from p2s.losses.base import FACE_CROP, BaseLoss, FrozenNetworkMixin, crop_images, freeze
from p2s.losses.identity import IDLoss
from p2s.losses.lpips import LPIPSLoss
from p2s.losses.moco import MoCoLoss
from p2s.losses.pixel import L2Loss
from p2s.losses.regularizers import WNormLoss

__all__ = [
    "FACE_CROP",
    "BaseLoss",
    "FrozenNetworkMixin",
    "IDLoss",
    "L2Loss",
    "LPIPSLoss",
    "MoCoLoss",
    "WNormLoss",
    "crop_images",
    "freeze",
]
