"""Face frontalization: any pose in, the frontal face out."""

from p2s.datasets.transforms.official import normalize, pil_resize, to_tensor
from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Frontalization(TaskAdapter):
    """RGB face -> frontal face; inference pre-processing is the inversion one."""

    name = "frontalization"
    official_dataset_types = ("ffhq_frontalize",)
    #: the target alone is flipped, so no pose is preferred over its mirror
    flip = "target"
    loss_weights = {"id": 1.0, "l2": 0.001, "l2_crop": 0.01, "lpips": 0.08, "lpips_crop": 0.8, "w_norm": 0.005}

    def training_sample(self, target, source, rng, train):
        source_image = target if source is None else source
        target_image = target
        if train:
            target_image, _ = self._flip(pil_resize(target.convert("RGB"), self.image_size), None, rng)
        return self.prepare_source(source_image), normalize(to_tensor(pil_resize(target_image.convert("RGB"), self.image_size)))
