"""A contributor's task outside the package: one module and one short config, as the
README's "Write your own task" says, trains, is recorded, and translates."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from p2s.cli.main import app
from p2s.registry import TASKS

ROOT = Path(__file__).resolve().parents[2]

MODULE, TASK = "oot_denoise_task", "OutOfTreeDenoise"

PLUGIN = f'''
"""Denoising: a noisy face in, the clean face out."""
import numpy as np
import torch

from p2s.registry import TASKS
from p2s.tasks.base import TaskAdapter


@TASKS.register_module()
class {TASK}(TaskAdapter):
    """Noisy RGB face -> clean face; training sources are targets plus Gaussian noise."""

    name = "oot-denoise"

    def derive_source(self, target, rng, train):
        x = self.prepare_source(target)
        noise = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * 0.2
        return (x + noise).clamp(-1, 1)
'''

#: the README's config: the task once; the datasets take it
CONFIG = f"""
_base_ = [{str(ROOT / 'configs' / '_base_' / 'synthfaces_psp-64.py')!r}]
custom_imports = dict(imports=[{MODULE!r}])
task = dict(type={TASK!r}, image_size={{{{_base_.image_size}}}})
model = dict(losses=dict(l2=dict(type='L2Loss', loss_weight=1.0)))
"""


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / f"{MODULE}.py").write_text(PLUGIN)
    (folder / "denoise_synthfaces-64.py").write_text(CONFIG)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    yield folder
    sys.modules.pop(MODULE, None)
    TASKS._module_dict.pop(TASK, None)


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_task_module_and_a_five_line_config_train_and_translate(plugin_folder, tiny_configs, train_data,
                                                                   tmp_path, monkeypatch):
    tiny = tiny_configs.write_tiny_config(plugin_folder / "denoise_synthfaces-64.py", train_data,
                                          tmp_path / "tiny.py", max_iters=2)
    shown = _invoke("config", "show", tiny)
    assert shown.exit_code == 0, shown.output
    assert shown.output.count(f"type='{TASK}'") == 3  # the task, and the train and val datasets' copies
    listed = _invoke("registry", "list", "tasks", "--config", tiny)
    assert listed.exit_code == 0 and TASK in listed.output, listed.output

    work = tmp_path / "work"
    result = _invoke("train", tiny, "--work-dir", work)
    assert result.exit_code == 0, result.output
    ckpt = torch.load(work / "iter_2.pth", map_location="cpu", weights_only=True)
    assert ckpt["p2s"]["task"] == dict(type=TASK, image_size=64) and ckpt["p2s"]["custom_imports"] == [MODULE]

    out = tmp_path / "denoised"
    refused = _invoke("translate", "--checkpoint", work / "iter_2.pth", "--input", train_data["faces"],
                      "--output", out)
    assert refused.exit_code == 2 and "P2S_PLUGIN_PACKAGES" in refused.output  # not trusted by default
    monkeypatch.setenv("P2S_PLUGIN_PACKAGES", MODULE)
    result = _invoke("translate", "--checkpoint", work / "iter_2.pth", "--input", train_data["faces"],
                     "--output", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["s0.png", "s1.png", "s2.png"]
