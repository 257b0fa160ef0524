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
    #: the shipped generator a translation entry was packed against, as it was then:
    #: ``{"name": "synthfaces-generator", "sha256": ...}``
    generator: dict[str, Any] = field(default_factory=dict)

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


@lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """``sha256`` once per file version (a changed file has a new size or mtime)."""
    return sha256(path)


def stale_generator(entry: ZooEntry) -> str | None:
    """The name of the shipped generator ``entry`` was packed against, when that generator
    has been replaced since (its catalogue sha256 is another): the encoder would decode
    with weights it never learnt."""
    name, packed_with = entry.generator.get("name"), entry.generator.get("sha256")
    shipped = catalogue().get(name) if name else None
    return name if shipped is not None and packed_with and shipped.sha256 != packed_with else None


def check_intact(entry: ZooEntry) -> Path:
    """The entry's file, refused when it is not the file the catalogue lists (overwritten
    by hand or by ``p2s zoo pack --replace`` without its catalogue entry), or when the
    generator it shares has been replaced since it was packed."""
    stale = stale_generator(entry)
    if stale is not None:
        raise P2SError(
            f"shipped model '{entry.name}' was packed with an earlier '{stale}', which has been replaced "
            f"since: re-pack it from a checkpoint trained with the new generator "
            f"(p2s zoo pack CHECKPOINT --name {entry.name} --generator {stale} --replace)"
        )
    path = entry.path
    if entry.sha256 and path.is_file():
        stat = path.stat()
        if _sha256_of(str(path), stat.st_size, stat.st_mtime_ns) != entry.sha256:
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
