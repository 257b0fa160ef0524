"""Landmarks given by hand (or by another tool) in a JSON file, instead of a detector.

The file maps image file names to the faces in that image; each face is a list of 5
``[x, y]`` points (left eye, right eye, nose, left mouth corner, right mouth corner, in image
pixel coordinates) or of 68 dlib/iBUG points::

    {"a.jpg": [[[100, 120], [140, 120], [120, 145], [104, 165], [136, 165]]],
     "b.png": [[...face 0...], [...face 1...]]}

A single face may also be written without the outer list (``"a.jpg": [[x, y], ...]``).
An image is looked up by its file name, then by its stem (``"a"`` matches ``a.jpg``).
Faces keep the file's order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from p2s.alignment.ffhq import to_five_landmarks
from p2s.utils.errors import P2SError

__all__ = ["LandmarkTable", "load_landmarks"]

_SHAPE_HINT = "each image name must map to a list of faces, each a list of 5 or 68 [x, y] points"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _faces_of(name: str, entry, source: str) -> list[np.ndarray]:
    """Validate one entry: a list of faces (or one face) -> list of ``[5, 2]`` arrays."""
    if not isinstance(entry, list):
        raise P2SError(f"{source}: entry '{name}' is a {type(entry).__name__}; {_SHAPE_HINT}")
    # one face written without the outer list: [[x, y], ...]
    if entry and isinstance(entry[0], list) and entry[0] and _is_number(entry[0][0]):
        entry = [entry]
    faces = []
    for k, face in enumerate(entry):
        ok = (
            isinstance(face, list)
            and all(isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p) for p in face)
        )
        if not ok:
            raise P2SError(f"{source}: entry '{name}', face {k} is not a list of [x, y] number pairs; {_SHAPE_HINT}")
        if len(face) not in (5, 68):
            raise P2SError(f"{source}: entry '{name}', face {k} has {len(face)} points; {_SHAPE_HINT}")
        if not all(math.isfinite(v) for p in face for v in p):
            raise P2SError(f"{source}: entry '{name}', face {k} has a non-finite coordinate")
        faces.append(to_five_landmarks(face))
    return faces


class LandmarkTable:
    """Image name -> faces (``[5, 2]`` arrays); calling it looks up one image."""

    def __init__(self, faces: Mapping[str, Sequence], source: str = "landmarks") -> None:
        self.source = source
        self.faces: dict[str, list[np.ndarray]] = {
            str(name): _faces_of(str(name), entry, source) for name, entry in faces.items()
        }

    def __len__(self) -> int:
        return len(self.faces)

    def lookup(self, path: str | Path) -> list[np.ndarray]:
        """The faces of image ``path`` (by file name, then stem); P2SError if it has no entry."""
        path = Path(path)
        for key in (path.name, path.stem):
            if key in self.faces:
                return [face.copy() for face in self.faces[key]]
        raise P2SError(f"{path.name}: no entry in {self.source}")

    def __call__(self, image, path: str | Path) -> list[np.ndarray]:
        return self.lookup(path)


def load_landmarks(path: str | Path) -> LandmarkTable:
    """Read and validate a landmarks JSON file (one-line P2SError on any problem)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise P2SError(f"landmarks file '{path}' does not exist")
    source = f"landmarks file '{path}'"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise P2SError(f"{source} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise P2SError(f"cannot read {source}: {err}") from None
    if not isinstance(data, dict):
        raise P2SError(f"{source} holds a {type(data).__name__}, not an object; {_SHAPE_HINT}")
    return LandmarkTable(data, source)
