"""``KEY=VALUE`` overrides: what they change beside the key itself."""

from __future__ import annotations

from mmengine.config import Config

from p2s.cli.overrides import apply_overrides

MAKE = "make it with: p2s data synthfaces --out data/x"


def _config() -> Config:
    dataset = dict(type="ImageFolderDataset", root="data/x/images", how_to_get=MAKE)
    return Config(dict(train_dataloader=dict(dataset=dataset), val_dataloader=dict(dataset=dict(dataset))))


def test_a_data_folder_from_the_command_line_drops_the_config_s_hint():
    """The hint makes the config's folder: a missing /data/ffhq was told to run 'p2s data synthfaces'."""
    cfg = _config()
    apply_overrides(cfg, ["train_dataloader.dataset.root=/data/ffhq"])
    assert cfg.train_dataloader.dataset.how_to_get == ""
    assert cfg.val_dataloader.dataset.how_to_get == MAKE  # its folder is still the config's


def test_a_hint_given_with_the_folder_stays():
    cfg = _config()
    apply_overrides(cfg, ["train_dataloader.dataset.root=/data/ffhq", "train_dataloader.dataset.how_to_get=ask Ann"])
    assert cfg.train_dataloader.dataset.how_to_get == "ask Ann"
