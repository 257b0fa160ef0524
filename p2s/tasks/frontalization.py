"""Face frontalization: any pose in, the frontal face out."""

from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Frontalization(TaskAdapter):
    """RGB face -> frontal face; inference pre-processing is the inversion one."""

    name = "frontalization"
    official_dataset_types = ("ffhq_frontalize",)
