"""Task adapters: what a translation task feeds the encoder and how.

A task declares its source channels, how a user's file becomes the encoder input
(the official inference transform for the paper's tasks), and which W+ rows its
multi-modal synthesis replaces.  Tasks never train and never touch the model; the
model reads ``source_channels`` only to check that it fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from PIL import Image, UnidentifiedImageError

from p2s.datasets.transforms.official import official_source_tensor
from p2s.registry import TASKS
from p2s.utils.errors import P2SError

#: size the official inference transforms resize every source to
SOURCE_SIZE = 256
#: first W+ row of the "fine" styles pSp's style-mixing examples replace
FINE_LAYERS_START = 8


class SourceImageError(P2SError):
    """A source file that cannot be used (unreadable, wrong mode, bad labels)."""


class TaskAdapter:
    """Base class of every task adapter (registry ``TASKS``).

    Subclasses set the class attributes and may override :meth:`prepare_source`.
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

    def load_source(self, path: str | Path) -> Image.Image:
        """Open ``path`` and convert it to ``source_mode``; one-line error otherwise."""
        path = Path(path)
        try:
            with Image.open(path) as handle:
                handle.load()
                image = handle.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise SourceImageError(f"{path.name}: not a readable image ({err})") from None
        if image.mode not in self.accepted_modes:
            raise SourceImageError(
                f"{path.name}: mode {image.mode} is not accepted by task '{self.name}' "
                f"(accepted: {', '.join(self.accepted_modes)})"
            )
        return image.convert(self.source_mode)

    def prepare_source(self, image: Image.Image) -> torch.Tensor:
        """Encoder input ``[source_channels, 256, 256]`` for one source image."""
        if image.mode != self.source_mode:
            image = image.convert(self.source_mode)
        return official_source_tensor(image, self.preprocessing, size=SOURCE_SIZE)

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
