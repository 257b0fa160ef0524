"""Frontalization flips its source and its target apart, as the official transforms."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from p2s.datasets.transforms.official import normalize, to_tensor
from p2s.tasks import Frontalization


def _face() -> Image.Image:
    return Image.fromarray(np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8))


def test_source_and_target_are_flipped_each_with_its_own_draw():
    """Official FrontalizationTransforms: transform_source and transform_gt_train each hold a
    RandomHorizontalFlip(0.5), applied apart by ImagesDataset (p2s flipped the target only,
    so a mirrored source was never seen)."""
    task, plain = Frontalization(image_size=16), normalize(to_tensor(_face()))
    seen = set()
    for seed in range(32):
        source, target = task.training_sample(_face(), None, np.random.default_rng(seed), train=True)
        flips = []
        for image in (source, target):
            assert torch.equal(image, plain) or torch.equal(image, plain.flip(-1))
            flips.append(not torch.equal(image, plain))
        seen.add(tuple(flips))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_validation_flips_nothing():
    source, target = Frontalization(image_size=16).training_sample(_face(), None, np.random.default_rng(0), train=False)
    plain = normalize(to_tensor(_face()))
    assert torch.equal(source, plain) and torch.equal(target, plain)
