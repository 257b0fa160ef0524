"""Image datasets: a target folder (the task makes sources) or source/target pairs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from p2s.registry import DATASETS, TASKS
from p2s.utils.build import build
from p2s.utils.errors import P2SError, P2SWarning, SourceImageError

if TYPE_CHECKING:
    from p2s.tasks.base import TaskAdapter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
#: unreadable files in a row after which a training data set gives up: then the data,
#: not one file, is broken
MAX_UNREADABLE_IN_A_ROW = 8
T = TypeVar("T")


def list_images(root: str | Path, role: str, how_to_get: str = "", max_samples: int | None = None) -> list[Path]:
    """Sorted images directly in ``root`` (the first ``max_samples`` of them); a missing
    or empty folder is a user error (``how_to_get``, e.g. the command that makes the
    data, ends the message)."""
    root = Path(root)
    hint = f"; {how_to_get}" if how_to_get else ""
    check_max_samples(max_samples)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        where = "" if root.is_absolute() else f" (looked for {root.absolute()})"
        raise P2SError(f"{role} folder '{root}' {what}{where}{hint}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise P2SError(f"{role} folder '{root}' has no {', '.join(IMAGE_SUFFIXES)} images{hint}")
    return files[:max_samples]


def by_stem(files: Iterable[Path], role: str, folder: str | Path) -> dict[str, Path]:
    """Stem -> file, for pairing by stem; two files with one stem (``a.png``, ``a.jpg``) are
    an error naming both, where a dict would keep one silently."""
    images: dict[str, Path] = {}
    for path in files:
        if path.stem in images:
            raise P2SError(f"{role} folder '{folder}' has both {images[path.stem].name} and {path.name}; keep one")
        images[path.stem] = path
    return images


def check_max_samples(max_samples: int | None) -> None:
    """``None`` (every file) or a positive count: 0 would make an empty data set that an
    infinite sampler waits on forever, and a negative slice drops files silently."""
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 1):
        raise P2SError(f"dataset max_samples must be a positive integer or None, got {max_samples!r}")


#: PIL modes whose conversion to 8-bit RGB keeps the picture (16-bit and float modes
#: would saturate to white: they are refused instead)
RGB_CONVERTIBLE_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1", "LAB", "HSV")
#: what Pillow raises for a file it cannot decode (UnidentifiedImageError is an OSError);
#: DecompressionBombError (a huge image, maybe a zip bomb) is none of the others
UNREADABLE_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def open_rgb(path: str | Path) -> Image.Image:
    """An image file as 8-bit RGB; unreadable files and 16-bit / float modes are one-line errors."""
    path = Path(path)
    try:
        with Image.open(path) as handle:
            handle.load()
            if handle.mode not in RGB_CONVERTIBLE_MODES:
                raise P2SError(f"{path.name}: mode {handle.mode} (16-bit or float) cannot be read as 8-bit RGB; "
                               "save it as an 8-bit image")
            return handle.convert("RGB")
    except UNREADABLE_IMAGE_ERRORS as err:
        raise P2SError(f"{path.name}: not a readable image ({err})") from None


def read_image(path: str | Path, shown: str | None = None) -> Image.Image:
    """The decoded image in its own mode; an unreadable file is a :class:`SourceImageError`
    naming ``shown`` (default: the whole path)."""
    try:
        with Image.open(path) as handle:
            handle.load()
            return handle.copy()
    except UNREADABLE_IMAGE_ERRORS as err:
        raise SourceImageError(f"{shown or path}: not a readable image ({err})") from None


def first_readable(load: Callable[[int], T], index: int, count: int) -> T:
    """``load(index)``; when that file cannot be used (:class:`SourceImageError`), the next
    index that can, with one :class:`P2SWarning` per file skipped: a corrupt image among
    70,000 does not end a day-long training run.  Eight unusable files in a row (or all
    of a smaller set) are an error."""
    tries = min(MAX_UNREADABLE_IN_A_ROW, count)
    for step in range(tries):
        try:
            return load((index + step) % count)
        except SourceImageError as err:
            warnings.warn(f"skipped training sample: {err}", P2SWarning, stacklevel=2)
            last = err
    what = f"all {count} images are" if tries == count else f"{tries} images in a row are"
    raise SourceImageError(f"{what} unusable, the last {last}; check the data folder")


class _TaskDataset(Dataset):
    """Shared parts: the task, the split and per-draw random generators."""

    def __init__(self, task: dict | TaskAdapter, train: bool = True, seed: int = 0) -> None:
        from p2s.tasks.base import TaskAdapter  # tasks use this package's transforms

        self.task = build(TASKS, task, TaskAdapter)
        self.train = train
        self.seed = seed

    def _rng(self, key: Any) -> tuple[int, np.random.Generator]:
        """``key`` is an index, or ``(index, position)`` from PositionedInfiniteSampler."""
        if isinstance(key, (tuple, list)):
            index, position = int(key[0]), int(key[1])
        else:
            index, position = int(key), int(key)
        return index, np.random.default_rng([self.seed, position, int(self.train)])

    def _pack(self, source, target, stem: str) -> dict:
        return dict(inputs=source, data_samples=dict(target=target, stem=stem))


@DATASETS.register_module()
class ImageFolderDataset(_TaskDataset):
    """Target images only; the task derives each source (inversion, super-resolution,
    inpainting, colorization, ...).

    Args:
        root: folder of target images.
        task: the task adapter (config or object).
        train: apply training augmentation and random degradations.
        seed: seed of the per-draw augmentation randomness.
        max_samples: use only the first N files (sorted by name).
        how_to_get: how to make or get the data, said when the folder is missing.
    """

    def __init__(self, root: str, task: dict | TaskAdapter, train: bool = True, seed: int = 0,
                 max_samples: int | None = None, how_to_get: str = "") -> None:
        super().__init__(task, train, seed)
        self.task.check_trains_from_targets()
        self.files = list_images(root, "target", how_to_get, max_samples)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: Any) -> dict:
        index, rng = self._rng(key)
        return first_readable(lambda i: self._sample(i, rng), index, len(self))

    def _sample(self, index: int, rng: np.random.Generator) -> dict:
        path = self.files[index]
        source, target = self.task.training_sample(read_image(path), None, rng, self.train)
        return self._pack(source, target, path.stem)


@DATASETS.register_module()
class PairedImageDataset(_TaskDataset):
    """Source and target folders paired by file stem (``a.png`` with ``a.jpg``).

    Every stem must be once in each folder: an orphan, or two files of one stem, is an
    error naming the files, never a silent shift or drop in the pairing.  ``how_to_get`` is said when a folder is missing.
    """

    def __init__(self, source_root: str, target_root: str, task: dict | TaskAdapter, train: bool = True,
                 seed: int = 0, max_samples: int | None = None, how_to_get: str = "") -> None:
        super().__init__(task, train, seed)
        check_max_samples(max_samples)
        sources = by_stem(list_images(source_root, "source", how_to_get), "source", source_root)
        targets = by_stem(list_images(target_root, "target", how_to_get), "target", target_root)
        for role, mine, other, root in (("source", sources, targets, target_root),
                                        ("target", targets, sources, source_root)):
            orphans = sorted(set(mine) - set(other))
            if orphans:
                raise P2SError(
                    f"{role} file '{mine[orphans[0]]}' has no partner named '{orphans[0]}.*' in '{root}'"
                    + (f" (and {len(orphans) - 1} more orphans)" if len(orphans) > 1 else "")
                )
        self.pairs = [(sources[s], targets[s]) for s in sorted(sources)][:max_samples]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: Any) -> dict:
        index, rng = self._rng(key)
        return first_readable(lambda i: self._sample(i, rng), index, len(self))

    def _sample(self, index: int, rng: np.random.Generator) -> dict:
        source_path, target_path = self.pairs[index]
        source_image = self.task.check_source(read_image(source_path), source_path)
        source, target = self.task.training_sample(read_image(target_path), source_image, rng, self.train)
        return self._pack(source, target, target_path.stem)
