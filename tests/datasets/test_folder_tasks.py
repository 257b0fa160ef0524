"""A folder of targets trains only the tasks that make their sources from targets; paired
folders pair every file by stem."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2s.datasets.folders import ImageFolderDataset, PairedImageDataset
from p2s.tasks import Frontalization, Inversion, Seg2Face, Sketch2Face
from p2s.utils.errors import P2SError


@pytest.fixture
def faces(tmp_path):
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(tmp_path / "a.png")
    return tmp_path


@pytest.mark.parametrize("task", [Sketch2Face, Seg2Face])
def test_a_paired_task_on_a_folder_of_targets_is_refused_when_the_dataset_is_made(task, faces):
    """Before: the same error came at the first batch, after the Runner's whole set-up."""
    with pytest.raises(P2SError, match=rf"task '{task.name}' needs paired data .*: use PairedImageDataset"):
        ImageFolderDataset(str(faces), task(image_size=16))


@pytest.mark.parametrize("task", [Inversion, Frontalization])  # derive_source, or a training_sample of its own
def test_tasks_that_make_sources_from_targets_train_from_a_folder(task, faces):
    sample = ImageFolderDataset(str(faces), task(image_size=16), train=False)[0]
    assert sample["inputs"].shape[-1] == 16


@pytest.mark.parametrize("role", ["source", "target"])
def test_two_files_sharing_a_stem_in_a_paired_folder_are_named(tmp_path, role):
    """s0.png and s0.jpg: one of them was dropped silently from the pairs."""
    folders = {name: tmp_path / name for name in ("source", "target")}
    for folder in folders.values():
        folder.mkdir()
        for stem in ("s0", "s1"):
            Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder / f"{stem}.png")
    Image.fromarray(np.full((16, 16, 3), 64, np.uint8)).save(folders[role] / "s0.jpg")
    with pytest.raises(P2SError, match=rf"^{role} folder '{folders[role]}' has both s0.jpg and s0.png; keep one$"):
        PairedImageDataset(str(folders["source"]), str(folders["target"]), Inversion(image_size=16))


def test_a_missing_relative_data_folder_says_where_it_was_looked_for(tmp_path, monkeypatch):
    from p2s.datasets.folders import list_images

    monkeypatch.chdir(tmp_path)
    with pytest.raises(P2SError) as err:
        list_images("data/ffhq", "target", how_to_get="get it")
    assert str(err.value) == f"target folder 'data/ffhq' does not exist (looked for {tmp_path}/data/ffhq); get it"
    with pytest.raises(P2SError, match=r"^target folder '/nowhere/ffhq' does not exist$"):  # absolute: said once
        list_images("/nowhere/ffhq", "target")
