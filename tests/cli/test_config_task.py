"""One task per training config: checked, shared with the datasets, overridden everywhere."""

from __future__ import annotations

import pytest
from mmengine.config import Config

from p2s.cli.config_task import check_one_task, share_task, task_overrides
from p2s.cli.overrides import apply_overrides
from p2s.utils.errors import P2SError


def config(top=None, train="unset", val="unset") -> Config:
    def dataset(task):
        cfg = dict(type="ImageFolderDataset", root="data/x")
        return cfg if task == "unset" else dict(cfg, task=task)

    cfg = dict(train_dataloader=dict(dataset=dataset(train)), val_dataloader=dict(dataset=dataset(val)))
    return Config(cfg if top is None else dict(cfg, task=top))


def load(cfg: Config, overrides: list[str]) -> Config:
    """What ``p2s train`` and ``p2s config show`` do after reading the file."""
    share_task(cfg)
    apply_overrides(cfg, task_overrides(cfg, overrides))
    check_one_task(cfg)
    return cfg


def tasks(cfg: Config) -> list:
    return [cfg.task.to_dict(), cfg.train_dataloader.dataset.task.to_dict(), cfg.val_dataloader.dataset.task.to_dict()]


def test_datasets_that_leave_the_task_out_take_the_configs():
    cfg = load(config(top=dict(type="Inpainting", image_size=64)), [])
    assert tasks(cfg) == [dict(type="Inpainting", image_size=64)] * 3


def test_a_task_override_reaches_every_copy():
    """Before: the datasets kept the task the file was read with, while checkpoints
    recorded the overridden one (a model trained on one task, labelled as another)."""
    task = dict(type="Inversion", image_size=64)
    cfg = load(config(top=task, train=task, val=task), ["task.image_size=32", "task.type=Frontalization"])
    assert tasks(cfg) == [dict(type="Frontalization", image_size=32)] * 3


def test_a_whole_task_override_reaches_every_copy():
    task = dict(type="Inversion")
    cfg = load(config(top=task, train=task, val=task), ["task={'type': 'Inpainting'}"])
    assert [t["type"] for t in tasks(cfg)] == ["Inpainting"] * 3


def test_a_dataset_task_that_differs_in_the_file_is_one_line():
    """A config that sets its task only for training would validate another one."""
    cfg = config(top=dict(type="Inversion"), train=dict(type="Denoise"))
    with pytest.raises(P2SError) as err:
        share_task(cfg)
    assert str(err.value).startswith(
        "train_dataloader.dataset.task is not the config's task (type 'Denoise' here, 'Inversion' in task): "
        "a training config has one task, which its checkpoints record for p2s translate; set task = dict(...) once")


def test_a_dataset_task_overridden_alone_is_refused_with_the_override_that_works():
    task = dict(type="Inversion", image_size=64)
    with pytest.raises(P2SError, match=r"val_dataloader.dataset.task is not the config's task \(image_size 32 here, "
                                       r"64 in task\).*override task.KEY=VALUE instead"):
        load(config(top=task, train=task, val=task), ["val_dataloader.dataset.task.image_size=32"])


def test_without_a_top_level_task_the_datasets_one_is_recorded():
    """Checkpoints record the top-level task; a config that set it only in its datasets
    used to train a checkpoint that `p2s translate` could not read."""
    cfg = load(config(train=dict(type="Sketch2Face"), val=dict(type="Sketch2Face")), [])
    assert cfg.task.to_dict() == dict(type="Sketch2Face")


def test_no_task_anywhere_is_one_line_naming_the_datasets():
    with pytest.raises(P2SError, match=r"the config has no task for train_dataloader.dataset, "
                                       r"val_dataloader.dataset: set task = dict\(type=...\)"):
        share_task(config())


def test_configs_without_task_datasets_are_left_alone():
    """The StyleGAN2 configs train a generator on datasets that take no task."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type="GANImageDataset", root="x"))))
    share_task(cfg)
    assert "task" not in cfg
