"""StyleGAN inversion (also toonify, which only swaps in a toon generator)."""

from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class Inversion(TaskAdapter):
    """RGB face -> the same face: source and target are one image."""

    name = "inversion"
    official_dataset_types = ("ffhq_encode",)

    def derive_source(self, target, rng, train):
        return self.prepare_source(target)
