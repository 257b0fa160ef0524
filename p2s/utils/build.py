"""Typed builds from registries, with one-line errors that suggest close names."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, TypeVar

from mmengine.registry import Registry, init_default_scope

from p2s.utils.errors import P2SError

T = TypeVar("T")


def registered_names(registry: Registry) -> list[str]:
    """Names in ``registry`` after its lazy ``locations`` were imported."""
    registry.import_from_location()
    return sorted(registry.module_dict)


def registered_class(registry: Registry, name: str) -> Any | None:
    """The class registered as ``name`` in ``registry`` or its parents (``scope.Name``
    picks a scope), or None.  Unlike ``Registry.get`` this never imports a dotted path:
    a ``type`` read from a checkpoint (data) must not name ``os.system``."""
    registry.import_from_location()
    scope, _, short = name.rpartition(".")
    node: Registry | None = registry
    while node is not None:
        if not scope and name in node.module_dict:
            return node.module_dict[name]
        if scope and scope == node.scope and short in node.module_dict:
            return node.module_dict[short]
        node = node.parent
    return None


def config_class(registry: Registry, node: Any) -> Any | None:
    """The class a component config's ``type`` names (a registered name or the class
    itself), or None, without building anything."""
    kind = node.get("type") if isinstance(node, dict) else None
    return registered_class(registry, kind) if isinstance(kind, str) else kind


def _unknown_type_message(registry: Registry, name: str) -> str:
    names = registered_names(registry)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown {registry.name} type '{name}' (registry p2s::{registry.name}; "
        f"registered: {', '.join(names) or 'none'}).{hint}"
    )


def build(
    registry: Registry,
    cfg: dict | T,
    base: type[T] | None = None,
    default_args: dict[str, Any] | None = None,
) -> T:
    """Build ``cfg`` (a dict with ``type``) from ``registry`` and check its class.

    An already built object of the right class passes through.  Arguments in
    ``default_args`` fill only what the config leaves out.  Unknown types, bad
    arguments and values the class refuses raise :class:`P2SError` with one readable
    line that names the class.
    """
    if base is not None and isinstance(cfg, base):
        return cfg
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise P2SError(_untyped_message(registry, cfg))
    init_default_scope("p2s")
    args = dict(cfg)
    type_name = args.pop("type")
    if isinstance(type_name, str):
        cls = registered_class(registry, type_name)
        if cls is None:
            raise P2SError(_unknown_type_message(registry, type_name))
    else:
        cls = type_name
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    check_arguments(cls, args, registry.name)
    try:
        obj = cls(**args)
    except P2SError:
        raise
    except (TypeError, ValueError) as err:  # a value the class refuses: say which part of the config it is in
        raise P2SError(f"cannot build {registry.name} '{getattr(cls, '__name__', cls)}': {err}") from err
    if base is not None and not isinstance(obj, base):
        raise P2SError(
            f"{registry.name} type '{getattr(cls, '__name__', cls)}' built a "
            f"{type(obj).__name__}, which is not a {base.__name__}"
        )
    return obj


def _untyped_message(registry: Registry, cfg: Any) -> str:
    article = "an" if registry.name[:1] in "aeiou" else "a"
    return f"{article} {registry.name} config must be a dict with a 'type' key, got {cfg!r}"


def check_component_options(cls: Any, options: dict[str, Any], where: str) -> None:
    """The options a class builds into components (its ``component_options``: option ->
    registry, and ``named_component_options``: option -> registry of a name -> config
    mapping) hold configs with a ``type``, checked before anything is built."""
    declared = [(name, registry, False) for name, registry in getattr(cls, "component_options", {}).items()]
    declared += [(name, registry, True) for name, registry in getattr(cls, "named_component_options", {}).items()]
    for name, registry, by_name in declared:
        value = options.get(name)
        if value is None:
            continue
        entries = value.items() if by_name and isinstance(value, dict) else [(None, value)]
        for key, cfg in entries:
            if isinstance(cfg, dict) and "type" not in cfg:
                at = ".".join(part for part in (where, name, key) if part)
                raise P2SError(f"{at}: {_untyped_message(registry, cfg)}")


def check_arguments(cls: Any, args: dict[str, Any], group: str) -> None:
    """Reject keyword arguments the constructor does not take, naming the close ones."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in args:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise P2SError(
                f"{group} '{getattr(cls, '__name__', cls)}' has no option '{key}' "
                f"(options: {', '.join(accepted)}).{hint}"
            )
