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


#: top-level keys MMEngine's Runner.from_cfg or p2s read (other names are the config's own variables)
SETTINGS = (
    "model", "work_dir", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg", "val_cfg",
    "test_cfg", "auto_scale_lr", "optim_wrapper", "param_scheduler", "val_evaluator", "test_evaluator",
    "default_hooks", "custom_hooks", "data_preprocessor", "load_from", "resume", "launcher", "env_cfg",
    "log_processor", "log_level", "visualizer", "default_scope", "randomness", "experiment_name",
    "model_wrapper_cfg", "runner_type", "custom_imports", "task",
)


def check_top_level_keys(cfg) -> None:
    """A near miss of a setting (``train_dataloder``) would be a variable nobody reads,
    and the setting it meant would silently keep its inherited value: one line instead."""
    for key in cfg.keys():
        if key in SETTINGS or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.85)
        if close:
            raise P2SError(f"config key '{key}' is not a setting p2s or MMEngine reads, so it would be ignored. "
                           f"Did you mean '{close[0]}'?")


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
    if len(parts) == 1 and key in node and key not in SETTINGS:
        raise P2SError(f"'{key}' is a variable of the config file, read when the file was loaded: overriding it "
                       f"changes nothing that used it; override the keys that use it instead (p2s config show lists them)")
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
        _drop_stale_hints(cfg, list(merged))


def _drop_stale_hints(cfg: Config, keys: Sequence[str]) -> None:
    """A data folder given on the command line is not the one the dataset's ``how_to_get``
    command makes (``... --out data/synthfaces_64``): its hint goes, so a missing folder's
    error does not tell the user to make another one."""
    for key in keys:
        parent, _, leaf = key.rpartition(".")
        if not leaf.endswith("root") or f"{parent}.how_to_get" in keys:
            continue
        node: Any = cfg
        for part in parent.split(".") if parent else []:
            node = node[int(part)] if isinstance(node, (list, tuple)) else node.get(part)
        if isinstance(node, dict) and node.get("how_to_get"):
            node["how_to_get"] = ""
