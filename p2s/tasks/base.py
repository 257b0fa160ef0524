"""Task adapters: what a translation task feeds the encoder and how.

A task declares its source channels, how a user's file becomes the encoder input
(the official inference transform for the paper's tasks), and which W+ rows its
multi-modal synthesis replaces.  Tasks never train and never touch the model; the
model reads ``source_channels`` only to check that it fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import albumentations as A
import numpy as np
import torch
from PIL import Image

from p2s.datasets.transforms.official import normalize, official_source_tensor, pil_resize, to_tensor
from p2s.registry import TASKS
from p2s.utils.errors import P2SError, SourceImageError

#: size the official inference transforms resize every source to (the default ``image_size``)
SOURCE_SIZE = 256
#: first W+ row of the "fine" styles pSp's style-mixing examples replace
FINE_LAYERS_START = 8


class TaskAdapter:
    """Base class of every task adapter (registry ``TASKS``).

    Subclasses set the class attributes and may override :meth:`prepare_source`.

    Args:
        image_size: side sources and targets are resized to (256 as the official code;
            smaller domains such as the 64 px synthetic faces use their own size).
    """

    name: ClassVar[str] = "task"
    #: channels of the encoder input
    source_channels: ClassVar[int] = 3
    #: PIL mode the source is converted to before pre-processing
    source_mode: ClassVar[str] = "RGB"
    #: PIL modes accepted as input (converted to ``source_mode``)
    accepted_modes: ClassVar[tuple[str, ...]] = ("RGB", "RGBA", "L", "LA", "P", "CMYK", "YCbCr", "1")
    #: kind of official pre-processing (see ``official_source_tensor``)
    preprocessing: ClassVar[str] = "rgb"
    #: official ``dataset_type`` values served by this task (to read pSp checkpoints)
    official_dataset_types: ClassVar[tuple[str, ...]] = ()
    #: value range of the encoder input, for visualisation (sketches and label maps: 0..1)
    source_value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: training flips: "joint" (source and target together), "independent" (a given source
    #: and the target, each its own draw, as pSp's frontalization), "target" (target only), "none"
    flip: ClassVar[str] = "joint"
    #: the paper's loss weights for this task (Appendix A); configs must use the same
    loss_weights: ClassVar[dict[str, float]] = {"l2": 1.0, "lpips": 0.8, "id": 0.1}

    def __init__(self, image_size: int = SOURCE_SIZE) -> None:
        if not 8 <= int(image_size) <= 4096:
            raise P2SError(f"task image_size must be between 8 and 4096, got {image_size}")
        self.image_size = int(image_size)

    def check_fits(self, encoder_channels: int, hint: str = "") -> None:
        """Refuse an encoder that takes another number of channels than this task's sources."""
        if self.source_channels != encoder_channels:
            raise P2SError(
                f"task '{self.name}' makes {self.source_channels}-channel sources but the encoder takes "
                f"{encoder_channels}{hint}"
            )

    # --- inference ------------------------------------------------------------------
    def load_source(self, path: str | Path) -> Image.Image:
        """Open ``path`` and convert it to ``source_mode``; one-line error otherwise."""
        from p2s.datasets.folders import read_image

        return self.check_source(read_image(path, shown=Path(path).name), path)

    def require_rgb_sources(self, what: str) -> None:
        """Refuse ``what`` (``--align``, ``--patch``), which resamples or paints a face photo,
        for sketches and label maps: resampled labels are no class indices."""
        if self.source_mode != "RGB":
            raise P2SError(f"{what} works on RGB face photos, but task '{self.name}' reads {self.source_mode} sources")

    def check_source(self, image: Image.Image, path: str | Path) -> Image.Image:
        """Refuse modes this task cannot read; convert the rest to ``source_mode``."""
        if image.mode not in self.accepted_modes:
            raise SourceImageError(
                f"{Path(path).name}: mode {image.mode} is not accepted by task '{self.name}' "
                f"(accepted: {', '.join(self.accepted_modes)})"
            )
        return image.convert(self.source_mode)

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        """Encoder input ``[source_channels, image_size, image_size]`` for one source image."""
        if image.mode != self.source_mode:
            image = image.convert(self.source_mode)
        return official_source_tensor(image, self.preprocessing, size=self.image_size)

    # --- training ---------------------------------------------------------------------
    def derive_source(self, target: Image.Image, rng: np.random.Generator, train: bool) -> torch.Tensor:
        """Encoder input made from the (``image_size`` RGB) target; paired tasks cannot."""
        raise P2SError(self._needs_pairs())

    @property
    def trains_from_targets(self) -> bool:
        """Whether training sources can be made from targets (a folder of targets is enough)."""
        cls = type(self)
        return cls.derive_source is not TaskAdapter.derive_source or cls.training_sample is not TaskAdapter.training_sample

    def check_trains_from_targets(self) -> None:
        """Refuse a folder of targets alone for a paired task: at set-up, not at the first batch."""
        if not self.trains_from_targets:
            raise P2SError(self._needs_pairs())

    def _needs_pairs(self) -> str:
        return (f"task '{self.name}' needs paired data (its sources cannot be made from targets: it has no "
                "derive_source): use PairedImageDataset")

    def training_sample(
        self,
        target: Image.Image,
        source: Image.Image | None,
        rng: np.random.Generator,
        train: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(source, target)`` tensors for training or validation.

        The target becomes ``image_size`` square RGB in [-1, 1]; the source is the given image
        through the official transform, or one derived from the target.  Flips follow
        :attr:`flip` and are drawn from ``rng`` (albumentations, seeded per sample).
        """
        target = pil_resize(target.convert("RGB"), self.image_size)
        if source is not None:
            source = pil_resize(source.convert(self.source_mode), self.image_size)
        if train and self.flip != "none":
            target, source = self._flip(target, source, rng)
        target_tensor = normalize(to_tensor(target))
        if source is None:
            return self.derive_source(target, rng, train), target_tensor
        return self.prepare_source(source), target_tensor

    def _flip(self, target, source, rng):
        """Random horizontal flip, the paper's only augmentation."""
        if self.flip == "independent" and source is not None:
            return self._flip(target, None, rng)[0], self._flip(source, None, rng)[0]
        joint = self.flip == "joint" and source is not None
        flip = A.Compose([A.HorizontalFlip(p=0.5)], additional_targets={"source": "image"} if joint else None)
        flip.set_random_seed(int(rng.integers(2**31)))
        images = dict(image=np.asarray(target))
        if joint:
            images["source"] = np.asarray(source)
        out = flip(**images)
        target = Image.fromarray(out["image"])
        if joint:
            source = Image.fromarray(out["source"], mode=source.mode)
        return target, source

    def mix_layers(self, num_ws: int) -> list[int]:
        """W+ rows replaced in multi-modal synthesis (the fine styles, from row 8)."""
        start = min(FINE_LAYERS_START, num_ws - 1)
        return list(range(start, num_ws))


def tasks_for_dataset_type(dataset_type: str) -> list[str]:
    """Registered task names that serve an official pSp ``dataset_type``."""
    TASKS.import_from_location()
    return [
        name
        for name, cls in sorted(TASKS.module_dict.items())
        if dataset_type in getattr(cls, "official_dataset_types", ())
    ]
