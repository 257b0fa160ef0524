"""File-level translation: list inputs, run batches, write outputs atomically."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from p2s.apis.translator import Translator
from p2s.datasets.folders import IMAGE_SUFFIXES
from p2s.datasets.transforms.official import tensors_to_uint8
from p2s.tasks.base import SourceImageError
from p2s.utils.errors import P2SError



def list_inputs(path: str | Path) -> list[Path]:
    """One image, or the images directly in a folder sorted by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise P2SError(f"input '{path}' does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise P2SError(f"input folder '{path}' has no {', '.join(IMAGE_SUFFIXES)} images")
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise P2SError(
                f"'{seen[file.stem].name}' and '{file.name}' would both be written as {file.stem}.png; rename one"
            )
        seen[file.stem] = file
    return files


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(tmp)`` to a hidden sibling, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_png(array: np.ndarray, path: Path) -> None:
    """Save an ``[H, W, 3]`` uint8 array as PNG, atomically."""
    _atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def save_npy(array: np.ndarray, path: Path) -> None:
    """Save an array as ``.npy``, atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    _atomic_write(path, write)


@dataclass
class MixSpec:
    """Multi-modal synthesis: ``count`` variants per input, rows ``layers`` from W of
    random z (seeded), blended by ``alpha`` (``None`` replaces)."""

    count: int
    layers: Sequence[int]
    alpha: float | None
    seed: int


@dataclass
class TranslateReport:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    images: int = 0
    seconds: float = 0.0

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / max(self.images, 1)


def load_batches(
    translator: Translator,
    inputs: Sequence[Path],
    batch_size: int,
    failed: list[tuple[Path, str]],
    on_error: Callable[[Path, str], None] | None = None,
) -> Iterator[tuple[int, list[tuple[Path, Image.Image]]]]:
    """Yield ``(batch length, [(path, source image), ...])`` per batch of ``inputs``.

    Unusable files are appended to ``failed`` (and passed to ``on_error``) and left out
    of their batch; the last partial batch is yielded too.
    """
    if batch_size < 1:
        raise P2SError(f"--batch-size must be at least 1, got {batch_size}")
    items = list(inputs)
    for first in range(0, len(items), batch_size):
        batch = items[first:first + batch_size]
        loaded = []
        for path in batch:
            try:
                loaded.append((path, translator.task.load_source(path)))
            except SourceImageError as err:
                failed.append((path, str(err)))
                if on_error:
                    on_error(path, str(err))
        yield len(batch), loaded


def translate_files(
    translator: Translator,
    inputs: Sequence[Path],
    output: Path,
    batch_size: int = 4,
    save_latents: bool = False,
    mix: MixSpec | None = None,
    on_error: Callable[[Path, str], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> TranslateReport:
    """Translate ``inputs`` into ``output``: ``<stem>.png`` (+ ``latents/<stem>.npy``,
    ``<stem>_mix<k>.png``).  Unusable inputs are reported and skipped; the last
    partial batch is processed."""
    if mix:
        # checked before anything is written, not after the first batch
        bad = [i for i in mix.layers if not 0 <= i < translator.num_ws]
        if bad:
            raise P2SError(f"mix layers {bad} are outside 0..{translator.num_ws - 1}")
    report = TranslateReport()
    rng = np.random.RandomState(mix.seed) if mix else None
    start = time.perf_counter()
    for size, loaded in load_batches(translator, inputs, batch_size, report.failed, on_error):
        if loaded:
            sources = translator.prepare([image for _, image in loaded])
            result = translator.translate(sources)
            for (path, _), array, latent in zip(loaded, result.to_uint8(), result.latents):
                report.written.append(_write(output / f"{path.stem}.png", array, save_png))
                if save_latents:
                    npy = latent.float().cpu().numpy().astype("float32")
                    report.written.append(_write(output / "latents" / f"{path.stem}.npy", npy, save_npy))
            if mix:
                for (path, _), source in zip(loaded, sources):
                    report.written += _write_mixes(translator, source, path.stem, output, mix, rng)
            report.images += len(loaded)
        if on_batch:
            on_batch(size)
    report.seconds = time.perf_counter() - start
    return report


def _write(path: Path, array: np.ndarray, saver: Callable[[np.ndarray, Path], None]) -> Path:
    saver(array, path)
    return path


def _write_mixes(
    translator: Translator, source, stem: str, output: Path, mix: MixSpec, rng: np.random.RandomState
) -> list[Path]:
    inject = translator.mixing_latents(mix.count, rng)
    variants = tensors_to_uint8(translator.style_mix(source, inject, mix.layers, mix.alpha).images)
    return [_write(output / f"{stem}_mix{k}.png", arr, save_png) for k, arr in enumerate(variants)]
