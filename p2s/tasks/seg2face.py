"""Segmentation map -> face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2s.datasets.transforms.official import official_source_tensor
from p2s.registry import TASKS
from p2s.tasks.base import SOURCE_SIZE, SourceImageError, TaskAdapter
from p2s.utils.errors import P2SError


@TASKS.register_module()
class Seg2Face(TaskAdapter):
    """A single-channel label map (CelebAMask-HQ's 19 classes) -> face.

    The map is resized with PIL bilinear on the label values and one-hot encoded, as
    the official transform does; colour images are refused, since their grey values
    are not class indices.  A palette (P) map is read by its indices: its colours are
    only a display of the classes, and their brightness is not a class.
    """

    name = "seg2face"
    source_channels = 19
    source_mode = "L"
    accepted_modes = ("L", "P")
    preprocessing = "labels"
    official_dataset_types = ("celebs_seg_to_face",)
    source_value_range = (0.0, 1.0)
    #: a flip would swap left/right classes (eyes, brows, ears)
    flip = "none"
    loss_weights = {"l2": 1.0, "lpips": 0.8, "w_norm": 0.005}

    def __init__(self, num_classes: int = 19, image_size: int = SOURCE_SIZE) -> None:
        super().__init__(image_size)
        if num_classes != 19:
            raise P2SError("Seg2Face follows the official 19-class convention")
        self.num_classes = num_classes

    def check_source(self, image: Image.Image, path) -> Image.Image:
        image = super().check_source(_indices(image), path)
        top = int(np.asarray(image).max(initial=0))
        if top >= self.num_classes:
            raise SourceImageError(
                f"{Path(path).name}: label value {top} is not a class index "
                f"0..{self.num_classes - 1}"
            )
        return image

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        return official_source_tensor(_indices(image).convert("L"), "labels", size=self.image_size)


def _indices(image: Image.Image) -> Image.Image:
    """A palette map as an 'L' map of its indices (``convert('L')`` would give colour brightness)."""
    return Image.fromarray(np.asarray(image), "L") if image.mode == "P" else image
