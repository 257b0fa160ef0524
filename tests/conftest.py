"""Suite-wide fixtures: MMEngine singleton cleanup, torch threads, tiny checkpoints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch


def _helpers():
    """``tests/helpers_tiny.py``, loaded once under one name (``--import-mode=importlib``)."""
    name = "p2s_tests_helpers_tiny"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("helpers_tiny.py"))
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
    """``ckpt(name)`` -> path of the tiny checkpoint ``name`` (written once per session)."""
    return lambda name: tiny.checkpoint(tmp_path_factory, name)


@pytest.fixture(scope="session", autouse=True)
def _memoized_config_formatting():
    """Remember what yapf made of each config text. ``Config.pretty_text`` reformats the
    whole config with yapf each time it is read, and one ``p2s train`` reads it about ten
    times (set-up log, dumped config, each checkpoint's meta): on the small CI machine that
    was a third of every tiny training run. ``FormatCode`` is a pure function of its text
    and style, so the texts written are unchanged; failures are not remembered."""
    import mmengine.config.config as config_module

    original = config_module.FormatCode
    results: dict[tuple, tuple] = {}

    def format_code(text, style_config=None, **kwargs):
        key = (text, repr(style_config), repr(sorted(kwargs.items())))
        if key not in results:
            results[key] = original(text, style_config=style_config, **kwargs)
        return results[key]

    config_module.FormatCode = format_code
    yield
    config_module.FormatCode = original


@pytest.fixture(scope="module", autouse=True)
def _torch_threads(request):
    """One intra-op thread unless a module sets ``TORCH_THREADS = None``: tiny models gain
    nothing from threads, and on a small shared CPU spinning OpenMP workers make them
    many times slower. Restored afterwards."""
    threads = getattr(request.module, "TORCH_THREADS", 1)
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def clean_mmengine_singletons():
    """Close and forget MMEngine's process-wide singletons after each test (as
    ``RunnerTestCase`` does), and undo ``deterministic=True``."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer

    failures = []
    for visualizer in list(Visualizer._instance_dict.values()):
        try:
            visualizer.close()
        except Exception as err:  # noqa: BLE001  (one bad close must not fail every later test)
            failures.append(err)
    for logger in list(MMLogger._instance_dict.values()):
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)
    MMLogger._instance_dict.clear()
    Visualizer._instance_dict.clear()
    DefaultScope._instance_dict.clear()
    MessageHub._instance_dict.clear()
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    if failures:
        raise failures[0]
