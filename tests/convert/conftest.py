"""Fixtures of the conversion tests: the fake NVlabs networks and tiny ``.pkl`` files."""

import importlib.util
import sys
from pathlib import Path

import pytest


def _fake_module():
    """``nvlabs_fake.py``, loaded once under one name (``--import-mode=importlib``)."""
    name = "p2s_tests_nvlabs_fake"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("nvlabs_fake.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def nv():
    """The fake NVlabs module: networks, reference ops, ``nvlabs_pickle``, ``snapshot``."""
    return _fake_module()


@pytest.fixture(scope="session")
def ada_pkl(nv, tmp_path_factory):
    """``(path, G_ema)``: a 64 px unconditional generator pickled like an ADA snapshot."""
    g = nv.tiny_generator(seed=0)
    path = nv.nvlabs_pickle(tmp_path_factory.mktemp("ada") / "tiny.pkl", nv.snapshot(g))
    return path, g


