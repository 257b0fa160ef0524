"""A plugin module a checkpoint names that fails to import (any exception) is one line."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch

from p2s.apis.checkpoint import import_failure, import_plugins
from p2s.apis.translator import Translator
from p2s.registry import TASKS
from p2s.utils.errors import P2SError

#: a trusted (``$P2S_PLUGIN_PACKAGES``) package written to tmp_path for each test
PACKAGE = "p2s_test_broken_plugins"
#: module name -> its source and the cause ``import_plugins`` reports
BROKEN = {
    "bad_syntax": ("x = 1\ndef (:\n", "SyntaxError: invalid syntax (bad_syntax.py, line 2)"),
    "twice": ("from p2s.registry import TASKS\n\n@TASKS.register_module(name='Inversion')\nclass Again:\n    pass\n",
              "KeyError: Inversion is already registered in task at p2s.tasks.inversion"),
    "raises": ("raise RuntimeError('needs a driver\\nsecond line')\n", "RuntimeError: needs a driver"),
    "missing_dependency": ("import p2s_no_such_dependency\n",
                           "ModuleNotFoundError: No module named 'p2s_no_such_dependency'"),
}


@pytest.fixture
def broken_package(tmp_path, monkeypatch):
    """``PACKAGE`` with the ``BROKEN`` modules, importable and trusted; forgotten afterwards."""
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, (source, _) in BROKEN.items():
        (package / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("P2S_PLUGIN_PACKAGES", PACKAGE)
    importlib.invalidate_caches()
    yield package
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def checkpoint_importing(ckpt, folder, module: str):
    """The tiny inversion checkpoint, rewritten to name ``module`` in its custom_imports."""
    payload = torch.load(ckpt("inversion"), weights_only=True)
    payload["p2s"]["custom_imports"] = [module]
    path = folder / f"{module.rsplit('.', 1)[-1]}.pth"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("module", sorted(BROKEN))
def test_any_import_failure_is_one_line_naming_module_and_cause(broken_package, module):
    with pytest.raises(P2SError) as caught:
        import_plugins([f"{PACKAGE}.{module}"], "checkpoint 'x.pth'")
    assert str(caught.value) == (
        f"checkpoint 'x.pth' needs the plugin '{PACKAGE}.{module}', which cannot be imported: {BROKEN[module][1]}"
    )
    assert f"{PACKAGE}.{module}" not in sys.modules


def test_a_failed_duplicate_registration_leaves_the_registry_as_it_was(broken_package):
    with pytest.raises(P2SError, match="already registered"):
        import_plugins([f"{PACKAGE}.twice"], "checkpoint 'x.pth'")
    assert TASKS.get("Inversion").__module__ == "p2s.tasks.inversion"


def test_a_plugin_module_that_does_not_exist_is_still_one_line(broken_package):
    with pytest.raises(P2SError) as caught:
        import_plugins([f"{PACKAGE}.absent"], "checkpoint 'x.pth'")
    assert str(caught.value) == (f"checkpoint 'x.pth' needs the plugin '{PACKAGE}.absent', which cannot be "
                                 f"imported: ModuleNotFoundError: No module named '{PACKAGE}.absent'")


def test_translator_refuses_a_checkpoint_with_a_broken_plugin(broken_package, ckpt, tmp_path):
    path = checkpoint_importing(ckpt, tmp_path, f"{PACKAGE}.bad_syntax")
    with pytest.raises(P2SError, match=r"needs the plugin .*bad_syntax', which cannot be imported: SyntaxError"):
        Translator.from_checkpoint(path, device="cpu")


@pytest.mark.parametrize("module", ["bad_syntax", "twice"])
def test_translate_cli_prints_one_line_for_a_broken_plugin(broken_package, tiny, ckpt, tmp_path, module):
    path = checkpoint_importing(ckpt, tmp_path, f"{PACKAGE}.{module}")
    image = tiny.write_rgb(tmp_path / "a.png")
    result = tiny.invoke("translate", "--checkpoint", path, "--input", image, "--output", tmp_path / "out",
                         "--device", "cpu")
    assert tiny.one_line_error(result) == (
        f"error: checkpoint '{path}' needs the plugin '{PACKAGE}.{module}', which cannot be imported: "
        f"{BROKEN[module][1]}"
    )
    assert result.output.count("\n") == 1, result.output
    assert not (tmp_path / "out").exists()


def test_import_failure_without_a_message_names_the_exception():
    assert import_failure(RuntimeError()) == "RuntimeError"
    assert import_failure(KeyError("X is already registered")) == "KeyError: X is already registered"
