"""One task per training config: the top-level ``task`` and the datasets' copies agree.

A config declares ``task = dict(type=...)`` and its datasets take it (``task=task``, or
nothing: it is filled in).  Checkpoints record the top-level task for ``p2s translate``,
so a dataset training one task while the checkpoint records another would be a silent
error; the copies are checked, and a ``task.KEY=VALUE`` override reaches every copy.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from p2s.utils.errors import P2SError

#: the dataloaders whose datasets may take the config's task
LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _plain(node: Any) -> Any:
    """Nested dicts and lists of a config value (tuples as lists), for comparing."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _takes_task(dataset: Mapping) -> bool:
    """Whether a dataset config has a ``task``, or its class takes one."""
    if "task" in dataset:
        return True
    from p2s.registry import DATASETS

    kind = dataset.get("type")
    cls = DATASETS.get(kind) if isinstance(kind, str) else kind
    try:
        return cls is not None and "task" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def task_holders(cfg) -> dict[str, Any]:
    """``{'train_dataloader.dataset': dataset_cfg, ...}`` for the datasets that take a task."""
    holders = {}
    for loader in LOADERS:
        dataset = (cfg.get(loader) or {}).get("dataset")
        if isinstance(dataset, Mapping) and _takes_task(dataset):
            holders[f"{loader}.dataset"] = dataset
    return holders


def _differences(theirs: Any, ours: Any) -> str:
    """``type 'A' here, 'B' in task`` for each key where two task configs differ."""
    if not (isinstance(theirs, dict) and isinstance(ours, dict)):
        return f"{theirs!r} here, {ours!r} in task"
    keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    return "; ".join(f"{k} {theirs.get(k, '(unset)')!r} here, {ours.get(k, '(unset)')!r} in task" for k in keys)


def _check_same(cfg, holders: Mapping[str, Any], hint: str) -> None:
    top = _plain(cfg.get("task"))
    for name, dataset in holders.items():
        if "task" in dataset and _plain(dataset["task"]) != top:
            raise P2SError(
                f"{name}.task is not the config's task ({_differences(_plain(dataset['task']), top)}): a training "
                f"config has one task, which its checkpoints record for p2s translate; {hint}"
            )


def share_task(cfg) -> None:
    """Check that the file's tasks agree, take a missing top-level ``task`` from the
    datasets, and give the datasets that leave theirs out the top-level one."""
    holders = task_holders(cfg)
    given = {name: d["task"] for name, d in holders.items() if "task" in d}
    if cfg.get("task") is None and given:
        cfg.task = copy.deepcopy(next(iter(given.values())))
    if cfg.get("task") is None:
        if holders:
            raise P2SError(f"the config has no task for {', '.join(holders)}: set task = dict(type=...) "
                           f"(a registered task: p2s registry list tasks)")
        return
    _check_same(cfg, holders, "set task = dict(...) once and pass task=task to the datasets (or leave theirs out)")
    for dataset in holders.values():
        if "task" not in dataset:
            dataset["task"] = copy.deepcopy(cfg.task)


def task_overrides(cfg, overrides: Sequence[str]) -> list[str]:
    """``overrides`` plus, for each ``task...=VALUE``, the same override of every
    dataset's copy of the task, so that one override changes the task everywhere."""
    holders = list(task_holders(cfg)) if cfg.get("task") is not None else []
    expanded = list(overrides)
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and (key == "task" or key.startswith("task.")):
            expanded += [f"{holder}.{key}={value}" for holder in holders]
    return expanded


def check_one_task(cfg) -> None:
    """After the overrides: a dataset's task changed alone is refused."""
    if cfg.get("task") is not None:
        _check_same(cfg, task_holders(cfg), "override task.KEY=VALUE instead, which changes every copy")
