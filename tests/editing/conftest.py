"""Fixtures of the editing tests: tiny checkpoints and a local CLI app with the edit commands."""

import pytest


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
