"""Turn a translation checkpoint into a model and a task.

Two layouts are read, both with ``weights_only=True``:

* official pSp files (``state_dict`` + ``opts`` + ``latent_avg``, as
  ``training/coach.py`` saves them), whose ``opts`` are mapped to a p2s config;
* p2s files, which carry their config (``p2s`` key, or MMEngine's ``meta.cfg``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from p2s.models.psp import PSP, expand_latent_avg
from p2s.registry import MODELS, TASKS
from p2s.tasks.base import TaskAdapter, tasks_for_dataset_type
from p2s.utils.build import build
from p2s.utils.checkpoint import load_checkpoint_file, load_state_dict_strict
from p2s.utils.errors import P2SError

#: official ``encoder_type`` -> p2s encoder
OFFICIAL_ENCODERS = {
    "GradualStyleEncoder": "GradualStyleEncoder",
    "BackboneEncoderUsingLastLayerIntoW": "WEncoder",
    "BackboneEncoderUsingLastLayerIntoWPlus": "WPlusEncoder",
}
PSP_HOW_TO_GET = (
    "Give the path of a pSp checkpoint (e.g. psp_ffhq_encode.pt from the pSp README) "
    "or of one written by 'p2s train'."
)


@dataclass
class TranslationCheckpoint:
    """A checkpoint's model and task configs and its model state dict."""

    model: dict
    task: dict
    state_dict: dict[str, torch.Tensor]
    layout: str
    extra: dict[str, Any] = field(default_factory=dict)


def psp_opts_to_config(opts: dict) -> tuple[dict, dict]:
    """Model and task configs equivalent to an official pSp ``opts`` dict.

    Keys missing from the 2020 files get the official inference defaults
    (``output_size`` 1024, ``learn_in_w`` False); ``device`` is ignored.
    """
    encoder_type = opts.get("encoder_type", "GradualStyleEncoder")
    if encoder_type not in OFFICIAL_ENCODERS:
        raise P2SError(
            f"unknown pSp encoder_type '{encoder_type}' (known: {', '.join(OFFICIAL_ENCODERS)})"
        )
    dataset_type = opts.get("dataset_type", "ffhq_encode")
    tasks = tasks_for_dataset_type(dataset_type)
    if not tasks:
        raise P2SError(f"no registered task serves pSp dataset_type '{dataset_type}'")
    backbone = dict(type="IRSEBackbone", depth=50, mode="ir_se", in_channels=int(opts.get("input_nc", 3)))
    model = dict(
        type="PSP",
        encoder=dict(type=OFFICIAL_ENCODERS[encoder_type], backbone=backbone),
        generator=dict(type="StyleGAN2Generator", resolution=int(opts.get("output_size", 1024))),
        start_from_latent_avg=bool(opts.get("start_from_latent_avg", True)),
    )
    learn_in_w = bool(opts.get("learn_in_w", False))
    if learn_in_w != (encoder_type == "BackboneEncoderUsingLastLayerIntoW"):
        raise P2SError(f"pSp opts say learn_in_w={learn_in_w}, which encoder_type '{encoder_type}' contradicts")
    return model, dict(type=tasks[0])


def read_translation_checkpoint(path: str | Path) -> TranslationCheckpoint:
    """Read ``path`` (official pSp or p2s layout) without building anything."""
    ckpt = load_checkpoint_file(path, "checkpoint", PSP_HOW_TO_GET)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise P2SError(f"checkpoint '{path}' has no 'state_dict'; it is not a pSp or p2s checkpoint")
    state = dict(ckpt["state_dict"])
    if "opts" in ckpt:
        model, task = psp_opts_to_config(dict(ckpt["opts"]))
        if "latent_avg" in ckpt and ckpt["latent_avg"] is not None:
            state["latent_avg"] = ckpt["latent_avg"]
        return TranslationCheckpoint(model, task, state, "official-psp", {"opts": ckpt["opts"]})
    config = _embedded_config(ckpt, path)
    return TranslationCheckpoint(config["model"], config["task"], state, "p2s", {"meta": ckpt.get("meta")})


def _embedded_config(ckpt: dict, path: str | Path) -> dict:
    """The ``model`` and ``task`` configs a p2s checkpoint carries."""
    if isinstance(ckpt.get("p2s"), dict):
        config = ckpt["p2s"]
    elif isinstance(ckpt.get("meta"), dict) and isinstance(ckpt["meta"].get("cfg"), str):
        from mmengine.config import Config

        config = Config.fromstring(ckpt["meta"]["cfg"], file_format=".py").to_dict()
    else:
        raise P2SError(f"checkpoint '{path}' carries neither pSp 'opts' nor a p2s config")
    missing = [k for k in ("model", "task") if k not in config]
    if missing:
        raise P2SError(f"checkpoint '{path}' config lacks {', '.join(missing)}")
    return config


def without_weight_files(cfg: Any) -> Any:
    """A copy of ``cfg`` with every ``weights`` path cleared: the checkpoint holds them."""
    if isinstance(cfg, dict):
        return {k: (None if k == "weights" else without_weight_files(v)) for k, v in cfg.items()}
    if isinstance(cfg, list):
        return [without_weight_files(v) for v in cfg]
    return copy.deepcopy(cfg)


def build_task(task_cfg: dict, **options: Any) -> TaskAdapter:
    """Build a task adapter, with ``options`` (e.g. ``resize_factor``) overriding."""
    return build(TASKS, {**task_cfg, **options}, TaskAdapter)


def build_translation_model(checkpoint: TranslationCheckpoint, source: str) -> PSP:
    """Build the model of ``checkpoint`` and load its weights strictly."""
    model_cfg = without_weight_files(checkpoint.model)
    model_cfg.pop("losses", None)  # training only; their networks need their own files
    model = build(MODELS, model_cfg, PSP)
    state = dict(checkpoint.state_dict)
    if "latent_avg" in state:
        state["latent_avg"] = expand_latent_avg(state["latent_avg"], model.num_ws, model.decoder.w_dim)
    elif not model.start_from_latent_avg:
        state["latent_avg"] = model.latent_avg.clone()
    load_state_dict_strict(model, state, source, ignore_missing=(".kernel",))
    return model.eval()


#: version of the p2s checkpoint layout written by :func:`save_translation_checkpoint`
P2S_CHECKPOINT_VERSION = 1


def save_translation_checkpoint(path: str | Path, model: PSP, model_cfg: dict, task_cfg: dict) -> None:
    """Write a p2s checkpoint that ``p2s translate`` reads with no other file:
    the model's state dict (``latent_avg`` included) and the configs that rebuild it."""
    from p2s.utils.checkpoint import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "state_dict": state,
        "p2s": {"model": copy.deepcopy(model_cfg), "task": copy.deepcopy(task_cfg), "version": P2S_CHECKPOINT_VERSION},
    }
    atomic_torch_save(payload, path)
