"""Unconditional image dataset for GAN training (registry ``DATASETS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from p2s.datasets.folders import first_readable, list_images, read_image
from p2s.registry import DATASETS


@DATASETS.register_module()
class GANImageDataset(Dataset):
    """Images of one folder as ``dict(inputs=[3, size, size] float in [-1, 1])``.

    Non-square images are centre-cropped; others are resized with Lanczos.  With ``flip``,
    each draw is mirrored with probability 1/2, decided by ``(seed, position)`` (position
    from :class:`~p2s.datasets.PositionedInfiniteSampler`, else the index), so a resumed
    run sees the same flips.

    Args:
        root: folder of images (e.g. ``DIR/images`` written by ``p2s data synthfaces``).
        size: side of the returned images.
        flip: random horizontal flips.
        seed: seed of the flips.
        max_samples: use only the first N files (sorted by name).
    """

    def __init__(self, root: str, size: int, flip: bool = True, seed: int = 0, max_samples: int | None = None) -> None:
        self.root = Path(root)
        self.files = list_images(root, "image", max_samples=max_samples)
        self.size, self.flip, self.seed = int(size), bool(flip), int(seed)

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``[3, size, size]`` in [-1, 1], not flipped."""
        image = read_image(self.files[index]).convert("RGB")
        w, h = image.size
        if w != h:
            side = min(w, h)
            image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.LANCZOS)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    def __getitem__(self, key: Any) -> dict:
        if isinstance(key, (tuple, list)):
            index, position = int(key[0]), int(key[1])
        else:
            index = position = int(key)
        image = first_readable(self.load, index, len(self))
        if self.flip and np.random.default_rng([self.seed, position]).uniform() < 0.5:
            image = image.flip(-1)
        return dict(inputs=image)
