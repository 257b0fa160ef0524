"""Pieces every CLI command shares: one-line errors, progress bars, option parsing."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from p2s.utils.errors import P2SError, P2SWarning

#: largest --seed: NumPy's RandomState (the official style-mixing draw) takes 0..2**32 - 1
SEED_MAX = 2**32 - 1
#: --resize-outputs: the model's pooled size, not always 256 (the shipped 64-px models are at theirs)
RESIZE_OUTPUTS_HELP = "pool outputs to the model's pooled size (256x256 for pSp)"
console = Console()
#: messages, summaries, warnings: one line each, however long (a path is never broken by a newline)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn :class:`P2SError` into ``error: <one line>`` and exit code 2, and print each
    :class:`P2SWarning` as one ``warning:`` line (other warnings as Python shows them)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():  # restores showwarning afterwards
                warnings.showwarning = _one_line_warnings(warnings.showwarning)
                return func(*args, **kwargs)
        except P2SError as err:
            _print_error(str(err))
            raise typer.Exit(code=2) from None
        except OSError as err:  # the file system said no (permissions, a full or read-only disk, ...)
            _print_error(_describe_os_error(err))
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def require_checkpoint(checkpoint) -> None:
    """Refuse a missing translation checkpoint before the seconds of importing the models."""
    from p2s.utils.weights import PSP_HOW_TO_GET, require_weight_file

    require_weight_file(checkpoint, "checkpoint", PSP_HOW_TO_GET)


def print_skipped(message: str, label: str = "skipped") -> None:
    """One unusable input, on one line however long (not wrapped at 80 columns in logs)."""
    err_console.print(f"[yellow]{label}[/] {escape(message)}", highlight=False)


def _print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def _describe_os_error(err: OSError) -> str:
    """``Permission denied: 'work/x' (check the path and its permissions)`` from an OSError."""
    what = err.strerror or str(err) or type(err).__name__
    paths = " -> ".join(f"'{name}'" for name in (err.filename, err.filename2) if name is not None)
    return f"{what}: {paths} (check the path, its permissions and free space)" if paths else what


def _one_line_warnings(show_other: Callable[..., None]) -> Callable[..., None]:
    def show(message, category, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, P2SWarning):
            err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)
        else:
            show_other(message, category, *args, **kwargs)

    return show


def progress_bar() -> Progress:
    """A progress bar with count, elapsed time and ETA, on stderr."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
    )


def parse_layers(text: str) -> list[int]:
    """``'8-17'``, ``'8,9,12'`` or a mix of both -> sorted unique row indices."""
    rows: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                if high < low:
                    raise ValueError
                rows.update(range(low, high + 1))
            elif part:
                rows.add(int(part))
    except ValueError:
        raise P2SError(f"--mix-layers '{text}' is not like '8-17' or '8,9,10'") from None
    if not rows:
        raise P2SError("--mix-layers names no layer")
    return sorted(rows)
