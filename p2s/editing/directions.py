"""Editing directions in W+: load them from files and add them to encoded codes.

A direction is a ``[num_ws, w_dim]`` offset added to W+ codes with a strength:
``codes + strength * direction``.  Files may hold

* ``[w_dim]`` or ``[1, w_dim]``: one W direction (InterFaceGAN boundaries, GANSpace
  components), added to every W+ row;
* ``[num_ws, w_dim]``: one offset per W+ row (e.g. a difference of two W+ codes);

or name a GANSpace component, ``ganspace:K``, of a ``.npz`` written by
``p2s directions ganspace`` (component ``K`` times its standard deviation, so that a
strength of 1 moves codes by one standard deviation of the mapping network's W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from p2s.utils.errors import P2SError
from p2s.utils.filekind import numpy_load_failure
from p2s.utils.weights import why_not_a_file
from p2s.utils.wplus import check_rows

#: prefix of named GANSpace directions (``ganspace:3``)
GANSPACE_PREFIX = "ganspace:"


def _as_rows(array: np.ndarray, num_ws: int, w_dim: int, what: str) -> torch.Tensor:
    """``[w]``, ``[1, w]`` or ``[num_ws, w]`` -> ``[num_ws, w]`` float32."""
    shape = tuple(array.shape)
    if shape in ((w_dim,), (1, w_dim)):
        rows = np.broadcast_to(array.reshape(1, w_dim), (num_ws, w_dim))
    elif shape == (num_ws, w_dim):
        rows = array
    else:
        raise P2SError(
            f"{what} has shape {list(shape)}; a direction must be [{w_dim}], [1, {w_dim}] "
            f"or [{num_ws}, {w_dim}] for this generator ({num_ws} W+ rows of {w_dim})"
        )
    if not np.issubdtype(rows.dtype, np.number) or np.issubdtype(rows.dtype, np.complexfloating):
        raise P2SError(f"{what} holds {rows.dtype} values, not real numbers")
    direction = torch.from_numpy(np.array(rows, dtype=np.float32))
    if not torch.isfinite(direction).all():
        raise P2SError(f"{what} contains NaN or infinite values")
    return direction


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise P2SError(
            f"direction file '{path}' {why_not_a_file(path)} (give a .npy file or {GANSPACE_PREFIX}K "
            "with --directions-file)"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise P2SError(f"direction file '{path}' is not a readable .npy array ({numpy_load_failure(path, err)})") from None
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise P2SError(
            f"direction file '{path}' is an .npz archive; pass it as --directions-file and "
            f"name a component with --direction {GANSPACE_PREFIX}K"
        )
    return array


def parse_ganspace_name(name: str) -> int | None:
    """``'ganspace:3'`` -> 3; ``None`` when ``name`` is not a GANSpace name."""
    if not name.startswith(GANSPACE_PREFIX):
        return None
    index = name[len(GANSPACE_PREFIX):].strip()
    if not index.isdigit():
        raise P2SError(f"direction '{name}' must be {GANSPACE_PREFIX}K with K a component index (0, 1, ...)")
    return int(index)


def load_direction(
    path_or_name: str | Path,
    num_ws: int,
    w_dim: int,
    directions_file: str | Path | None = None,
) -> torch.Tensor:
    """A direction as ``[num_ws, w_dim]`` float32, from a ``.npy`` file or ``ganspace:K``.

    Args:
        path_or_name: a ``.npy`` of shape ``[w_dim]``, ``[1, w_dim]`` or
            ``[num_ws, w_dim]``, or ``ganspace:K``.
        num_ws, w_dim: the generator's W+ layout.
        directions_file: the GANSpace ``.npz`` that ``ganspace:K`` reads.

    Raises:
        P2SError: one line, for a missing or unreadable file, a bad shape, non-finite
            values, or an unknown component.
    """
    component = parse_ganspace_name(str(path_or_name))
    if component is None and directions_file is not None:
        raise P2SError(f"--directions-file goes with --direction {GANSPACE_PREFIX}K; "
                       f"'{path_or_name}' is a direction file of its own")
    if component is None:
        path = Path(path_or_name)
        return _as_rows(_load_npy(path), num_ws, w_dim, f"direction file '{path}'")
    if directions_file is None:
        raise P2SError(
            f"direction '{path_or_name}' needs --directions-file, the .npz written by "
            "'p2s directions ganspace'"
        )
    from p2s.editing.ganspace import load_ganspace

    space = load_ganspace(directions_file)
    count = len(space.components)
    if component >= count:
        raise P2SError(
            f"direction '{path_or_name}': '{directions_file}' holds {count} components (0..{count - 1})"
        )
    scaled = space.components[component] * space.stds[component]
    return _as_rows(scaled.numpy(), num_ws, w_dim, f"{path_or_name} of '{directions_file}'")


def check_strength(strength: float, what: str = "strength") -> float:
    """A finite float (any value; about -3..3 keeps faces realistic)."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise P2SError(f"{what} must be a number, got {strength!r}") from None
    if not math.isfinite(value):
        raise P2SError(f"{what} must be a finite number, got {strength!r}")
    return value


def apply_direction(
    codes: torch.Tensor,
    direction: torch.Tensor,
    strength: float,
    layers: Sequence[int] | None = None,
) -> torch.Tensor:
    """``codes + strength * direction`` on the W+ rows ``layers`` (all rows by default).

    Args:
        codes: W+ codes ``[N, num_ws, w_dim]``.
        direction: ``[num_ws, w_dim]`` (as :func:`load_direction` returns), or ``[w_dim]``.
        strength: finite scale of the direction; 0 returns the codes unchanged.
        layers: W+ rows to edit; the other rows are returned exactly as given.

    Returns:
        A new tensor; ``codes`` is not modified.
    """
    if codes.ndim != 3:
        raise P2SError(f"codes must be W+ [N, num_ws, w_dim], got shape {list(codes.shape)}")
    num_ws, w_dim = codes.shape[1:]
    strength = check_strength(strength)
    direction = torch.as_tensor(direction)
    given = list(direction.shape)
    if direction.ndim == 1:
        direction = direction.unsqueeze(0)
    if direction.shape[-1] != w_dim or direction.ndim != 2 or direction.shape[0] not in (1, num_ws):
        raise P2SError(f"direction of shape {given} does not fit codes of {num_ws} rows of {w_dim}")
    offset = (strength * direction.to(codes)).expand(num_ws, w_dim)
    if layers is None:
        return codes + offset.unsqueeze(0)
    index = sorted(set(check_rows(layers, num_ws, "layers")))
    edited = codes.clone()
    edited[:, index] = codes[:, index] + offset[index].unsqueeze(0)
    return edited
