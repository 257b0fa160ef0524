"""``p2s data synthfaces`` and the GAN image dataset."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import p2s.synthfaces.dataset  # noqa: F401  (registers GANImageDataset, as the configs' custom_imports do)
from p2s.cli.data import data_app
from p2s.registry import DATASETS
from p2s.utils.build import build
from p2s.utils.errors import P2SError


def _invoke(*args):
    return CliRunner().invoke(data_app, [str(a) for a in args])


def test_cli_writes_the_layout_and_reports_speed(tmp_path):
    out = tmp_path / "faces"
    result = _invoke("synthfaces", "--n", 5, "--size", 32, "--out", out, "--seed", 7, "--workers", 2)
    assert result.exit_code == 0, result.output
    match = re.search(r"wrote 5 faces \(32x32\) to .* ([0-9.]+) images/s with 2 worker\(s\)", result.output)
    assert match and float(match.group(1)) > 0, result.output
    for folder, suffix in [("images", "png"), ("labels", "png"), ("sketches", "png"), ("frontal", "png"),
                           ("attributes", "json")]:
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{i:06d}.{suffix}" for i in range(5)]
    attrs = json.loads((out / "attributes" / "000003.json").read_text())
    assert attrs["id"] == "000003" and attrs["seed"] == 7 and attrs["size"] == 32
    # extending the set: --start continues the numbering, same faces as a single run
    result = _invoke("synthfaces", "--n", 2, "--size", 32, "--out", tmp_path / "more", "--seed", 7, "--start", 3,
                     "--workers", 1)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "more" / "images" / "000004.png").read_bytes() == (out / "images" / "000004.png").read_bytes()
    # another seed in the same folder: refused with the error alone, no progress bar first
    result = _invoke("synthfaces", "--n", 1, "--size", 32, "--out", out, "--seed", 8, "--start", 5)
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: '{out}' holds a synthfaces set with seed 7"), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be >= 1"),
    (["--n", "2", "--size", "8"], "--size must be 16 to 4096 pixels, got 8"),
    (["--n", "2", "--size", "100000"], "--size must be 16 to 4096 pixels, got 100000"),
    (["--n", "2", "--workers", "0"], "--workers must be >= 1"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    result = _invoke("synthfaces", *args, "--out", tmp_path / "x")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_export_generator_needs_a_gan_checkpoint(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {"encoder.w": torch.zeros(1)}}, bad)
    result = _invoke("export-generator", bad, tmp_path / "g.pt")
    assert result.exit_code == 2 and "no g_ema" in result.output
    result = _invoke("export-generator", tmp_path / "missing.pth", tmp_path / "g.pt")
    assert result.exit_code == 2 and "not found" in result.output


def test_gan_dataset(tmp_path):
    for i in range(3):
        array = np.zeros((40, 48, 3), np.uint8)
        array[:, : 24 + i] = 255  # left part white: flips are visible
        Image.fromarray(array).save(tmp_path / f"{i}.png")
    ds = build(DATASETS, dict(type="GANImageDataset", root=str(tmp_path), size=16, flip=True, seed=1))
    assert len(ds) == 3
    item = ds[0]
    assert set(item) == {"inputs"} and item["inputs"].shape == (3, 16, 16) and item["inputs"].dtype == torch.float32
    assert item["inputs"].min() >= -1 and item["inputs"].max() <= 1
    plain = ds.load(0)
    flips = [not torch.equal(ds[(0, position)]["inputs"], plain) for position in range(40)]
    assert 5 < sum(flips) < 35  # about half mirrored
    assert all(torch.equal(ds[(0, p)]["inputs"], ds[(0, p)]["inputs"]) for p in range(5))  # deterministic
    assert torch.equal(ds[(0, 3)]["inputs"].flip(-1), plain) or torch.equal(ds[(0, 3)]["inputs"], plain)
    no_flip = build(DATASETS, dict(type="GANImageDataset", root=str(tmp_path), size=16, flip=False, max_samples=2))
    assert len(no_flip) == 2 and torch.equal(no_flip[1]["inputs"], no_flip.load(1))
    with pytest.raises(P2SError, match="does not exist"):
        build(DATASETS, dict(type="GANImageDataset", root=str(tmp_path / "none"), size=16))
