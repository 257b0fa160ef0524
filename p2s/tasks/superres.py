"""Super-resolution: a degraded face -> a sharp one."""

from __future__ import annotations

import torch
from PIL import Image

from p2s.datasets.transforms.official import official_source_tensor
from p2s.registry import TASKS
from p2s.tasks.base import SOURCE_SIZE, TaskAdapter
from p2s.utils.errors import P2SError

#: the paper's down-sampling factors
SUPERRES_FACTORS = (1, 2, 4, 8, 16, 32)


@TASKS.register_module()
class SuperResolution(TaskAdapter):
    """RGB face degraded by ``resize_factor`` with the official bicubic filter (16 as in
    the official demo), resized back to ``image_size``, then encoded.

    In training the factor is drawn per sample from ``train_factors``.

    Args:
        resize_factor: one of 1, 2, 4, 8, 16, 32 (inference and validation).
        train_factors: factors drawn from in training (the paper: all six).
    """

    name = "superres"
    official_dataset_types = ("celebs_super_resolution",)
    #: the official SuperResTransforms flip neither the target nor the source
    flip = "none"
    loss_weights = {"l2": 1.0, "lpips": 0.8, "id": 0.1, "w_norm": 0.005}

    def __init__(self, resize_factor: int = 16, train_factors: tuple[int, ...] = SUPERRES_FACTORS,
                 image_size: int = SOURCE_SIZE) -> None:
        super().__init__(image_size)
        for option, factor in [("resize_factor", resize_factor), *(("train_factors", f) for f in train_factors)]:
            if factor not in SUPERRES_FACTORS:
                raise P2SError(f"{option} must be one of {SUPERRES_FACTORS}, got {factor}")
            self._check_fits(option, factor)
        self.resize_factor = resize_factor
        self.train_factors = tuple(train_factors)

    def _check_fits(self, option: str, factor: int) -> None:
        """Refuse at set-up a factor the degradation cannot apply to ``image_size`` (it would
        fail on the first image, or in training on the first draw of that factor)."""
        pad = -(-3 * factor // 2)  # the official filter's reflect padding after the image
        if self.image_size % factor or pad >= self.image_size:
            raise P2SError(f"{option} {factor} does not fit task image_size {self.image_size}: the size "
                           f"must be a multiple of the factor and larger than {pad}")

    def derive_source(self, target, rng, train) -> torch.Tensor:
        factor = int(rng.choice(self.train_factors)) if train else self.resize_factor
        return official_source_tensor(target, "superres", resize_factor=factor, size=self.image_size)

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        return official_source_tensor(
            image.convert("RGB"), "superres", resize_factor=self.resize_factor, size=self.image_size
        )
