"""Fixtures of the CLI tests: tiny checkpoints (written once per session) and helpers."""

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
    """The helper module: checkpoint writers, image writers, ``invoke``, ``read_png``."""
    return _helpers()


@pytest.fixture(scope="session")
def ckpt(tiny, tmp_path_factory):
    """``ckpt(name)`` -> path of the tiny checkpoint ``name`` (see ``CHECKPOINTS``)."""
    return lambda name: tiny.checkpoint(tmp_path_factory, name)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The tiny models gain nothing from intra-op threads, and on a small shared CPU the
    spinning OpenMP workers make these tests several times slower; restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
