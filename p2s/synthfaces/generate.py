"""Write a synthetic face data set: images, label maps, sketches, frontal views, attributes.

Sample ``i`` draws its attributes from ``np.random.default_rng([seed, i])`` and nothing
else, so the files are the same whatever the number of worker processes or the order in
which they run.  Layout (``<id>`` = the zero-padded index, at least 6 digits)::

    DIR/images/<id>.png       RGB face, size x size
    DIR/labels/<id>.png       'L' CelebAMask-HQ class indices 0..18
    DIR/sketches/<id>.png     'L' black lines on white
    DIR/frontal/<id>.png      RGB, the same face at yaw 0 and roll 0
    DIR/attributes/<id>.json  {"params", "frontal_params", "landmarks", ...}
    DIR/synthfaces.json       classes, seed, size, supersample, renderer, count, ranges
                              (the index ranges written so far; a run with another seed,
                              size or renderer is refused, so one folder is one data set)
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from p2s.synthfaces.params import frontal_params, sample_params
from p2s.synthfaces.renderer import CLASSES, landmarks, render
from p2s.utils.atomic import write_atomically
from p2s.utils.errors import P2SError

FOLDERS = ("images", "labels", "sketches", "frontal", "attributes")
#: bumped when the same seed would give different faces
RENDERER_VERSION = 1
META_FILE = "synthfaces.json"
#: PNG compression: zlib level 1 is 3-4x faster than the default 6 for ~15% larger files
PNG_LEVEL = 1


@dataclass
class GenerateStats:
    """What :func:`generate` did: samples written, wall seconds, workers used."""

    count: int
    seconds: float
    workers: int

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def default_supersample(size: int) -> int:
    """4x for small images (<= 64 px), 2x otherwise."""
    return 4 if size <= 64 else 2


def sample_id(index: int, digits: int = 6) -> str:
    return f"{index:0{digits}d}"


def sample_attributes(seed: int, index: int) -> dict:
    """The attributes of sample ``index`` of data set ``seed``."""
    return sample_params(np.random.default_rng([seed, index]))


def render_sample(seed: int, index: int, size: int, supersample: int | None = None) -> dict:
    """Everything one sample writes, in memory: ``image``, ``label``, ``sketch``,
    ``frontal`` (uint8 arrays) and ``attributes`` (a JSON-ready dict)."""
    supersample = supersample or default_supersample(size)
    params = sample_attributes(seed, index)
    front = frontal_params(params)
    main = render(params, size, supersample)
    frontal = render(front, size, supersample, label=False, sketch=False)
    attributes = dict(index=index, seed=seed, size=size, supersample=supersample, renderer=RENDERER_VERSION,
                      params=params, frontal_params=front, landmarks=landmarks(params, size),
                      frontal_landmarks=landmarks(front, size))
    return dict(image=main.image, label=main.label, sketch=main.sketch, frontal=frontal.image,
                attributes=attributes)


def _write_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array, mode="L" if array.ndim == 2 else "RGB").save(path, compress_level=PNG_LEVEL)


def write_sample(out: Path, seed: int, index: int, size: int, supersample: int | None, digits: int = 6) -> str:
    """Render sample ``index`` and write its five files; returns its id."""
    sample = render_sample(seed, index, size, supersample)
    sid = sample_id(index, digits)
    sample["attributes"]["id"] = sid
    _write_png(sample["image"], out / "images" / f"{sid}.png")
    _write_png(sample["label"], out / "labels" / f"{sid}.png")
    _write_png(sample["sketch"], out / "sketches" / f"{sid}.png")
    _write_png(sample["frontal"], out / "frontal" / f"{sid}.png")
    (out / "attributes" / f"{sid}.json").write_text(json.dumps(sample["attributes"], indent=1))
    return sid


def _write_chunk(job: tuple) -> int:
    out, seed, indices, size, supersample, digits = job
    for index in indices:
        write_sample(Path(out), seed, index, size, supersample, digits)
    return len(indices)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pool_context():
    """``fork`` on Linux (fast start; workers only run numpy and PIL), ``spawn`` elsewhere
    (the calling script then needs an ``if __name__ == '__main__':`` guard)."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def generate(
    out: str | os.PathLike,
    n: int,
    size: int = 128,
    seed: int = 0,
    workers: int | None = None,
    supersample: int | None = None,
    start: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> GenerateStats:
    """Write samples ``start .. start + n - 1`` of data set ``seed`` under ``out``.

    Args:
        out: output folder (created; existing files with the same ids are replaced).
        n: number of samples.
        size: image side in pixels (>= 16).
        seed: data set seed; sample ``i`` uses ``default_rng([seed, i])``.
        workers: processes (default: the CPUs this process may use); 1 runs inline.
        supersample: colour supersampling factor (default 4 up to 64 px, else 2).
        start: first index (to extend a data set).
        on_progress: called with the number of samples finished so far.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    if start < 0 or seed < 0:
        raise ValueError(f"seed and start must be >= 0, got seed={seed}, start={start}")
    out = Path(out)
    previous = existing_set(out, seed, size, supersample)
    identity = _identity(seed, size, supersample)
    supersample = identity["supersample"]
    for folder in FOLDERS:
        (out / folder).mkdir(parents=True, exist_ok=True)
    digits = max(6, len(str(start + n - 1)))
    workers = max(1, min(workers or available_cpus(), n))
    indices = list(range(start, start + n))
    began = time.perf_counter()
    done = 0
    if workers == 1:
        for index in indices:
            write_sample(out, seed, index, size, supersample, digits)
            done += 1
            if on_progress:
                on_progress(done)
    else:
        chunk = max(1, min(16, n // (workers * 4)))
        jobs = [(str(out), seed, indices[i:i + chunk], size, supersample, digits) for i in range(0, n, chunk)]
        with _pool_context().Pool(workers) as pool:
            for count in pool.imap_unordered(_write_chunk, jobs):
                done += count
                if on_progress:
                    on_progress(done)
    seconds = time.perf_counter() - began
    ranges = _merge_ranges([*previous.get("ranges", []), [start, start + n]])
    meta = dict(classes=list(CLASSES), **identity, start=ranges[0][0], count=sum(b - a for a, b in ranges),
                ranges=ranges, folders=list(FOLDERS))
    text = json.dumps(meta, indent=1)
    write_atomically(out / META_FILE, lambda tmp: tmp.write_text(text))
    return GenerateStats(count=n, seconds=seconds, workers=workers)


def _identity(seed: int, size: int, supersample: int | None) -> dict:
    """What makes a data set one: samples of another identity are not of this set."""
    return dict(seed=seed, size=size, supersample=supersample or default_supersample(size), renderer=RENDERER_VERSION)


def existing_set(out: str | Path, seed: int, size: int, supersample: int | None = None) -> dict:
    """The record of the data set already in ``out`` (``{}`` when there is none); refuses
    to add samples of another seed, size, supersampling or renderer to it."""
    out = Path(out)
    identity = _identity(seed, size, supersample)
    path = out / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        raise P2SError(f"'{path}' is not a readable synthfaces record; use another --out") from None
    differ = {k: meta.get(k) for k, v in identity.items() if meta.get(k) != v}
    if differ:
        theirs = ", ".join(f"{k} {v}" for k, v in differ.items())
        ours = ", ".join(f"{k} {identity[k]}" for k in differ)
        raise P2SError(
            f"'{out}' holds a synthfaces set with {theirs}; this run asks for {ours}. Mixing them would "
            "make one folder of two data sets: use another --out, or the same options to extend it"
        )
    # records written before ranges were kept: one range from start and count
    meta.setdefault("ranges", [[int(meta.get("start", 0)), int(meta.get("start", 0)) + int(meta.get("count", 0))]])
    return meta


def _merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    """Sorted, merged ``[start, end)`` index ranges."""
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged
