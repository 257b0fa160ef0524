"""``p2s registry list [GROUP]``: what can be named as ``type`` in a config, with the
shipped plugins (``--plugins``) or your own modules (``--import``, ``--config``) on request."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from p2s.cli.common import user_errors
from p2s.cli.train import load_config
from p2s.utils.errors import P2SError, P2SWarning

registry_app = typer.Typer(no_args_is_help=True, help="Inspect the p2s registries.")


#: a sentence end: not the dot of "i.e." or "e.g." (which cut "... (set to 0, i.e." short)
_SENTENCE = re.compile(r"(.+?(?<!\bi\.e)(?<!\be\.g)[.!?])(\s|$)")


def _first_doc_line(obj: object) -> str:
    """The first sentence of a docstring (its first paragraph, joined, when no sentence ends)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    sentence = _SENTENCE.match(paragraph)
    return sentence.group(1) if sentence else paragraph


def _import_plugins() -> list[str]:
    """Import every shipped plugin package (``p2s_plugins.*``); returns those that imported.
    A broken plugin is one warning, so that the others are still listed."""
    import pkgutil

    import p2s_plugins

    from p2s.apis.checkpoint import import_failure

    names = [f"p2s_plugins.{info.name}" for info in pkgutil.iter_modules(p2s_plugins.__path__) if info.ispkg]
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a plugin's import runs its code: it can raise anything
            warnings.warn(f"plugin '{name}' cannot be imported, so its types may be missing: "
                          f"{import_failure(err)}", P2SWarning, stacklevel=2)
        else:
            loaded.append(name)
    return loaded


def _import_modules(modules: list[str]) -> None:
    """Import the ``--import`` modules (as a config's ``custom_imports`` would) so their types register."""
    from p2s.apis.checkpoint import import_failure

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a module's import runs its code: it can raise anything
            raise P2SError(f"--import '{name}' cannot be imported: {import_failure(err)}") from None


def _what_was_imported(plugins: list[str], modules: list[str], config: Path | None) -> str:
    """The closing line: which imports the listing includes, or how to include more."""
    parts = [f"the plugins {', '.join(plugins)}"] if plugins else []
    parts += [f"the modules {', '.join(modules)}"] if modules else []
    parts += [f"the custom_imports of config '{config}'"] if config is not None else []
    if parts:
        return "with " + " and ".join(parts)
    return ("plugin types (p2s_plugins.*) register when a config's custom_imports loads them; "
            "--plugins lists them too (--import MODULE or --config FILE lists your own)")


@registry_app.command("list")
@user_errors
def list_registry(
    group: Annotated[Optional[str], typer.Argument(help="backbones, encoders, generators, losses, tasks, ...")] = None,
    plugins: Annotated[bool, typer.Option(
        "--plugins", help="also import the shipped plugins (configs load them through custom_imports)")] = False,
    modules: Annotated[Optional[list[str]], typer.Option(
        "--import", metavar="MODULE", help="import this module first, as a config's custom_imports would "
        "(repeatable; it must be importable, e.g. on PYTHONPATH)")] = None,
    config: Annotated[Optional[Path], typer.Option(
        "--config", metavar="FILE", help="read this config first, which runs its custom_imports")] = None,
) -> None:
    """List registered names per group (all groups when none is given)."""
    from p2s.registry import ALL_REGISTRIES
    from p2s.utils.build import registered_names

    if group is not None and group not in ALL_REGISTRIES:
        raise P2SError(f"unknown registry group '{group}' (groups: {', '.join(ALL_REGISTRIES)})")
    modules = list(modules or [])
    _import_modules(modules)
    if config is not None:
        load_config(config, None)
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
    console.print(_what_was_imported(loaded, modules, config), highlight=False)
