"""``KEY=VALUE`` command-line overrides of an MMEngine config."""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Sequence
from typing import Any

from mmengine.config import Config

from p2s.utils.errors import P2SError

_WORDS = {"true": True, "false": False, "none": None, "null": None,
          "nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}


def parse_value(text: str) -> Any:
    """A Python literal (``8``, ``0.5``, ``[1, 2]``, ``(35, 223)``, ``'a'``), a bool,
    None, nan or inf word, or else the text itself."""
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _all_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    if isinstance(node, dict):
        for key, value in node.items():
            keys.append(prefix + str(key))
            keys += _all_keys(value, f"{prefix}{key}.")
    return keys


def _check_key(cfg: Config, key: str) -> None:
    """Every part of ``key`` must already exist, so a typo cannot add a silent new key.

    The one exception is a new option of a component config (a dict with ``type``),
    whose constructor validates the name, unless it is a near-miss of an existing key.
    """
    node: Any = cfg._cfg_dict.to_dict()
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and "type" in node and depth == len(parts) - 1:
            twin = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=0.85)
            if twin:
                prefix = ".".join(parts[:-1])
                raise P2SError(f"unknown config key '{key}'. Did you mean '{prefix}.{twin[0]}'?")
            return
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            close = difflib.get_close_matches(key, _all_keys(cfg._cfg_dict.to_dict()), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise P2SError(f"unknown config key '{key}' (no '{'.'.join(parts[:depth + 1])}' in the config).{hint}")


def apply_overrides(cfg: Config, overrides: Sequence[str]) -> None:
    """Merge ``KEY=VALUE`` strings into ``cfg`` (dotted keys, list indices allowed)."""
    merged = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise P2SError(f"override '{item}' is not KEY=VALUE")
        _check_key(cfg, key)
        merged[key] = parse_value(value)
    if merged:
        cfg.merge_from_dict(merged, allow_list_keys=True)
