"""Every package folder is listed in pyproject.toml, so a non-editable install ships it."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_importing_the_tasks_reaches_no_network():
    # albumentations asks PyPI for a newer release at import unless told not to; offline that
    # is seconds of waiting and a warning in every p2s command
    probe = (
        "import socket, warnings\n"
        "tried = []\n"
        "def refuse(*args, **kwargs):\n"
        "    tried.append(args)\n"
        "    raise OSError('no network in this test')\n"
        "socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import p2s.tasks, albumentations\n"
        "print(len(tried), [str(w.message)[:60] for w in caught if 'update' in str(w.message).lower()])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "[]"], result.stdout
