"""File-level translation: list inputs, run batches, write outputs atomically.

Reading and writing run on worker threads (:class:`FileWorkers`) around the forward
passes: at 1024 px one PNG takes longer to compress than the GPU takes to generate a
whole batch, so done inline it would set the pace (benchmarks/translate_files.py).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2s.apis.translator import Translator, batches, check_mixing_seed
from p2s.datasets.folders import IMAGE_SUFFIXES
from p2s.datasets.transforms.official import tensors_to_uint8
from p2s.tasks.base import SourceImageError
from p2s.utils.atomic import TMP_SUFFIX, write_atomically
from p2s.utils.errors import P2SError, P2SWarning



def check_output_folder(path: str | Path, option: str = "--output") -> Path:
    """Refuse, before any work, an output folder path that a file stands in the way of."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = f"'{path}'" if part == path else f"'{path}' is inside '{part}', which"
                raise P2SError(f"{option} {what} is a file, not a folder; give a folder")
            break
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """Refuse, before any work, an output file path where a folder stands or whose folder
    is a file (found only at the end of a long computation otherwise)."""
    path = Path(path)
    if path.is_dir():
        raise P2SError(f"{option} '{path}' is a folder; give a file name")
    check_output_folder(path.parent, option)
    return path


def missing_folders(path: str | Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, innermost first."""
    path = Path(path)
    return [part for part in (path, *path.parents) if not part.exists()]


@contextlib.contextmanager
def removed_when_empty(*paths: str | Path) -> Iterator[None]:
    """Folders among ``paths`` (and their parents) that do not exist on entry and are
    empty on exit are removed: a command whose every input failed, or that was stopped
    before its first output, leaves no empty output folders behind."""
    made = {folder for path in paths for folder in missing_folders(path)}
    try:
        yield
    finally:
        for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):  # innermost first
            with contextlib.suppress(OSError):  # not empty (or gone): kept
                folder.rmdir()


def make_output_folder(path: str | Path, option: str = "--output") -> Path:
    """Create the output folder (and its parents); a file in the way is one line of error."""
    path = check_output_folder(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise P2SError(f"could not create the {option} folder '{path}': {err.strerror or err}") from None
    probe = path / f".p2s-write-test-{os.getpid()}{TMP_SUFFIX}"
    try:  # a read-only folder is found now, not after the whole model run
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise P2SError(f"cannot write in the {option} folder '{path}': {err.strerror or err}") from None
    return path


def refuse_overwriting_inputs(inputs: Sequence[str | Path], outputs: Iterable[Path], warn: bool = True) -> list[Path]:
    """Refuse, before anything is written, an output that would replace one of the
    inputs (``--output`` the input folder): the input would be lost; and an output
    path where a folder stands, which would stop the run halfway.  Returns the outputs
    of an earlier run that will be replaced, named in one warning line unless ``warn``
    is False (a caller with checks still to make warns with :func:`warn_replaced` once
    they pass, so a refused run does not announce replacements it never makes)."""
    sources = {Path(p).resolve(): Path(p) for p in inputs}
    replaced = []
    for out in outputs:
        source = sources.get(Path(out).resolve())
        if source is not None:
            raise P2SError(
                f"writing {out} would replace the input '{source}'; give another --output folder"
            )
        if Path(out).is_dir():
            raise P2SError(f"output {out} is a folder; move it away or give another --output folder")
        if Path(out).is_file():
            replaced.append(Path(out))
    if warn:
        warn_replaced(replaced)
    return replaced


def warn_replaced(replaced: Sequence[Path], done: bool = False) -> None:
    """One warning line counting the outputs of an earlier run this one replaces
    (``done``: replaced already, as :func:`~p2s.alignment.align_paths` finds them)."""
    if replaced:
        verb = "were" if done else "will be"
        warnings.warn(f"{_count_files(replaced)} of an earlier run {verb} replaced in {replaced[0].parent}",
                      P2SWarning, stacklevel=3)


def _count_files(paths: Sequence[Path], shown: int = 3) -> str:
    names = ", ".join(p.name for p in paths[:shown]) + (", ..." if len(paths) > shown else "")
    return f"{len(paths)} file(s) ({names})"


def warn_stale_outputs(output: Path, inputs: Sequence[Path], planned: Sequence[Path], images: bool) -> None:
    """Files of an earlier run that this one leaves in place but no longer match its
    images (``latents/<stem>.npy`` written without ``--save-latents``, ``_mix<k>`` beyond
    this run's ``--mix``): say so in one warning line."""
    if not images:
        return
    found = [found for p in inputs for found in [output / "latents" / f"{p.stem}.npy", *output.glob(f"{p.stem}_mix*.png")]]
    warn_stale(output, found, planned)


def warn_stale(output: Path, found: Iterable[Path], planned: Iterable[Path]) -> None:
    """The files in ``found`` that exist but this run does not write (``planned``) are an
    earlier run's that no longer match its images: one warning line names them."""
    keep = set(planned)
    stale = [path for path in found if path not in keep and path.is_file()]
    if stale:
        warnings.warn(f"{_count_files(stale)} in {output} are an earlier run's and no longer match the new images "
                      "(remove them, or give another --output folder)", P2SWarning, stacklevel=3)


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


#: zlib level of the PNGs written: 1 compresses a 1024-px face about 4x faster than
#: Pillow's default 6, for files about 18 % larger (PNG is lossless: same pixels)
PNG_COMPRESS_LEVEL = 1


def default_io_workers() -> int:
    """Threads for reading and writing files: one per core, at most 8."""
    return min(8, os.cpu_count() or 1)


def save_png(array: np.ndarray, path: Path, compress_level: int = PNG_COMPRESS_LEVEL) -> None:
    """Save an ``[H, W, 3]`` uint8 array as PNG, atomically."""
    write_atomically(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG", compress_level=compress_level))


def save_npy(array: np.ndarray, path: Path) -> None:
    """Save an array as ``.npy``, atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    write_atomically(path, write)


class FileWorkers:
    """Threads that read inputs ahead of the model and write its outputs behind it.

    Pillow releases the GIL while it decodes, resizes and compresses, so the threads
    overlap file work with each other and with the forward passes; ``workers=0`` does
    everything inline, in order.  Writes stay atomic (:func:`p2s.utils.atomic.write_atomically`), and on an
    error the writes not yet started are cancelled and those under way finish, so no
    partial file is left; the error is raised from the call that collects it.
    """

    def __init__(self, workers: int = 0) -> None:
        if workers < 0:
            raise P2SError(f"--workers must be 0 or more, got {workers}")
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="p2s-io") if workers else None
        self._writes: deque[tuple[Path, Future]] = deque()
        #: writes allowed in flight before the model waits (bounds the memory they hold)
        self._max_pending = 4 * max(workers, 1)
        self.written: list[Path] = []

    def submit(self, fn: Callable, *args) -> Future:
        """Run ``fn(*args)`` on a worker (inline without workers); its future."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # kept for .result(), as a worker would
            future.set_exception(err)
        return future

    def write(self, path: Path, array: np.ndarray, saver: Callable[[np.ndarray, Path], None]) -> None:
        """Queue ``saver(array, path)``; ``path`` joins :attr:`written` once it is on disk."""
        self._writes.append((path, self.submit(saver, array, path)))
        while len(self._writes) > self._max_pending:
            self._collect_oldest()

    def finish(self) -> list[Path]:
        """Wait for every queued write; the paths written, in the order queued."""
        while self._writes:
            self._collect_oldest()
        return self.written

    def _collect_oldest(self) -> None:
        path, future = self._writes.popleft()
        future.result()
        self.written.append(path)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FileWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class SourceBatch:
    """The inputs of a batch that loaded, and their encoder batch (on the CPU; the
    full-size images are not kept)."""

    paths: list[Path]
    sources: torch.Tensor | None


@dataclass
class MixSpec:
    """Multi-modal synthesis: ``count`` variants per input, rows ``layers`` from W of
    random z (seeded), blended by ``alpha`` (``None`` replaces)."""

    count: int
    layers: Sequence[int]
    alpha: float | None
    seed: int

    def check(self, num_ws: int) -> None:
        """Refuse rows outside the latent and a seed NumPy cannot take, before anything is written."""
        check_mixing_seed(self.seed)
        bad = [i for i in self.layers if not 0 <= i < num_ws]
        if bad:
            raise P2SError(f"mix layers {bad} are outside 0..{num_ws - 1}")


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
    workers: FileWorkers | None = None,
) -> Iterator[tuple[int, SourceBatch]]:
    """Yield ``(batch length, SourceBatch)`` per batch of ``inputs``, read and
    pre-processed by ``workers`` while the batch before it is translated.

    Unusable files are appended to ``failed`` (and passed to ``on_error``) and left out
    of their batch; the last partial batch is yielded too.
    """
    if batch_size < 1:
        raise P2SError(f"--batch-size must be at least 1, got {batch_size}")
    workers = workers or FileWorkers(0)
    items = list(inputs)
    runs = batches(items, batch_size)

    def read(path: Path) -> torch.Tensor | str:
        try:
            return translator.task.prepare_source(translator.task.load_source(path))
        except SourceImageError as err:
            return str(err)

    def queue(batch: list[Path] | None) -> None:
        if batch is not None:
            ahead.append((batch, [workers.submit(read, path) for path in batch]))

    ahead: deque[tuple[list[Path], list[Future]]] = deque()
    queue(next(runs, None))
    while ahead:
        batch, futures = ahead.popleft()
        queue(next(runs, None))  # the next batch loads while this one is translated
        paths, tensors = [], []
        for path, future in zip(batch, futures):
            result = future.result()
            if isinstance(result, str):
                failed.append((path, result))
                if on_error:
                    on_error(path, result)
                continue
            paths.append(path)
            tensors.append(result)
        yield len(batch), SourceBatch(paths, torch.stack(tensors) if tensors else None)


def translate_files(
    translator: Translator,
    inputs: Sequence[Path],
    output: Path,
    batch_size: int = 4,
    save_latents: bool = False,
    mix: MixSpec | None = None,
    on_error: Callable[[Path, str], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    workers: int = 0,
    compress_level: int = PNG_COMPRESS_LEVEL,
    latents_only: bool = False,
) -> TranslateReport:
    """Translate ``inputs`` into ``output``: ``<stem>.png`` (+ ``latents/<stem>.npy``,
    ``<stem>_mix<k>.png``).  Unusable inputs are reported and skipped; the last
    partial batch is processed.  ``workers`` threads read and write the files.
    ``latents_only`` runs the encoder alone and writes just ``latents/<stem>.npy``."""
    if latents_only and mix:
        raise P2SError("--latents-only writes no images, so it cannot go with --mix")
    if mix:
        mix.check(translator.num_ws)  # before anything is written, not after the first batch
    check_compress_level(compress_level)
    names = [] if latents_only else ["", *([f"_mix{k}" for k in range(mix.count)] if mix else [])]
    planned = [output / f"{p.stem}{v}.png" for p in inputs for v in names]
    if save_latents or latents_only:
        planned += [output / "latents" / f"{p.stem}.npy" for p in inputs]
    refuse_overwriting_inputs(inputs, planned)
    warn_stale_outputs(output, inputs, planned, images=bool(names))
    report = TranslateReport()
    rng = np.random.RandomState(mix.seed) if mix else None

    def png(array: np.ndarray, path: Path) -> None:
        save_png(array, path, compress_level)

    start = time.perf_counter()
    with FileWorkers(workers) as files:
        for size, batch in load_batches(translator, inputs, batch_size, report.failed, on_error, files):
            if batch.paths and latents_only:
                for path, latent in zip(batch.paths, translator.encode(batch.sources).cpu().numpy()):
                    files.write(output / "latents" / f"{path.stem}.npy", latent, save_npy)
                report.images += len(batch.paths)
            elif batch.paths:
                result = translator.translate(batch.sources)
                for path, array, latent in zip(batch.paths, result.to_uint8(), result.latents):
                    files.write(output / f"{path.stem}.png", array, png)
                    if save_latents:
                        npy = latent.float().cpu().numpy().astype("float32")
                        files.write(output / "latents" / f"{path.stem}.npy", npy, save_npy)
                if mix:
                    for path, source in zip(batch.paths, batch.sources):
                        _write_mixes(translator, source, path.stem, output, mix, rng, files, png)
                report.images += len(batch.paths)
            if on_batch:
                on_batch(size)
        report.written = files.finish()
    report.seconds = time.perf_counter() - start
    return report


def check_compress_level(level: int) -> None:
    if not 0 <= level <= 9:
        raise P2SError(f"--png-compression must be 0 (none) to 9 (smallest), got {level}")


def _write_mixes(
    translator: Translator,
    source: torch.Tensor,
    stem: str,
    output: Path,
    mix: MixSpec,
    rng: np.random.RandomState,
    files: FileWorkers,
    png: Callable[[np.ndarray, Path], None],
) -> None:
    inject = translator.mixing_latents(mix.count, rng)
    variants = tensors_to_uint8(translator.style_mix(source, inject, mix.layers, mix.alpha).images)
    for k, array in enumerate(variants):
        files.write(output / f"{stem}_mix{k}.png", array, png)
