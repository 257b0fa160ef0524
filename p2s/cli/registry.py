"""``p2s registry list [GROUP]``: what can be named as ``type`` in a config."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from p2s.cli.common import user_errors
from p2s.utils.errors import P2SError

registry_app = typer.Typer(no_args_is_help=True, help="Inspect the p2s registries.")


def _first_doc_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


@registry_app.command("list")
@user_errors
def list_registry(
    group: Annotated[Optional[str], typer.Argument(help="backbones, encoders, generators, losses, tasks, ...")] = None,
) -> None:
    """List registered names per group (all groups when none is given)."""
    from p2s.registry import ALL_REGISTRIES
    from p2s.utils.build import registered_names

    if group is not None and group not in ALL_REGISTRIES:
        raise P2SError(f"unknown registry group '{group}' (groups: {', '.join(ALL_REGISTRIES)})")
    table = Table("group", "type", "what it is")
    for name, registry in ALL_REGISTRIES.items():
        if group not in (None, name):
            continue
        for entry in registered_names(registry):
            table.add_row(name, entry, _first_doc_line(registry.get(entry)))
    Console(width=160).print(table)
