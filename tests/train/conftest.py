"""Training-test fixtures: a small face / sketch / label-map data set and the tiny-config writer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _load_tiny_configs():
    name = "p2s_tests_tiny_configs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("tiny_configs.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tiny_configs():
    return _load_tiny_configs()


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> dict:
    """Three smooth colour 'faces' with matching sketches and label maps (same stems)."""
    root = tmp_path_factory.mktemp("train_data")
    folders = {kind: root / kind for kind in ("faces", "sketches", "labels")}
    for folder in folders.values():
        folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    for i in range(3):
        colour = rng.random(3)
        face = np.stack([(colour[c] * 0.6 + 0.4 * (yy if c % 2 else xx)) for c in range(3)], -1)
        Image.fromarray((face * 255).astype("uint8")).save(folders["faces"] / f"s{i}.png")
        sketch = ((np.abs(xx - 0.5 + 0.1 * i) < 0.05) | (np.abs(yy - 0.5) < 0.05)) * 255
        Image.fromarray(sketch.astype("uint8"), mode="L").save(folders["sketches"] / f"s{i}.png")
        labels = (np.floor(xx * 4) + 4 * np.floor(yy * 4)).astype("uint8") % 19
        Image.fromarray(labels, mode="L").save(folders["labels"] / f"s{i}.png")
    return folders
