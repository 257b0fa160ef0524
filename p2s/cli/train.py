"""``p2s train`` and ``p2s config show``: config file -> overrides -> MMEngine Runner."""

from __future__ import annotations

import difflib
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2s.cli.common import user_errors
from p2s.cli.config_checks import (
    check_datasets,
    check_load_from,
    check_own_hooks,
    check_resumable,
    check_resume_trains,
    check_save_best,
    check_task_fits,
    check_task_fits_config,
    check_trainable,
    check_types,
    check_weight_files,
)
from p2s.cli.run_folder import RunFolderGuard
from p2s.utils.errors import P2SError, TrainingDivergedError

config_app = typer.Typer(no_args_is_help=True, help="Inspect configs.")


class Launcher(str, Enum):
    none = "none"
    pytorch = "pytorch"


class TrainCompile(str, Enum):  # p2s.engine.compiled_loss.TRAINING_COMPILE_MODES
    none = "none"
    default = "default"
    max_autotune = "max-autotune"


def load_config(path: Path, overrides: list[str] | None):
    """``Config.fromfile`` (runs ``custom_imports``) plus ``KEY=VALUE`` overrides, with
    the config's one task shared by its datasets (:mod:`p2s.cli.config_task`)."""
    from mmengine.config import Config

    from p2s.cli.config_task import check_one_task, share_task, task_overrides
    from p2s.cli.overrides import apply_overrides, check_top_level_keys

    if not path.is_file():
        raise P2SError(f"config '{path}' does not exist")
    try:
        cfg = Config.fromfile(str(path))
    except ImportError as err:  # MMEngine's wrapper (a list of sys.path) around the plugin's own error
        raise P2SError(f"config '{path}': {_custom_imports_failure(err)}") from None
    except Exception as err:  # noqa: BLE001 - running a config file can raise anything
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise P2SError(f"config '{path}' is not valid: {type(err).__name__}: {first}") from None
    check_top_level_keys(cfg)
    share_task(cfg)
    apply_overrides(cfg, task_overrides(cfg, overrides or []))
    check_one_task(cfg)
    return cfg


def _custom_imports_failure(err: ImportError) -> str:
    """``custom_imports 'x' failed: No module named 'y' (...)``: the plugin's own error,
    from under MMEngine's two wrappers (``Failed to import x``, then a list of sys.path)."""
    cause: BaseException = err
    module = ""
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
        found = re.match(r"Failed to import (\S+)$", str(cause))
        module = f" '{found.group(1)}'" if found else module
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if isinstance(cause, ModuleNotFoundError):
        return (f"custom_imports{module} failed: {text} (install the package it needs, or put the folder "
                "that holds it on PYTHONPATH)")
    return f"custom_imports{module} failed: {type(cause).__name__}: {text}"


