"""``p2s registry list`` with broken plugins, ``--import MODULE`` and ``--config FILE``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

import p2s_plugins
from p2s.registry import TASKS

#: a task plugin of one class; ``{name}`` is the unique class name
TASK_PLUGIN = '''
from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class {name}(TaskAdapter):
    """A task written for this test only."""

    name = "{name}"
'''


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def lines_starting(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(word)]


@pytest.fixture
def forget():
    """``forget(module, task)``: after the test, drop the module and the task type it registered."""
    names: list[tuple[str, str]] = []
    yield lambda module, task: names.append((module, task))
    for module, task in names:
        sys.modules.pop(module, None)
        TASKS._module_dict.pop(task, None)


def write_task_module(folder: Path, module: str, task: str) -> Path:
    path = folder / f"{module}.py"
    path.write_text(TASK_PLUGIN.format(name=task))
    importlib.invalidate_caches()
    return path


# --- --plugins with broken plugins -------------------------------------------------------------
@pytest.fixture
def fake_plugins(tmp_path, monkeypatch, forget):
    """``p2s_plugins`` discovers only tmp_path's packages: two broken ones and a good one."""
    folder = tmp_path / "plugins"
    for name, source in {
        "broken_syntax": "def (:\n",
        "twice": "from p2s.registry import TASKS\n\n@TASKS.register_module(name='Inversion')\nclass Again:\n    pass\n",
        "good": TASK_PLUGIN.format(name="RegistryTestGoodPluginTask"),
    }.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(source)
    monkeypatch.setattr(p2s_plugins, "__path__", [str(folder)])
    importlib.invalidate_caches()
    forget("p2s_plugins.good", "RegistryTestGoodPluginTask")
    return folder


def test_each_broken_plugin_is_one_warning_and_the_rest_is_listed(tiny, fake_plugins):
    result = tiny.invoke("registry", "list", "tasks", "--plugins")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert lines_starting(result.output, "warning:") == [
        "warning: plugin 'p2s_plugins.broken_syntax' cannot be imported, so its types may be missing: "
        "SyntaxError: invalid syntax (__init__.py, line 1)",
        "warning: plugin 'p2s_plugins.twice' cannot be imported, so its types may be missing: "
        "KeyError: Inversion is already registered in task at p2s.tasks.inversion",
    ]
    text = flat(result.output)
    assert "tasks RegistryTestGoodPluginTask A task written for this test only." in text
    assert "tasks Inversion RGB face -> the same face" in text
    assert text.endswith("with the plugins p2s_plugins.good")
    assert TASKS.get("Inversion").__module__ == "p2s.tasks.inversion"


# --- --import MODULE ---------------------------------------------------------------------------
def test_import_lists_an_out_of_tree_task(tiny, tmp_path, monkeypatch, forget):
    write_task_module(tmp_path, "registry_test_own_task", "RegistryTestImportedTask")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget("registry_test_own_task", "RegistryTestImportedTask")
    result = tiny.invoke("registry", "list", "tasks", "--import", "registry_test_own_task")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "tasks RegistryTestImportedTask A task written for this test only." in text
    assert text.endswith("with the modules registry_test_own_task")


def test_import_is_repeatable_and_combines_with_plugins(tiny, tmp_path, monkeypatch, forget, fake_plugins):
    for module, task in (("registry_test_first", "RegistryTestFirstTask"),
                         ("registry_test_second", "RegistryTestSecondTask")):
        write_task_module(tmp_path, module, task)
        forget(module, task)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = tiny.invoke("registry", "list", "tasks", "--import", "registry_test_first",
                         "--import", "registry_test_second", "--plugins")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert " RegistryTestFirstTask " in text and " RegistryTestSecondTask " in text
    assert text.endswith("with the plugins p2s_plugins.good and the modules registry_test_first, registry_test_second")


def test_import_of_a_missing_module_is_one_line(tiny):
    result = tiny.invoke("registry", "list", "--import", "registry_test_absent")
    assert tiny.one_line_error(result) == (
        "error: --import 'registry_test_absent' cannot be imported: "
        "ModuleNotFoundError: No module named 'registry_test_absent'"
    )
    assert result.output.count("\n") == 1, result.output


def test_import_of_a_broken_module_is_one_line(tiny, tmp_path, monkeypatch):
    (tmp_path / "registry_test_broken.py").write_text("x = 1\ndef (:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    result = tiny.invoke("registry", "list", "--import", "registry_test_broken")
    assert tiny.one_line_error(result) == (
        "error: --import 'registry_test_broken' cannot be imported: "
        "SyntaxError: invalid syntax (registry_test_broken.py, line 2)"
    )
    assert "registry_test_broken" not in sys.modules


# --- --config FILE -----------------------------------------------------------------------------
def test_config_runs_its_custom_imports(tiny, tmp_path, monkeypatch, forget):
    write_task_module(tmp_path, "registry_test_config_task", "RegistryTestConfigTask")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget("registry_test_config_task", "RegistryTestConfigTask")
    config = tmp_path / "own.py"
    config.write_text("custom_imports = dict(imports=['registry_test_config_task'], allow_failed_imports=False)\n")
    result = tiny.invoke("registry", "list", "tasks", "--config", config)
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "tasks RegistryTestConfigTask A task written for this test only." in text
    assert text.endswith(f"with the custom_imports of config '{config}'")


def test_config_that_does_not_exist_is_one_line(tiny, tmp_path):
    result = tiny.invoke("registry", "list", "--config", tmp_path / "nope.py")
    assert tiny.one_line_error(result) == f"error: config '{tmp_path / 'nope.py'}' does not exist"


def test_config_whose_custom_import_fails_is_one_line_naming_the_module(tiny, tmp_path):
    config = tmp_path / "bad.py"
    config.write_text("custom_imports = dict(imports=['registry_test_absent'], allow_failed_imports=False)\n")
    result = tiny.invoke("registry", "list", "--config", config)
    line = tiny.one_line_error(result)  # the wording is load_config's, as for p2s train
    assert line.startswith(f"error: config '{config}': custom_imports")
    assert "'registry_test_absent'" in line


def test_without_imports_the_closing_line_says_how_to_add_them(tiny):
    result = tiny.invoke("registry", "list", "tasks")
    assert result.exit_code == 0, result.output
    assert flat(result.output).endswith("--plugins lists them too (--import MODULE or --config FILE lists your own)")


def test_first_sentence_runs_past_i_e_and_e_g():
    """'registry list' showed Inpainting as '... blanked out (set to 0, i.e.'."""
    from p2s.cli.registry import _first_doc_line
    from p2s.tasks.inpainting import Inpainting

    assert _first_doc_line(Inpainting).endswith("(set to 0, i.e. mid-grey in [-1, 1]); training draws the triangle "
                                                "at random, inference uses a fixed one.")

    class Example:
        """Reads a file, e.g. a PNG. Then more."""

    assert _first_doc_line(Example) == "Reads a file, e.g. a PNG."
