"""``python -m p2s`` runs the CLI (from a checkout, without the ``p2s`` console script)."""

from __future__ import annotations

import os
import subprocess
import sys


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "p2s", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "160"})


def test_python_m_p2s_help_lists_the_commands():
    done = run_module("--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: p2s " in done.stdout
    for command in ("translate", "train", "registry"):
        assert f" {command} " in done.stdout, command


def test_python_m_p2s_gives_the_one_line_errors_of_the_cli():
    done = run_module("registry", "list", "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown registry group 'nope' (groups: ")
    assert len(done.stderr.splitlines()) == 1, done.stderr
