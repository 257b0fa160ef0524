"""SuperResolution refuses, when it is built, a factor its image size cannot be degraded by,
and trains without flips, as the official transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.datasets.transforms.official import normalize, to_tensor
from p2s.tasks import SuperResolution
from p2s.utils.errors import P2SError


@pytest.mark.parametrize("options, expected", [
    (dict(resize_factor=32, train_factors=(4,)), "resize_factor 32 does not fit task image_size 48"),
    (dict(resize_factor=4), "train_factors 32 does not fit task image_size 48"),  # the default factors
    (dict(resize_factor=4, train_factors=(4, 3)), r"train_factors must be one of \(1, 2, 4, 8, 16, 32\), got 3"),
])
def test_a_factor_that_does_not_fit_image_size_is_refused_when_built(options, expected):
    with pytest.raises(P2SError, match=rf"^{expected}"):
        SuperResolution(image_size=48, **options)


def test_a_factor_as_large_as_the_image_is_refused():
    """32 divides 32, but the filter's reflect padding (48 px) needs a larger image."""
    with pytest.raises(P2SError, match=r"^resize_factor 32 does not fit task image_size 32: .* larger than 48$"):
        SuperResolution(image_size=32, resize_factor=32, train_factors=(32,))


@pytest.mark.parametrize("factor", [1, 2, 4, 8, 16, 32])
def test_every_factor_that_is_accepted_runs(factor):
    task = SuperResolution(image_size=64, resize_factor=factor, train_factors=(factor,))
    face = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert task.prepare_source(face).shape == (3, 64, 64)
    assert task.derive_source(face, np.random.default_rng(0), train=True).shape == (3, 64, 64)


def test_translate_refuses_such_a_factor_in_one_line(tiny, tmp_path):
    checkpoint = tiny.write_tiny_checkpoint(
        tmp_path / "sr48.pt", dict(type="SuperResolution", image_size=48, resize_factor=4, train_factors=(1, 4)))
    out = tmp_path / "out"
    result = tiny.invoke("translate", "--checkpoint", checkpoint, "--input", tiny.write_rgb(tmp_path / "a.png"),
                         "--output", out, "--device", "cpu", "--resize-factor", "32")
    assert tiny.one_line_error(result).startswith("error: resize_factor 32 does not fit task image_size 48")
    assert not out.exists()


def test_training_never_flips_the_target_as_the_official_transforms():
    """The official SuperResTransforms have no RandomHorizontalFlip (the task inherited
    the inversion's joint flip, so half the training faces were mirrored)."""
    face = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    task = SuperResolution(image_size=32, resize_factor=1, train_factors=(1,))
    want = normalize(to_tensor(face))
    for seed in range(16):
        _, target = task.training_sample(face, None, np.random.default_rng(seed), train=True)
        assert torch.equal(target, want), seed
