"""Tiny training configs derived from the real ones, and what a tiny run logged (tests import
this via conftest)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
TINY_BACKBONE = dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16), weights=None)
TINY_GENERATOR = dict(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1, weights=None)


def all_training_configs() -> list[Path]:
    return sorted((ROOT / "configs" / "psp").glob("*.py")) + sorted((ROOT / "plugins").glob("*/configs/*.py"))


def _tiny_losses(losses: dict) -> dict:
    tiny = {}
    for name, loss in losses.items():
        loss = dict(loss)
        if loss["type"] == "LPIPSLoss":
            loss["random_backbone"] = True
        if loss["type"] == "IDLoss":
            loss.update(weights=None, random_init=True, network=dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16)))
        if loss["type"] == "MoCoLoss":
            loss.update(weights=None, random_init=True)
        tiny[name] = loss
    return tiny


def _tiny_dataset(dataset: dict, data: dict, train: bool, max_samples: int) -> dict:
    dataset = dict(dataset, train=train, max_samples=max_samples)
    if dataset["type"] == "PairedImageDataset":
        kind = {"Sketch2Face": "sketches", "Seg2Face": "labels"}[dataset["task"]["type"]]
        dataset.update(source_root=str(data[kind]), target_root=str(data["faces"]))
    else:
        dataset["root"] = str(data["faces"])
    return dataset


def write_tiny_config(base: Path, data: dict, out: Path, *, max_iters: int = 4, fixed_batch: bool = True,
                      optimizer: dict | None = None, interval: int = 2) -> Path:
    """A config inheriting ``base`` with tiny networks, data in ``data`` and few iterations.

    ``fixed_batch`` turns augmentation and generator noise off (same batch every step).
    """
    cfg = Config.fromfile(str(base))
    backbone = dict(TINY_BACKBONE, _delete_=True, in_channels=cfg.model.encoder.backbone.get("in_channels", 3))
    model = dict(encoder=dict(backbone=backbone), generator=dict(TINY_GENERATOR),
                 losses=_tiny_losses(copy.deepcopy(cfg.model.losses)))
    if fixed_batch:
        model["train_noise_mode"] = "const"
    if cfg.model.get("type") == "ReStylePSP":  # fewer refinement steps keep the test quick
        model.update(iterations=2, train_iterations=2)
    loader = dict(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
    text = [
        f"_base_ = [{str(base)!r}]",
        f"model = {model!r}",
        f"train_dataloader = {dict(loader, dataset=_tiny_dataset(cfg.train_dataloader.dataset, data, not fixed_batch, 2))!r}",
        f"val_dataloader = {dict(loader, dataset=_tiny_dataset(cfg.val_dataloader.dataset, data, False, 2))!r}",
        f"train_cfg = dict(max_iters={max_iters}, val_interval={interval})",
        f"default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={interval}))",
        "custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='RNGStateHook'),"
        f" dict(type='ImageGridHook', interval={interval}), dict(type='TranslationConfigHook')]",
        "randomness = dict(seed=0)",
    ]
    if optimizer:
        text.append(f"optim_wrapper = dict(optimizer={dict(optimizer, _delete_=True)!r})")
    out.write_text("\n".join(text) + "\n")
    return out


def scalars(work_dir: Path) -> list[dict]:
    """The rows of the scalars.json of a run's latest log folder under ``work_dir``."""
    files = sorted(work_dir.glob("*/vis_data/scalars.json"))
    assert files, f"no scalars.json under {work_dir}"
    return [json.loads(line) for line in files[-1].read_text().splitlines()]
