"""``p2s registry list [GROUP]``: what can be named as ``type`` in a config."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from p2s.cli.common import user_errors
from p2s.utils.errors import P2SError

registry_app = typer.Typer(no_args_is_help=True, help="Inspect the p2s registries.")


def _first_doc_line(obj: object) -> str:
    """The first sentence of a docstring (its first paragraph, joined, when no sentence ends)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    sentence = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    return sentence.group(1) if sentence else paragraph


def _import_plugins() -> list[str]:
    """Import every shipped plugin package (``p2s_plugins.*``); returns their names."""
    import importlib
    import pkgutil

    import p2s_plugins

    names = [f"p2s_plugins.{info.name}" for info in pkgutil.iter_modules(p2s_plugins.__path__) if info.ispkg]
    for name in names:
        importlib.import_module(name)
    return names


@registry_app.command("list")
@user_errors
def list_registry(
    group: Annotated[Optional[str], typer.Argument(help="backbones, encoders, generators, losses, tasks, ...")] = None,
    plugins: Annotated[bool, typer.Option(
        "--plugins", help="also import the shipped plugins (configs load them through custom_imports)")] = False,
) -> None:
    """List registered names per group (all groups when none is given)."""
    from p2s.registry import ALL_REGISTRIES
    from p2s.utils.build import registered_names

    if group is not None and group not in ALL_REGISTRIES:
        raise P2SError(f"unknown registry group '{group}' (groups: {', '.join(ALL_REGISTRIES)})")
    loaded = _import_plugins() if plugins else []
    table = Table("group", "type", "what it is")
    for name, registry in ALL_REGISTRIES.items():
        if group not in (None, name):
            continue
        entries = registered_names(registry)
        for entry in entries:
            table.add_row(name, entry, _first_doc_line(registry.get(entry)))
        if not entries:
            table.add_row(name, "-", "nothing of p2s's own: MMEngine's built-in types only")
    console = Console(width=160)
    console.print(table)
    if loaded:
        console.print(f"with the plugins {', '.join(loaded)}", highlight=False)
    else:
        console.print("plugin types (p2s_plugins.*) register when a config's custom_imports loads them; "
                      "--plugins lists them too", highlight=False)
