"""Where weight files come from, and the check that one is there.

Light on purpose (no torch import): the CLI runs :func:`require_weight_file` before it
imports the models, so a mistyped path is refused at once, not after seconds of imports.
"""

from __future__ import annotations

import os
from pathlib import Path

from p2s.utils.errors import MissingWeightsError

#: how to get a translation checkpoint (nothing is ever downloaded)
PSP_HOW_TO_GET = (
    "Give the path of a pSp checkpoint (the pSp README links one per task, e.g. "
    "psp_ffhq_encode.pt or psp_celebs_sketch_to_face.pt), of one written by 'p2s train', "
    "or a shipped model's name (p2s zoo list)."
)


def require_weight_file(path: str | os.PathLike, what: str = "checkpoint", how_to_get: str = "") -> Path:
    """The file ``path`` names (a shipped model's name resolves to its file), or a
    :class:`MissingWeightsError` that says where it looked and how to get it."""
    from p2s import zoo

    resolved = zoo.resolve(path)
    if resolved.is_file():
        return resolved
    if resolved.is_dir():
        raise MissingWeightsError(f"{what} '{path}' is a folder, not a file; give the weight file itself")
    if str(path) in zoo.catalogue():
        raise MissingWeightsError(f"shipped model '{path}' is listed but its file {resolved} is missing; "
                                  "reinstall p2s (pip install -e .) to restore it")
    how = how_to_get or "Check the path (nothing is downloaded)."
    if len(resolved.parts) == 1 and not resolved.suffix and zoo.names():
        how += f" '{resolved}' is not a shipped model either (shipped: {', '.join(zoo.names())})."
    raise MissingWeightsError(what, str(resolved.resolve()), how)


def why_not_a_file(path: str | os.PathLike) -> str:
    """``'is a folder, not a file'`` or ``'does not exist'``, for a path that is no file."""
    return "is a folder, not a file" if Path(path).is_dir() else "does not exist"
