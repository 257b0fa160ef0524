"""Atomic file writes: every file p2s writes (images, latents, checkpoints, JSON) goes
through here, so readers see the old file or the new one, never a truncated one.

The data goes to a hidden sibling ``.<name>.<id>.p2s.tmp`` that is renamed over the
target; on any error (a full disk, a ``KeyboardInterrupt``) it is removed.  The sibling
is created by the writer itself (``open``, Pillow, ``torch.save``), so the file gets the
permissions any other new file gets under the user's umask (``tempfile.mkstemp`` would
make it private, 0600).
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from p2s.utils.errors import P2SError

#: suffix of the temporary siblings (a killed run's leftovers are found by it)
TMP_SUFFIX = ".p2s.tmp"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield the temporary path to write; rename it to ``path`` when the block succeeds.

    ``fsync`` also flushes the file and its folder to disk, so the rename survives a
    power cut (checkpoints); outputs that can be made again skip it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync(target.parent)


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)``; a failed write (disk full, no permission,
    a file where a folder should be) leaves nothing behind and is one line of error."""
    try:
        with atomic_output(path) as tmp:
            write(tmp)
    except OSError as err:
        raise P2SError(f"could not write {path}: {err.strerror or err}") from None


def _fsync(path: Path) -> None:
    """Flush a file or (on POSIX) a folder to disk; best effort for folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if path.is_dir():
            return  # folders cannot be opened on Windows
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


#: zlib level of the PNGs written: 1 compresses a 1024-px face about 4x faster than
#: Pillow's default 6, for files about 18 % larger (PNG is lossless: same pixels)
PNG_COMPRESS_LEVEL = 1


def save_png(array: np.ndarray, path: Path, compress_level: int = PNG_COMPRESS_LEVEL) -> None:
    """Save an ``[H, W, 3]`` uint8 array as PNG, atomically."""
    write_atomically(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG", compress_level=compress_level))


def save_npy(array: np.ndarray, path: Path) -> None:
    """Save an array as ``.npy``, atomically.  Serialised in memory first (codes are kilobytes):
    numpy's own short-write error ("N requested and M written") hides the cause that the
    file write reports (disk full, file too large)."""

    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array)
        tmp.write_bytes(buffer.getbuffer())

    write_atomically(path, write)
