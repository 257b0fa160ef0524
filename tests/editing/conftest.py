"""Fixtures of the editing tests: tiny checkpoints and a local CLI app with the edit commands."""

import importlib.util
import sys
from pathlib import Path

import pytest


def _helpers():
    """``tests/helpers_tiny.py``, loaded once under one name (``--import-mode=importlib``)."""
    name = "p2s_tests_helpers_tiny"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "helpers_tiny.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tiny():
    return _helpers()


@pytest.fixture(scope="session")
def ckpt(tiny, tmp_path_factory):
    """``ckpt(name)`` -> path of the tiny checkpoint ``name`` (see ``CHECKPOINTS``)."""
    return lambda name: tiny.checkpoint(tmp_path_factory, name)


@pytest.fixture(scope="session")
def edit_app():
    """A Typer app with ``edit`` and ``directions`` (main.py wires them for the real CLI)."""
    import typer

    from p2s.cli.edit import directions_app, edit
    from p2s.cli.translate import translate

    app = typer.Typer(pretty_exceptions_show_locals=False, add_completion=False)
    app.command()(edit)
    app.command()(translate)
    app.add_typer(directions_app, name="directions")
    return app


@pytest.fixture(scope="session")
def run(edit_app):
    """``run(*args)`` -> the Click result of the local app (``output`` has stderr too)."""
    from typer.testing import CliRunner

    return lambda *args: CliRunner().invoke(edit_app, [str(a) for a in args])


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread (see tests/cli/conftest.py)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
