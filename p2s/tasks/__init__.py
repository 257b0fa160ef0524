"""Task adapters (registry ``TASKS``); plugins add more without touching this package."""

from p2s.tasks.base import SourceImageError, TaskAdapter, tasks_for_dataset_type
from p2s.tasks.frontalization import Frontalization
from p2s.tasks.inpainting import Inpainting
from p2s.tasks.inversion import Inversion
from p2s.tasks.seg2face import Seg2Face
from p2s.tasks.sketch2face import Sketch2Face
from p2s.tasks.superres import SuperResolution

__all__ = [
    "Frontalization",
    "Inpainting",
    "Inversion",
    "Seg2Face",
    "Sketch2Face",
    "SourceImageError",
    "SuperResolution",
    "TaskAdapter",
    "tasks_for_dataset_type",
]
