"""Training data sets skip an unusable file with a warning (a long run goes on) and
stop with one line when a run of files is unusable (the data, not one file, is broken)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2s.datasets.folders import MAX_UNREADABLE_IN_A_ROW, ImageFolderDataset, PairedImageDataset
from p2s.synthfaces.dataset import GANImageDataset
from p2s.utils.errors import P2SWarning, SourceImageError


def _faces(folder, count: int, broken: tuple[int, ...] = ()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        if i in broken:
            (folder / f"f{i}.png").write_bytes(b"\x89PNG truncated")
        else:
            Image.fromarray(np.full((32, 32, 3), 20 * i, np.uint8)).save(folder / f"f{i}.png")


def test_a_corrupt_target_is_skipped_for_the_next_file(tmp_path):
    _faces(tmp_path, 4, broken=(1,))
    data = ImageFolderDataset(str(tmp_path), task=dict(type="Inversion"), train=False)
    with pytest.warns(P2SWarning, match=r"skipped training sample: .*f1\.png: not a readable image"):
        sample = data[1]
    assert sample["data_samples"]["stem"] == "f2"
    assert data[3]["data_samples"]["stem"] == "f3"  # readable files are untouched


def test_the_skip_wraps_around_the_end(tmp_path):
    _faces(tmp_path, 3, broken=(2,))
    data = GANImageDataset(str(tmp_path), size=16, flip=False)
    with pytest.warns(P2SWarning):
        image = data[2]["inputs"]
    assert image.shape == (3, 16, 16)
    assert float(image.mean()) == pytest.approx(-1.0)  # f0 (black), not f2


def test_a_source_of_the_wrong_mode_is_skipped_like_a_corrupt_one(tmp_path):
    _faces(tmp_path / "faces", 2)
    labels = tmp_path / "labels"
    labels.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(labels / "f0.png")  # RGB, not a label map
    Image.fromarray(np.zeros((32, 32), np.uint8), mode="L").save(labels / "f1.png")
    data = PairedImageDataset(str(labels), str(tmp_path / "faces"), task=dict(type="Seg2Face"), train=False)
    with pytest.warns(P2SWarning, match=r"f0\.png: mode RGB is not accepted"):
        assert data[0]["data_samples"]["stem"] == "f1"


def test_a_run_of_unusable_files_is_one_error(tmp_path):
    _faces(tmp_path, MAX_UNREADABLE_IN_A_ROW + 2, broken=tuple(range(MAX_UNREADABLE_IN_A_ROW)))
    data = ImageFolderDataset(str(tmp_path), task=dict(type="Inversion"), train=False)
    with pytest.warns(P2SWarning), pytest.raises(SourceImageError, match=r"8 images in a row are unusable, the last "
                                                                          r".*f7\.png: not a readable image"):
        data[0]


def test_a_small_set_is_tried_once_per_file(tmp_path):
    _faces(tmp_path, 2, broken=(0, 1))
    data = ImageFolderDataset(str(tmp_path), task=dict(type="Inversion"), train=False)
    with pytest.warns(P2SWarning) as warned, pytest.raises(SourceImageError, match=r"all 2 images are unusable"):
        data[1]
    assert len(warned) == 2  # f1, then f0: no file twice