def _unknown_type_error(err: KeyError) -> P2SError | None:
    """MMEngine's 'X is not in the p2s::group registry' KeyError, as one line with hints."""
    match = re.search(r"(\S+) is not in the (\S+)::(\S+) registry", str(err))
    if not match:
        return None
    from p2s.registry import ALL_REGISTRIES
    from p2s.utils.build import registered_names

    names = sorted({n for reg in ALL_REGISTRIES.values() for n in registered_names(reg)})
    close = difflib.get_close_matches(match.group(1), names, n=2, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return P2SError(f"unknown type '{match.group(1)}' in the {match.group(3)} registry.{hint}")


def _clean(message: str) -> str:
    """Drop MMEngine's "class `X` in path.py: " prefixes from re-raised build errors, and
    name the hook of its "... in <module.Hook object at 0x...>" suffix by its class."""
    message = re.sub(r"class `[^`]+` in [^:]+: ", "", message)
    return re.sub(r" in <(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>", r" (in \1)", message)


def _without_worker_traceback(message: str) -> str:
    """The line of a :class:`P2SError` raised in a DataLoader worker process, which the
    DataLoader re-raises with the worker's whole traceback as its message."""
    if "DataLoader worker process" in message and "Original Traceback" in message:
        last = message.strip().splitlines()[-1]  # "p2s.utils.errors.SourceImageError: <the line>"
        return last.split(": ", 1)[-1]
    return message


def _init_cpu_process_group() -> None:
    """MMEngine's launcher calls ``torch.cuda.set_device``; on a CPU-only machine p2s
    joins the torchrun group itself, with gloo, and MMEngine then uses it."""
    import os

    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise P2SError("--launcher pytorch must run under torchrun (RANK is not set)")
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")


@user_errors
def train(
    config: Annotated[Path, typer.Argument(help="training config (.py)")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE config overrides")] = None,
    work_dir: Annotated[Optional[Path], typer.Option(help="output folder (default work_dirs/<config>)")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the latest checkpoint in work_dir")] = False,
    load_from: Annotated[Optional[str], typer.Option(help="initialise weights from this local checkpoint")] = None,
    amp: Annotated[bool, typer.Option(help="bf16 autocast (a CUDA device, or a CPU with AVX-512-BF16 or AMX)")] = False,
    seed: Annotated[Optional[int], typer.Option(min=0, max=2**32 - 1, help="random seed (overrides randomness.seed)")] = None,
    launcher: Annotated[Launcher, typer.Option(help="'pytorch' under torchrun for DDP")] = Launcher.none,
    compile_mode: Annotated[TrainCompile, typer.Option(
        "--compile", help="torch.compile the model's loss (forward and backward; the first steps compile)")] = TrainCompile.none,
) -> None:
    """Train a model described by CONFIG with MMEngine's Runner."""
    import torch
    from mmengine.runner import Runner

    import p2s.engine  # noqa: F401  (wrappers and hooks MMEngine looks up in its own roots)
    from p2s.engine.compiled_loss import compile_training_loss
    from p2s.engine.scheduler_ends import SchedulerEndHook

    cfg = load_config(config, overrides)
    check_trainable(cfg, config)
    cfg.work_dir = str(work_dir or cfg.get("work_dir") or Path("work_dirs") / config.stem)
    from p2s.utils.paths import check_output_folder

    check_output_folder(cfg.work_dir, "--work-dir")
    cfg.resume = resume
    latest = None
    if resume and load_from is None and not cfg.get("load_from"):  # MMEngine resumes from load_from when set
        latest = check_resumable(Path(cfg.work_dir))
    if load_from is not None:
        check_load_from(load_from, "--load-from")
        cfg.load_from = str(load_from)
    elif cfg.get("load_from"):
        check_load_from(str(cfg.load_from), "load_from")
    if resume:
        check_resume_trains(latest or cfg.get("load_from"), cfg)
    if amp:
        from p2s.engine.amp import use_bf16_autocast
        from p2s.utils.precision import warn_if_cpu_bf16_is_slow

        if not torch.cuda.is_available():
            warn_if_cpu_bf16_is_slow("--amp", "train without --amp")
        use_bf16_autocast(cfg.optim_wrapper)
    if seed is not None:
        cfg.randomness = dict(cfg.get("randomness") or {}, seed=seed)
    check_types(cfg)
    check_own_hooks(cfg)
    check_save_best(cfg)
    cfg.launcher = launcher.value
    if launcher is Launcher.pytorch and not torch.cuda.is_available():
        _init_cpu_process_group()
    check_datasets(cfg)
    check_task_fits_config(cfg)
    check_weight_files(cfg)
    cfg.experiment_name = cfg.get("experiment_name") or _fresh_experiment_name(config.stem)
    with RunFolderGuard(Path(cfg.work_dir)) as guard:
        try:
            guard.runner = Runner.from_cfg(cfg)
            check_task_fits(guard.runner.model, cfg)
            compile_training_loss(guard.runner.model, compile_mode.value)
            guard.runner.register_hook(SchedulerEndHook())
            guard.runner.train()
        except KeyError as err:
            friendly = _unknown_type_error(err)
            if friendly is None:
                raise
            raise friendly from None
        except TrainingDivergedError:
            raise
        except P2SError as err:
            raise P2SError(_clean(_without_worker_traceback(str(err)))) from None
        except TypeError as err:
            if "unexpected keyword argument" in str(err):
                raise P2SError(f"bad config option: {_clean(str(err))}") from None
            if guard.started:
                raise
            raise P2SError(f"bad config value: {_clean(str(err))}") from None
        except ValueError as err:  # before the first iteration: a value MMEngine or torch refuses
            if guard.started:
                raise
            raise P2SError(f"bad config value: {_clean(str(err))}") from None
        finally:
            _leave_process_group()


def _leave_process_group() -> None:
    """Destroy the torchrun process group before the interpreter exits: left to exit-time
    teardown, gloo's threads can be destroyed while still joinable, and the rank then
    aborts ("terminate called without an active exception", SIGABRT) after a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _fresh_experiment_name(stem: str) -> str:
    """The config's name, as MMEngine's default, or ``<config>-N`` where a run of this
    process already holds ``<config>_<timestamp>``: MMEngine names the run by the second
    it started (adding the timestamp itself) and keeps one logger, visualizer and message
    hub per name, so a second run started within the same second (a script or notebook
    that trains twice) would write its log into the first run's file."""
    import time

    from mmengine.logging import MMLogger

    stamp = time.strftime("%Y%m%d_%H%M%S")  # MMEngine's format; a second later cannot clash
    name, count = stem, 1
    while MMLogger.check_instance_created(f"{name}_{stamp}"):
        name, count = f"{stem}-{count}", count + 1
    return name


@config_app.command("show")
@user_errors
def show(
    config: Annotated[Path, typer.Argument(help="config file (.py)")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE config overrides")] = None,
) -> None:
    """Print the resolved config (bases merged, overrides applied); a ``type`` no
    registry knows is a one-line error, as it would be in ``p2s train``."""
    import p2s.engine  # noqa: F401  (the hooks and wrappers a config may name)

    cfg = load_config(config, overrides)
    check_types(cfg)
    typer.echo(cfg.pretty_text)
