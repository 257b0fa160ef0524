"""Every package folder is listed in pyproject.toml, so a non-editable install ships it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_folders() -> set[str]:
    found = set()
    for base, name in (("p2s", "p2s"), ("plugins", "p2s_plugins")):
        for init in (ROOT / base).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / base).parts
            found.add(".".join((name, *relative)))
    return found


def test_every_package_is_listed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert _package_folders() == listed


def test_plugins_import_without_pythonpath():
    import p2s_plugins.colorization as plugin

    assert Path(plugin.__file__).parent == ROOT / "plugins" / "colorization"


def test_shipped_weights_are_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert set(data["p2s.zoo"]) == {"catalogue.json", "weights/*.pt"}
