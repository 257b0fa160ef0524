"""The colorization task adapter."""

from __future__ import annotations

import torch
from PIL import Image

from p2s.datasets.transforms.official import normalize, pil_resize, to_tensor
from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Colorization(TaskAdapter):
    """One-channel luminance in [-1, 1] -> RGB face; sources are made from targets
    (PIL's ITU-R 601 luma), so any folder of colour faces trains it."""

    name = "colorization"
    source_channels = 1
    source_mode = "L"
    accepted_modes = ("L", "LA", "RGB", "RGBA", "P", "1")

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        return normalize(to_tensor(pil_resize(image.convert("L"), self.image_size)))

    def derive_source(self, target: Image.Image, rng, train: bool) -> torch.Tensor:
        return self.prepare_source(target)
