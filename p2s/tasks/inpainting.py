"""Inpainting: a face with a symmetric triangular hole -> the whole face."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from p2s.registry import TASKS
from p2s.tasks.base import SOURCE_SIZE, TaskAdapter

#: the fixed mask of inference and validation: apex, base row, half-width (fractions)
DEFAULT_TRIANGLE = (0.45, 0.95, 0.3)


def triangle_mask(size: int, apex: float, base: float, half_width: float) -> torch.Tensor:
    """``[size, size]`` bool mask of a triangle symmetric about the vertical centre line:
    apex at row ``apex*size``, base at row ``base*size`` spanning ``±half_width*size``."""
    rows = torch.arange(size, dtype=torch.float32).view(-1, 1) + 0.5
    cols = torch.arange(size, dtype=torch.float32).view(1, -1) + 0.5
    top, bottom, centre = apex * size, base * size, size / 2
    depth = ((rows - top) / max(bottom - top, 1e-6)).clamp(min=0)
    inside_rows = (rows >= top) & (rows <= bottom)
    return inside_rows & ((cols - centre).abs() <= depth * half_width * size)


@TASKS.register_module()
class Inpainting(TaskAdapter):
    """The source is the target with a symmetric triangle blanked out (set to 0, i.e.
    mid-grey in [-1, 1]); training draws the triangle at random, inference uses a
    fixed one.

    Args:
        triangle: ``(apex, base, half_width)`` of the inference mask, as fractions.
    """

    name = "inpainting"

    def __init__(self, triangle: tuple[float, float, float] = DEFAULT_TRIANGLE, image_size: int = SOURCE_SIZE) -> None:
        super().__init__(image_size)
        self.triangle = tuple(triangle)

    def masked(self, image: Image.Image, triangle: tuple[float, float, float]) -> torch.Tensor:
        source = super().prepare_source(image)
        mask = triangle_mask(source.shape[-1], *triangle)
        return source.masked_fill(mask, 0.0)

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        return self.masked(image, self.triangle)

    def derive_source(self, target, rng: np.random.Generator, train: bool) -> torch.Tensor:
        if not train:
            return self.prepare_source(target)
        triangle = (rng.uniform(0.3, 0.6), rng.uniform(0.8, 1.0), rng.uniform(0.15, 0.35))
        return self.masked(target, triangle)
