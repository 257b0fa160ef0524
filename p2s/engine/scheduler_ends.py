"""A resumed run's parameter schedulers end where its config says now.

MMEngine fills in a scheduler's missing ``end`` with ``train_cfg.max_iters`` (or
``max_epochs``) when it builds it, and ``--resume`` then loads the whole scheduler
state, ``end`` included, from the checkpoint.  Resuming with a larger ``max_iters``
therefore kept the old run's end: a milestone past it never fired, and nothing said so.
:class:`SchedulerEndHook` moves the end of a scheduler whose ``end`` only bounds when
it steps, and says in one warning line when it cannot (a schedule laid out between
``begin`` and ``end``, such as a linear or cosine one, would change shape mid-run).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim.scheduler.param_scheduler import (
    INF,
    ExponentialParamScheduler,
    MultiStepParamScheduler,
    StepParamScheduler,
)

#: schedulers whose ``end`` only bounds when they step (no state is derived from it), so
#: a moved end, with the steps the old one skipped, continues the schedule exactly
WINDOW_ONLY = (StepParamScheduler, MultiStepParamScheduler, ExponentialParamScheduler)


class SchedulerEndHook(Hook):
    """After ``--resume`` (``before_train``, once the checkpoint is loaded), give each
    configured scheduler the end its config implies now: moved where that is exact,
    else reported in one warning line naming the scheduler and both ends."""

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:
        if not getattr(runner, "_resume", False) or runner.iter == 0:
            return  # built from this config: its ends are the config's
        for name, scheduler, config in configured_schedulers(runner):
            fit_end(runner, name, scheduler, config)


def configured_schedulers(runner) -> Iterator[tuple[str, object, dict]]:
    """``(config key, built scheduler, its config)`` of each scheduler built from a dict."""
    configured, built = runner.cfg.get("param_scheduler"), runner.param_schedulers
    if isinstance(built, dict) and isinstance(configured, dict) and "type" not in configured:  # one list per optimizer
        for key, schedulers in built.items():
            yield from _pairs(f"param_scheduler.{key}", schedulers, configured.get(key))
    elif isinstance(built, list):
        yield from _pairs("param_scheduler", built, configured)


def _pairs(name: str, schedulers, configs) -> Iterator[tuple[str, object, dict]]:
    configs = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    for index, (scheduler, config) in enumerate(zip(schedulers or [], configs)):
        if isinstance(config, dict) and hasattr(scheduler, "end"):
            yield f"{name}[{index}]", scheduler, config


def expected_end(runner, config: dict) -> int:
    """The ``end`` MMEngine would build ``config`` with in this run (its own, or the
    loop's length), in the scheduler's own unit."""
    by_epoch = config.get("by_epoch", True)
    end = config.get("end", runner.max_epochs if by_epoch else runner.max_iters)
    if by_epoch and config.get("convert_to_iter_based", False) and end != INF:
        end = int(end * len(runner.train_dataloader))
    return end


def fit_end(runner, name: str, scheduler, config: dict) -> None:
    """Move ``scheduler.end`` to the config's, or say why it stays."""
    wanted, saved = expected_end(runner, config), scheduler.end
    if wanted == saved:
        return
    loop = "max_epochs" if config.get("by_epoch", True) else "max_iters"
    source = "its config's end" if "end" in config else f"train_cfg.{loop}: the config gives no end"
    what = f"--resume: {name} ({type(scheduler).__name__})"
    if isinstance(scheduler, WINDOW_ONLY) and (wanted > saved or scheduler._global_step < wanted):  # exact
        move_end(scheduler, wanted)
        print_log(f"{what} now ends at {wanted} ({source}), not at the checkpoint's {saved}", logger="current")
        return
    print_log(f"{what} keeps the checkpoint's end {saved}, not {wanted} ({source}): its schedule was laid out "
              f"up to {saved} when it was built and would change shape mid-run; start a new run to stretch it",
              logger="current", level=logging.WARNING)


def move_end(scheduler, end: int) -> None:
    """Set ``end`` and take the steps the old end skipped (from it up to now), as
    ``_ParamScheduler.step`` would have in an uninterrupted run."""
    for _ in range(max(scheduler.begin, scheduler.end), min(scheduler._global_step + 1, end)):
        scheduler.last_step += 1
        for group, value in zip(scheduler.optimizer.param_groups, scheduler._get_value()):
            group[scheduler.param_name] = value
    scheduler.end = end
    scheduler._last_value = [group[scheduler.param_name] for group in scheduler.optimizer.param_groups]
