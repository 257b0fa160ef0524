"""Safe checkpoint I/O.

Everything is read with ``torch.load(weights_only=True)``: no pickled code ever runs.
Writes go to a temporary file in the same folder and are renamed into place, so an
interrupted write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from p2s.utils.atomic import write_atomically
from p2s.utils.errors import CheckpointMismatchError, P2SError
from p2s.utils.filekind import file_kind
from p2s.utils.weights import require_weight_file

#: terminal colour codes PyTorch puts in its messages
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def load_checkpoint_file(
    path: str | os.PathLike, what: str = "checkpoint", how_to_get: str = ""
) -> Any:
    """Load ``path`` (or a shipped model's name, see :mod:`p2s.zoo`) on the CPU with
    ``weights_only=True``, with one-line errors."""
    return safe_torch_load(require_weight_file(path, what, how_to_get), what)


#: plain-data classes that weights_only loading may rebuild during p2s's own loads:
#: rosinality's train.py stores its command line as an ``argparse.Namespace`` (``args``)
SAFE_DATA_CLASSES = (argparse.Namespace,)

#: what to do with a file whose pickled objects weights_only loading refuses
RESAVE_HINT = "Re-save it as plain tensors and dicts (e.g. its state_dict)."


def safe_torch_load(path: str | os.PathLike, what: str, map_location: Any = "cpu", refused_hint: str = RESAVE_HINT) -> Any:
    """``torch.load(path, weights_only=True)`` of an existing file, which may also rebuild
    :data:`SAFE_DATA_CLASSES` (allowed for this load only); a refused object or
    a file that is not PyTorch's (text, truncated, garbage) is one :class:`P2SError` line."""
    try:
        with torch.serialization.safe_globals(list(SAFE_DATA_CLASSES)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = _ANSI_ESCAPE.sub("", str(err))
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if refused is None:
            # not a refused object but a stream the safe unpickler cannot parse
            detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
            first = detail.group(1).strip() if detail else type(err).__name__
            raise P2SError(f"{what} '{path}' is not a readable PyTorch file ({file_kind(path) or first}).") from None
        raise P2SError(
            f"{what} '{path}' holds pickled Python objects that safe loading refuses ({refused.group(1)}). "
            f"{refused_hint}"
        ) from None
    except Exception as err:  # noqa: BLE001 - on garbage the unpickler raises anything (KeyError, ...)
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if not isinstance(err, (RuntimeError, OSError)) or not first:
            first = f"{type(err).__name__}: {first}" if first else type(err).__name__
        raise P2SError(f"{what} '{path}' is not a readable PyTorch file ({file_kind(path) or first}).") from None


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary sibling file, then rename it over ``path``; a file
    system error (no permission, a folder or file in the way) is one line of error."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # an OSError here, not torch's RuntimeError
            torch.save(obj, handle)

    write_atomically(path, save)


#: keys a file may lack without harm: PyTorch fills BatchNorm counters in on load
ALWAYS_OPTIONAL = ("num_batches_tracked",)


def describe_mismatch(
    expected: nn.Module | Mapping[str, torch.Tensor],
    state_dict: Mapping[str, torch.Tensor],
    ignore_missing: tuple[str, ...] = (),
    limit: int = 6,
) -> str | None:
    """One readable diff of keys and shapes between a model and ``state_dict``.

    ``expected`` is a module or its (partial) state dict.  Returns ``None`` when the
    state dict fits.  Missing keys ending in one of ``ignore_missing`` are tolerated
    (e.g. constant FIR kernels absent from some circulated files).
    """
    if isinstance(expected, nn.Module):
        expected = expected.state_dict()
    ignore_missing = tuple(ignore_missing) + ALWAYS_OPTIONAL
    missing = [k for k in expected if k not in state_dict and not k.endswith(ignore_missing)]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            shown = ", ".join(items[:limit]) + (f", ... (+{len(items) - limit})" if len(items) > limit else "")
            parts.append(f"{len(items)} {label}: {shown}")
    return "; ".join(parts) or None


def check_state_dict(obj: Any, source: str, how_to_get: str = "") -> dict[str, torch.Tensor]:
    """``obj`` as a ``{name: tensor}`` dict, else one :class:`CheckpointMismatchError` line
    naming ``source``: loaders index keys and read shapes, so garbage must stop here."""
    how = f" {how_to_get}" if how_to_get else ""
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(f"{source} hold a {type(obj).__name__}, not a state dict "
                                      f"(names -> tensors).{how}")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise CheckpointMismatchError(f"{source}: key {reprlib.repr(key)} is a {type(key).__name__}, "
                                          f"not a name (str); not a state dict.{how}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointMismatchError(f"{source}: {reprlib.repr(key)} is a {type(value).__name__}, not a tensor; "
                                          f"not a state dict.{how}")
    return dict(obj)


def load_state_dict_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    ignore_missing: tuple[str, ...] = (),
) -> None:
    """Load ``state_dict`` strictly, reporting a mismatch or a NaN / infinite weight
    (a run that diverged: its model would draw black or noise images) as one
    :class:`P2SError` line."""
    state_dict = check_state_dict(state_dict, source)
    diff = describe_mismatch(module, state_dict, ignore_missing)
    if diff:
        raise CheckpointMismatchError(f"{source} does not match {type(module).__name__}: {diff}")
    check_finite(state_dict, source)
    module.load_state_dict(dict(state_dict), strict=False)


def check_finite(state_dict: Mapping[str, Any], source: str) -> None:
    """Refuse weights with a NaN or an infinity, naming the first such tensor."""
    broken = nonfinite_entries(state_dict)
    if broken:
        more = f" (and {len(broken) - 1} more tensors)" if len(broken) > 1 else ""
        raise P2SError(f"{source} has NaN or infinite values in '{broken[0]}'{more}: the training that wrote it "
                       "diverged; use an earlier checkpoint")


def nonfinite_entries(state_dict: Mapping[str, Any]) -> list[str]:
    """Keys of floating-point tensors holding a NaN or an infinity.  A float32 sum per
    tensor finds the candidates (a NaN or inf anywhere makes it non-finite; vectorised,
    unlike a float64 sum), then ``isfinite`` confirms them: finite values that only
    overflowed the sum are not reported."""
    names = [k for k, v in state_dict.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if not names:
        return []
    sums = torch.stack([state_dict[k].detach().sum(dtype=torch.float32).reshape(()).cpu() for k in names])
    candidates = torch.nonzero(~torch.isfinite(sums)).flatten().tolist()
    return [names[i] for i in candidates if not bool(torch.isfinite(state_dict[names[i]]).all())]


def strip_prefix(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of ``state_dict`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
