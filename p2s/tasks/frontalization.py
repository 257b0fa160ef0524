"""Face frontalization: any pose in, the frontal face out."""

from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Frontalization(TaskAdapter):
    """RGB face -> frontal face; inference pre-processing is the inversion one.

    From a folder of targets the source is the target image itself; with true pairs
    (``PairedImageDataset``) it is the posed image.
    """

    name = "frontalization"
    official_dataset_types = ("ffhq_frontalize",)
    #: as the official FrontalizationTransforms: source and target each have their own
    #: RandomHorizontalFlip, so a pose is as often paired with its mirror as with itself
    flip = "independent"
    loss_weights = {"id": 1.0, "l2": 0.001, "l2_crop": 0.01, "lpips": 0.08, "lpips_crop": 0.8, "w_norm": 0.005}

    def training_sample(self, target, source, rng, train):
        return super().training_sample(target, target if source is None else source, rng, train)
