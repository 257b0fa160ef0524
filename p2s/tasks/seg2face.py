"""Segmentation map -> face."""

from __future__ import annotations

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
    are not class indices.
    """

    name = "seg2face"
    source_channels = 19
    source_mode = "L"
    accepted_modes = ("L", "P")
    preprocessing = "labels"
    official_dataset_types = ("celebs_seg_to_face",)

    def __init__(self, num_classes: int = 19) -> None:
        if num_classes != 19:
            raise P2SError("Seg2Face follows the official 19-class convention")
        self.num_classes = num_classes

    def load_source(self, path) -> Image.Image:
        image = super().load_source(path)
        top = int(np.asarray(image).max(initial=0))
        if top >= self.num_classes:
            raise SourceImageError(
                f"{getattr(path, 'name', path)}: label value {top} is not a class index "
                f"0..{self.num_classes - 1}"
            )
        return image

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        return official_source_tensor(image.convert("L"), "labels", size=SOURCE_SIZE)
