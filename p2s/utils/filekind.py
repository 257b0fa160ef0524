"""What a file is from its first bytes, for errors about a file given in the wrong place
(an image as a checkpoint, text as a direction): the loaders' own messages name an
opcode or suggest unpickling."""

from __future__ import annotations

import os

#: first bytes of files a user may give in a weight file's place, and what they are
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"BM", "a BMP image"), (b"\x93NUMPY", "a NumPy .npy array"))


def file_kind(path: str | os.PathLike) -> str | None:
    """What a file is from its first bytes ("it is a PNG image", "it is text"), for an
    error instead of a loader's "KeyError: 105"; None when unknown."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return None
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is None and head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        kind = "text"
    return f"it is {kind}" if kind else None


def numpy_load_failure(path: str | os.PathLike, err: Exception) -> str:
    """The reason ``np.load(path, allow_pickle=False)`` failed, for one error line: on a
    file that is neither .npy nor .npz NumPy says it "contains pickled (object) data" and
    suggests loading it unsafely, which p2s never does."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "pickled (object) data" not in first:
        return first
    with open(path, "rb") as handle:
        is_pickle = handle.read(1) == b"\x80"
    return "it is a Python pickle, which p2s never loads" if is_pickle else (file_kind(path) or "it is no NumPy file")
