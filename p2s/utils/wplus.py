"""W+ row indices, as the editing and style-mixing calls take them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from p2s.utils.errors import P2SError


def check_rows(rows: Iterable[int], num_ws: int, what: str) -> list[int]:
    """``rows`` as a list of ints in ``0..num_ws - 1``; a bool, a float or a string is not
    a row (``int(True)`` would quietly pick row 1), and neither is an index outside."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise P2SError(f"{what} must be a sequence of W+ row indices, got {rows!r}")
    rows = list(rows)
    odd = [row for row in rows if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer))]
    if odd:
        raise P2SError(f"{what} must be integer W+ row indices, got {odd[0]!r}")
    bad = [int(row) for row in rows if not 0 <= row < num_ws]
    if bad:
        raise P2SError(f"{what} {bad} are outside 0..{num_ws - 1}")
    return [int(row) for row in rows]
