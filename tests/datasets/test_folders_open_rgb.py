"""``open_rgb``: the one reader of RGB images for align, project and evaluate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2s.datasets.folders import open_rgb, read_image
from p2s.utils.errors import P2SError, SourceImageError


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_high_bit_depth_images_are_refused_not_saturated(tmp_path, mode):
    path = tmp_path / ("deep.png" if mode == "I;16" else "deep.tiff")
    Image.fromarray(np.full((8, 8), 40000 if mode != "F" else 0.5, dtype={"I;16": np.uint16, "I": np.int32,
                                                                          "F": np.float32}[mode])).save(path)
    with Image.open(path) as handle:
        assert handle.mode.startswith(mode[0])
    with pytest.raises(P2SError, match=r"deep\.\w+: mode .* cannot be read as 8-bit RGB"):
        open_rgb(path)


def test_palette_and_gray_become_rgb_and_garbage_is_one_line(tmp_path):
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P").save(tmp_path / "p.png")
    assert open_rgb(tmp_path / "p.png").mode == "RGB"
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(P2SError, match=r"bad\.png: not a readable image"):
        open_rgb(tmp_path / "bad.png")


def test_a_decompression_bomb_is_one_line(tmp_path, monkeypatch):
    """Pillow's DecompressionBombError is no OSError: it escaped both readers as a traceback."""
    Image.new("RGB", (80, 80)).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 6400 pixels > 2 * 1000
    with pytest.raises(P2SError, match=r"^huge\.png: not a readable image \(Image size \(6400 pixels\) exceeds"):
        open_rgb(tmp_path / "huge.png")
    with pytest.raises(SourceImageError, match=r"^huge\.png: not a readable image \(Image size"):
        read_image(tmp_path / "huge.png", shown="huge.png")
