"""``p2s data cache``: the training set resized once gives the same samples, loads
from the printed overrides, and fails whole (nothing left) where it would not be exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.datasets.cache import cache_dataset
from p2s.registry import DATASETS
from p2s.tasks.inversion import Inversion
from p2s.utils.build import build
from p2s.utils.errors import P2SError

ROOT = Path(__file__).resolve().parents[2]
SKETCH_CONFIG = ROOT / "configs/synthfaces/psp_small_sketch2face_synthfaces-64.py"
SUPERRES_CONFIG = ROOT / "configs/synthfaces/psp_small_superres_synthfaces-64.py"


@pytest.fixture(scope="module")
def faces(tiny, tmp_path_factory) -> Path:
    """Six 150-px faces (images/, JPEG and PNG) with RGB line sketches (sketches/)."""
    root = tmp_path_factory.mktemp("faces")
    (root / "images").mkdir()
    (root / "sketches").mkdir()
    for k in range(6):
        tiny.write_rgb(root / "images" / f"f{k}{'.jpg' if k % 2 else '.png'}", seed=k, size=(150, 150))
        sketch = np.full((150, 150, 3), 255, np.uint8)
        sketch[20 + 10 * k, :] = 0
        sketch[:, 30 + 7 * k] = (0, 40, 80)
        Image.fromarray(sketch).save(root / "sketches" / f"f{k}.png")
    return root


def roots(faces: Path) -> list[str]:
    keys = [f"{split}_dataloader.dataset.{role}_root={faces}/{folder}"
            for split in ("train", "val") for role, folder in (("source", "sketches"), ("target", "images"))]
    return keys


def dataset_cfg(faces: Path, task: dict, train: bool = True) -> dict:
    return dict(type="ImageFolderDataset", root=str(faces / "images"), task=task, train=train)


def test_cached_folder_gives_the_same_samples_at_the_task_size(faces, tmp_path):
    cfg = dataset_cfg(faces, dict(type="SuperResolution", image_size=64))
    cached_cfg = cache_dataset(cfg, tmp_path / "cache", workers=2, check=6)
    assert cached_cfg["root"] == str(tmp_path / "cache" / "targets")
    files = sorted((tmp_path / "cache" / "targets").iterdir())
    assert [f.name for f in files] == [f"f{k}.png" for k in range(6)]
    with Image.open(files[1]) as image:
        assert (image.size, image.mode) == ((64, 64), "RGB")
    original, cached = build(DATASETS, cfg), build(DATASETS, cached_cfg)
    for key in [(0, 0), (3, 11), (5, 2)]:  # train draws (the degradation factor) included
        a, b = original[key], cached[key]
        assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["data_samples"]["target"],
                                                                     b["data_samples"]["target"])


def test_cli_caches_paired_splits_and_training_reads_the_overrides(tiny, faces, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --output: the overrides still name absolute folders
    result = tiny.invoke("data", "cache", SKETCH_CONFIG, *roots(faces), "train_cfg.max_iters=7", "--output", "cache",
                         "--workers", "2")
    assert result.exit_code == 0, result.output
    out = (tmp_path / "cache").resolve()
    lines = (out / "overrides.txt").read_text().split()
    # the user's other overrides are kept (a task option made the cached samples), the roots replaced
    assert lines == ["train_cfg.max_iters=7"] + [
        f"{split}_dataloader.dataset.{role}_root={out}/{split}/{folder}"
        for split in ("train", "val") for role, folder in (("source", "sources"), ("target", "targets"))]
    assert "p2s train" in result.output and lines[0] in " ".join(result.output.split())
    with Image.open(out / "train" / "sources" / "f2.png") as sketch:
        assert (sketch.size, sketch.mode) == ((64, 64), "L")  # the task's source mode, once
    from p2s.cli.train import load_config

    original = load_config(SKETCH_CONFIG, roots(faces))
    cached = load_config(SKETCH_CONFIG, lines)
    for split in ("train", "val"):
        a = build(DATASETS, original[f"{split}_dataloader"]["dataset"].to_dict())
        b = build(DATASETS, cached[f"{split}_dataloader"]["dataset"].to_dict())
        assert len(a) == len(b) == 6
        for index in range(6):
            assert torch.equal(a[(index, index)]["inputs"], b[(index, index)]["inputs"])
            assert torch.equal(a[(index, index)]["data_samples"]["target"], b[(index, index)]["data_samples"]["target"])


class _CropsFirst(Inversion):
    """A task that crops the full-size target before resizing: a cache cannot be exact."""

    name = "crops_first"

    def training_sample(self, target, source, rng, train):
        return super().training_sample(target.crop((10, 10, 140, 140)), source, rng, train)


def test_a_task_that_works_on_full_size_images_fails_and_leaves_nothing(faces, tmp_path):
    cfg = dataset_cfg(faces, _CropsFirst(image_size=64))  # an object passes through build
    with pytest.raises(P2SError, match="task 'crops_first' changes images before resizing"):
        cache_dataset(cfg, tmp_path / "cache", check=2)
    assert not (tmp_path / "cache").exists()


def test_refusals_are_one_line_and_write_nothing(tiny, faces, tmp_path):
    existing = tmp_path / "there"
    existing.mkdir()
    assert "already exists" in tiny.one_line_error(
        tiny.invoke("data", "cache", SKETCH_CONFIG, *roots(faces), "--output", existing))
    assert "does not have: test" in tiny.one_line_error(
        tiny.invoke("data", "cache", SKETCH_CONFIG, *roots(faces), "--output", tmp_path / "a", "--splits", "train,test"))
    missing = tiny.one_line_error(tiny.invoke("data", "cache", SUPERRES_CONFIG, "--output", tmp_path / "b",
                                              f"train_dataloader.dataset.root={tmp_path}/nowhere"))
    assert "nowhere' does not exist" in missing
    (faces / "broken").mkdir(exist_ok=True)
    (faces / "broken" / "x.png").write_bytes(b"not a png")
    corrupt = tiny.one_line_error(tiny.invoke("data", "cache", SUPERRES_CONFIG, "--output", tmp_path / "c",
                                              f"train_dataloader.dataset.root={faces}/images",
                                              f"val_dataloader.dataset.root={faces}/broken"))
    assert "x.png: not a readable image" in corrupt
    for name in ("a", "b", "c"):
        assert not (tmp_path / name).exists(), name  # the train split cached before the failure is gone too
    gan = ROOT / "configs" / "stylegan2" / "synthfaces_64_small.py"  # its dataset has no task: a traceback
    result = tiny.invoke("data", "cache", gan, "--output", tmp_path / "d")
    assert tiny.one_line_error(result) == (
        "error: p2s data cache copies the image folders of pSp task datasets (ImageFolderDataset, "
        "PairedImageDataset); this config's is a GANImageDataset")
    assert result.output.strip().startswith("error:") and not (tmp_path / "d").exists()  # no progress bar first


def test_same_stem_twice_is_refused(tiny, tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    tiny.write_rgb(folder / "a.png", seed=1)
    tiny.write_rgb(folder / "a.jpg", seed=2)
    with pytest.raises(P2SError, match="'a.jpg' and 'a.png' would both be cached as a.png"):
        cache_dataset(dict(type="ImageFolderDataset", root=str(folder), task=dict(type="Inversion")), tmp_path / "c")
    assert not (tmp_path / "c").exists()
