"""Edit encoded images: encode with a :class:`~p2s.apis.translator.Translator`, move the
W+ codes along a direction, decode; file-level helpers for the ``p2s edit`` command."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from p2s.apis.translator import Translation, Translator
from p2s.editing.directions import apply_direction, check_strength
from p2s.editing.patch import open_patch, paste_patch
from p2s.utils.errors import P2SError
from p2s.utils.wplus import check_rows


@torch.inference_mode()
def edit_sources(
    translator: Translator,
    sources: torch.Tensor,
    direction: torch.Tensor,
    strengths: Sequence[float],
    layers: Sequence[int] | None = None,
) -> list[Translation]:
    """Encode prepared ``sources`` once and decode them edited at each of ``strengths``.

    Returns one :class:`Translation` per strength (in order).  Encoder and generator run
    as in :meth:`Translator.translate` (noise, resizing, precision, compiled passes), so
    strength 0 gives exactly its output.
    """
    strengths = [check_strength(s) for s in strengths]
    if not strengths:
        raise P2SError("give at least one strength")
    codes = translator.encode(sources)  # the translator's precision and compiled passes, as translate()
    return [translator.decode(apply_direction(codes, direction, strength, layers)) for strength in strengths]


@dataclass
class EditReport:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    images: int = 0
    seconds: float = 0.0


def edit_files(
    translator: Translator,
    inputs: Sequence[Path],
    output: Path,
    direction: torch.Tensor,
    strength: float | None = 1.0,
    strengths: Sequence[float] | None = None,
    layers: Sequence[int] | None = None,
    batch_size: int = 4,
    on_error: Callable[[Path, str], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    workers: int = 0,
) -> EditReport:
    """Write ``<stem>_edit.png`` (one ``strength``) or, when ``strengths`` is given,
    ``<stem>_strip.png``: the edits side by side, left to right in the given order.
    Unusable inputs are reported and skipped."""
    from p2s.apis.files import FileWorkers, load_batches
    from p2s.utils.atomic import save_png

    strip = strengths is not None
    values = list(strengths) if strip else [1.0 if strength is None else strength]
    values = [check_strength(v, "--strengths value" if strip else "--strength") for v in values]
    if not values:
        raise P2SError("--strengths names no strength")
    if layers is not None:
        check_rows(layers, translator.num_ws, "--layers")
    report = EditReport()
    start = time.perf_counter()
    with FileWorkers(workers) as files:
        for size, batch in load_batches(translator, inputs, batch_size, report.failed, on_error, files):
            if batch.paths:
                frames = [result.to_uint8() for result in edit_sources(translator, batch.sources, direction, values, layers)]
                for k, path in enumerate(batch.paths):
                    if strip:
                        files.write(output / f"{path.stem}_strip.png",
                                    np.concatenate([frame[k] for frame in frames], axis=1), save_png)
                    else:
                        files.write(output / f"{path.stem}_edit.png", frames[0][k], save_png)
                report.images += len(batch.paths)
            if on_batch:
                on_batch(size)
        report.written = files.finish()
    report.seconds = time.perf_counter() - start
    return report


def patch_files(
    translator: Translator,
    inputs: Sequence[Path],
    output: Path,
    patch,
    box: Sequence[int],
    on_error: Callable[[Path, str], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EditReport:
    """Write ``<stem>_patched.png``: ``patch`` (an image or its path) pasted at ``box``
    on each input and re-encoded (:func:`p2s.editing.patch.local_edit` per file)."""
    from p2s.utils.atomic import save_png
    from p2s.tasks.base import SourceImageError

    translator.task.require_rgb_sources("patch_files()")
    if isinstance(patch, (str, Path)):
        patch = open_patch(Path(patch))
    report = EditReport()
    start = time.perf_counter()
    for path in inputs:
        try:
            image = translator.task.load_source(path)
            # a box outside this input fails this input only
            composite = paste_patch(image, patch, box)
        except P2SError as err:
            message = str(err) if isinstance(err, SourceImageError) else f"{path.name}: {err}"
            report.failed.append((path, message))
            if on_error:
                on_error(path, message)
        else:
            result = translator.translate_images([composite])[0]
            target = output / f"{path.stem}_patched.png"
            save_png(np.asarray(result), target)
            report.written.append(target)
            report.images += 1
        if on_batch:
            on_batch(1)
    report.seconds = time.perf_counter() - start
    return report
