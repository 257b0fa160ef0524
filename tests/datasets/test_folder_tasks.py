"""A folder of targets trains only the tasks that make their sources from targets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2s.datasets.folders import ImageFolderDataset
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
