"""File-level translation: batches of image files through a Translator, outputs written
atomically (the paths are checked by :mod:`p2s.utils.paths`).

Reading and writing run on worker threads (:class:`FileWorkers`) around the forward
passes: at 1024 px one PNG takes longer to compress than the GPU takes to generate a
whole batch, so done inline it would set the pace (benchmarks/translate_files.py).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from p2s.apis.translator import Translator, batches, check_mixing_seed
from p2s.datasets.transforms.official import tensors_to_uint8
from p2s.tasks.base import SourceImageError
from p2s.utils.atomic import PNG_COMPRESS_LEVEL, save_npy, save_png
from p2s.utils.errors import P2SError
from p2s.utils.paths import refuse_overwriting_inputs, warn_stale
from p2s.utils.wplus import check_rows


def warn_stale_outputs(output: Path, inputs: Sequence[Path], planned: Sequence[Path], images: bool) -> None:
    """Files of an earlier run that this one leaves in place but no longer match its
    images (``latents/<stem>.npy`` written without ``--save-latents``, ``_mix<k>`` beyond
    this run's ``--mix``): say so in one warning line."""
    if not images:
        return
    found = [found for p in inputs for found in [output / "latents" / f"{p.stem}.npy", *sorted(output.glob(f"{p.stem}_mix*.png"))]]
    warn_stale(output, found, planned)


def default_io_workers() -> int:
    """Threads for reading and writing files: one per core, at most 8."""
    return min(8, os.cpu_count() or 1)


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
        check_rows(self.layers, num_ws, "mix layers")


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
