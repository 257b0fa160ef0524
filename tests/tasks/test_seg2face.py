"""Seg2Face reads label maps as class indices, whatever mode they are saved in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.tasks import Seg2Face

DARK = sum(([i, 0, 0] for i in range(256)), [])  # index i shown as a very dark red
BRIGHT = sum(([255 - i, 10 * i % 256, 190] for i in range(256)), [])  # VOC-like: bright colours


def palette_map(labels: np.ndarray, palette: list[int]) -> Image.Image:
    image = Image.fromarray(labels, "P")
    image.putpalette(palette)
    return image


@pytest.fixture
def labels() -> np.ndarray:
    return np.random.RandomState(0).randint(0, 19, (32, 32)).astype(np.uint8)


@pytest.mark.parametrize("palette", [DARK, BRIGHT], ids=["dark", "bright"])
def test_a_palette_map_is_read_by_its_indices(tmp_path, labels, palette):
    task = Seg2Face()
    palette_map(labels, palette).save(tmp_path / "p.png")
    reference = task.prepare_source(Image.fromarray(labels, "L"))
    loaded = task.load_source(tmp_path / "p.png")
    np.testing.assert_array_equal(np.asarray(loaded), labels)
    torch.testing.assert_close(task.prepare_source(loaded), reference, rtol=0, atol=0)
    # an unchecked P image given to prepare_source reads the same indices
    torch.testing.assert_close(task.prepare_source(palette_map(labels, palette)), reference, rtol=0, atol=0)


def test_an_l_map_is_read_unchanged(labels):
    checked = Seg2Face().check_source(Image.fromarray(labels, "L"), "m.png")
    np.testing.assert_array_equal(np.asarray(checked), labels)
