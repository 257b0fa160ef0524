"""Align image files: one FFHQ-aligned PNG per face, written atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from p2s.alignment.ffhq import align_face
from p2s.alignment.landmarks import LandmarkTable, load_landmarks
from p2s.datasets.folders import open_rgb
from p2s.utils.atomic import save_png
from p2s.utils.errors import P2SError
from p2s.utils.paths import refuse_overwriting_inputs, warn_replaced

__all__ = ["FaceSource", "align_paths", "aligned_names"]


class FaceSource(Protocol):
    """Gives the ``[5, 2]`` landmarks of the faces in an image (a detector or a table)."""

    def __call__(self, image: Image.Image, path: Path) -> list[np.ndarray]: ...


def aligned_names(stem: str, faces: int) -> list[str]:
    """``<stem>.png`` for one face, ``<stem>_face<k>.png`` (k = 0, 1, ...) for several."""
    if faces == 1:
        return [f"{stem}.png"]
    return [f"{stem}_face{k}.png" for k in range(faces)]


def align_paths(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    size: int = 256,
    detector: FaceSource | None = None,
    landmarks: LandmarkTable | str | Path | None = None,
    on_error: Callable[[Path, str], None] | None = None,
    on_image: Callable[[Path], None] | None = None,
) -> list[tuple[Path, Path]]:
    """Align every face of every image in ``paths`` into ``out_dir``.

    Faces come from ``landmarks`` (a :class:`LandmarkTable` or the path of its JSON file)
    or from ``detector`` (e.g. :class:`~p2s.alignment.detector.FaceDetector`, largest face
    first); exactly one of the two must be given. Each face is written as
    ``<stem>.png`` (one face) or ``<stem>_face<k>.png`` (several).

    Images that cannot be read, have no face (or no landmarks entry), or whose landmarks
    cannot be aligned are skipped and passed to ``on_error(path, message)``; the rest are
    still written. ``on_image(path)`` is called after each input (progress).

    Returns:
        ``(source path, aligned path)`` for each written face, in input order.
    """
    if (detector is None) == (landmarks is None):
        raise P2SError("align_paths needs exactly one of detector= and landmarks=")
    if landmarks is not None and not isinstance(landmarks, LandmarkTable):
        landmarks = load_landmarks(landmarks)
    source: FaceSource = landmarks if landmarks is not None else detector  # type: ignore[assignment]
    out_dir = Path(out_dir)
    written: list[tuple[Path, Path]] = []
    taken: dict[str, Path] = {}
    replaced: list[Path] = []  # an earlier run's faces: counted in one warning line at the end, not one per face

    def fail(path: Path, message: str) -> None:
        if on_error is not None:
            on_error(path, message)

    for raw in paths:
        path = Path(raw)
        try:
            image = open_rgb(path)
            faces = source(image, path)
            if not faces:
                raise P2SError(f"{path.name}: no face found")
            names = aligned_names(path.stem, len(faces))
            for name in names:
                if name in taken:
                    raise P2SError(f"{path.name}: {name} was already written for {taken[name].name}; rename one")
            crops = []
            for k, face in enumerate(faces):
                try:
                    crops.append(align_face(image, face, size))
                except P2SError as err:
                    label = path.name if len(faces) == 1 else f"{path.name}, face {k}"
                    raise P2SError(f"{label}: {err}") from None
        except P2SError as err:
            fail(path, str(err))
        else:
            for name, crop in zip(names, crops):
                target = out_dir / name
                replaced += refuse_overwriting_inputs(paths, [target], warn=False)  # --output the input folder
                save_png(np.asarray(crop), target)
                taken[name] = path
                written.append((path, target))
        if on_image is not None:
            on_image(path)
    warn_replaced(replaced, done=True)
    return written
