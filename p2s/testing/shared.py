"""Locate the project's ``shared/`` folder (format manifests and parity fixtures).

It lives beside the repository (``<repo>/../shared``) unless ``P2S_SHARED`` points elsewhere.
Tests skip when it is absent, except where ``P2S_REQUIRE_SHARED=1`` says it must be there
(CI that ships the fixtures), so a missing folder cannot turn parity tests silently green.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SharedDirMissing", "shared_dir", "shared_dir_for_tests"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


class SharedDirMissing(FileNotFoundError):
    """``shared/`` (or a path inside it) is not where p2s looked."""


def _candidate() -> Path:
    """``$P2S_SHARED`` if set, else ``<repo root>/../shared``."""
    env = os.environ.get("P2S_SHARED")
    return Path(env) if env else _REPO_ROOT.parent / "shared"


def shared_dir(*parts: str) -> Path:
    """The shared folder (or ``parts`` inside it); raises :class:`SharedDirMissing` if absent."""
    path = _candidate().joinpath(*parts)
    if not path.exists():
        raise SharedDirMissing(
            f"shared data not found at '{path}'; set P2S_SHARED to the folder holding "
            "formats/ and fixtures/"
        )
    return path


def shared_dir_for_tests(*parts: str) -> Path:
    """:func:`shared_dir` for tests: ``pytest.skip`` when absent, ``pytest.fail`` if required.

    Required means the environment variable ``P2S_REQUIRE_SHARED=1``.
    """
    import pytest  # only tests call this; keep pytest out of the package's import path

    try:
        return shared_dir(*parts)
    except SharedDirMissing as err:
        if os.environ.get("P2S_REQUIRE_SHARED") == "1":
            pytest.fail(f"{err} (P2S_REQUIRE_SHARED=1)", pytrace=False)
        pytest.skip(str(err))
        raise  # unreachable: skip raises
