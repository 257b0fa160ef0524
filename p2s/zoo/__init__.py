"""Weights that ship inside the package, found by name (``synthfaces-seg2face``).

The catalogue (``catalogue.json`` beside this file) lists each entry's file, kind
(``generator`` or ``translation``), task, how it was trained and the figures it reached
on held-out data.  Anything that opens a weight file (``load_checkpoint_file``) accepts
a catalogue name in place of a path, so ``p2s translate --checkpoint synthfaces-inversion``
and ``generator=dict(weights='synthfaces-generator')`` need no download.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from p2s.utils.errors import P2SError

ZOO_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = ZOO_DIR / "weights"
CATALOGUE = ZOO_DIR / "catalogue.json"


@dataclass(frozen=True)
class ZooEntry:
    """One shipped weight file and what is known about it."""

    name: str
    file: str
    kind: str
    description: str = ""
    task: str | None = None
    sha256: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    #: synthetic-face folders it reads and is scored against, for ``p2s demo`` and the
    #: held-out figures: ``{"source": "labels", "target": "images"[, "compare_with": name]}``
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


@lru_cache(maxsize=1)
def catalogue() -> dict[str, ZooEntry]:
    """Every catalogue entry by name (empty when the package ships none)."""
    if not CATALOGUE.is_file():
        return {}
    entries = json.loads(CATALOGUE.read_text())
    return {name: ZooEntry(name=name, **fields) for name, fields in entries.items()}


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """``sha256`` of a file, computed once per file version (size and mtime)."""
    stat = os.stat(path)
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256(path)


def check_intact(entry: ZooEntry) -> Path:
    """The entry's file, refused when it is not the file the catalogue lists (overwritten
    by hand or by ``p2s zoo pack --replace`` without its catalogue entry)."""
    path = entry.path
    if entry.sha256 and path.is_file():
        if file_sha256(path) != entry.sha256:
            raise P2SError(
                f"shipped model '{entry.name}' ({path}) is not the file its catalogue lists "
                "(sha256 differs): it was changed after packing; reinstall p2s or re-pack it "
                "with p2s zoo pack --replace"
            )
    return path


def find(name_or_path: str | os.PathLike) -> Path | None:
    """The shipped file of a catalogue name (checked against its sha256); ``None`` for
    anything else (a path)."""
    entry = catalogue().get(str(name_or_path))
    return check_intact(entry) if entry is not None else None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A catalogue name's file, or the given path when it is an existing file or no name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    return find(name_or_path) or path


def names(kind: str | None = None) -> list[str]:
    """Catalogue names, optionally only those of one ``kind``."""
    return sorted(n for n, e in catalogue().items() if kind is None or e.kind == kind)
