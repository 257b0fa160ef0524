"""Sketch -> face."""

from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Sketch2Face(TaskAdapter):
    """A one-channel line sketch in [0, 1] (no normalisation, as pSp) -> face."""

    name = "sketch2face"
    source_channels = 1
    source_mode = "L"
    preprocessing = "sketch"
    official_dataset_types = ("celebs_sketch_to_face",)
    source_value_range = (0.0, 1.0)
    flip = "none"
    loss_weights = {"l2": 1.0, "lpips": 0.8, "w_norm": 0.005}
