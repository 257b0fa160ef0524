"""Turn a translation checkpoint into a model and a task.

Two layouts are read, both with ``weights_only=True``:

* official pSp files (``state_dict`` + ``opts`` + ``latent_avg``, as
  ``training/coach.py`` saves them), whose ``opts`` are mapped to a p2s config;
* p2s files, which carry their model and task configs as plain data (``p2s`` key:
  written by :func:`save_translation_checkpoint` and, in training, by
  ``TranslationConfigHook``).  The config *text* MMEngine stores in ``meta.cfg`` is
  Python and is never executed here: reading a checkpoint runs no code from it.

A checkpoint may name plugin modules to import (``custom_imports``) so that its model
and task types are registered; only packages in :data:`PLUGIN_PACKAGES` (and those
listed in ``$P2S_PLUGIN_PACKAGES``, comma-separated) are imported.
"""

from __future__ import annotations

import copy
import importlib
import os
from collections.abc import Sequence
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
from p2s.utils.weights import PSP_HOW_TO_GET, require_weight_file
from p2s.zoo import file_sha256

#: official ``encoder_type`` -> p2s encoder
OFFICIAL_ENCODERS = {
    "GradualStyleEncoder": "GradualStyleEncoder",
    "BackboneEncoderUsingLastLayerIntoW": "WEncoder",
    "BackboneEncoderUsingLastLayerIntoWPlus": "WPlusEncoder",
}


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
    if not isinstance(encoder_type, str) or encoder_type not in OFFICIAL_ENCODERS:
        raise P2SError(
            f"unknown pSp encoder_type '{encoder_type}' (known: {', '.join(OFFICIAL_ENCODERS)})"
        )
    dataset_type = opts.get("dataset_type", "ffhq_encode")
    tasks = tasks_for_dataset_type(dataset_type) if isinstance(dataset_type, str) else []
    if not tasks:
        raise P2SError(f"no registered task serves pSp dataset_type {dataset_type!r}")
    backbone = dict(type="IRSEBackbone", depth=50, mode="ir_se", in_channels=_int_opt(opts, "input_nc", 3))
    model = dict(
        type="PSP",
        encoder=dict(type=OFFICIAL_ENCODERS[encoder_type], backbone=backbone),
        generator=dict(type="StyleGAN2Generator", resolution=_int_opt(opts, "output_size", 1024)),
        start_from_latent_avg=bool(opts.get("start_from_latent_avg", True)),
    )
    learn_in_w = bool(opts.get("learn_in_w", False))
    if learn_in_w != (encoder_type == "BackboneEncoderUsingLastLayerIntoW"):
        raise P2SError(f"pSp opts say learn_in_w={learn_in_w}, which encoder_type '{encoder_type}' contradicts")
    return model, dict(type=tasks[0])


def _int_opt(opts: dict, key: str, default: int) -> int:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise P2SError(f"pSp opts '{key}' must be a positive integer, got {value!r}")
    return value


def read_translation_checkpoint(path: str | Path) -> TranslationCheckpoint:
    """Read ``path`` (official pSp or p2s layout) without building anything."""
    ckpt = load_checkpoint_file(path, "checkpoint", PSP_HOW_TO_GET)
    if isinstance(ckpt, dict) and "state_dict" not in ckpt and "g_ema" in ckpt:
        raise P2SError(
            f"checkpoint '{path}' holds generator weights (g_ema), not a pSp or p2s translation "
            "checkpoint: use it as generator weights (model.generator.weights=..., "
            "p2s directions ganspace --generator ...)"
        )
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise P2SError(f"checkpoint '{path}' has no 'state_dict'; it is not a pSp or p2s checkpoint")
    for key in ("state_dict", "opts"):
        if key in ckpt and not isinstance(ckpt[key], dict):
            raise P2SError(f"checkpoint '{path}': '{key}' holds a {type(ckpt[key]).__name__}, not a dict; "
                           "the file is damaged or not a pSp or p2s checkpoint")
    state = dict(ckpt["state_dict"])
    if "opts" in ckpt:
        try:
            model, task = psp_opts_to_config(dict(ckpt["opts"]))
        except P2SError as err:
            raise P2SError(f"checkpoint '{path}': {err}") from None
        if "latent_avg" in ckpt and ckpt["latent_avg"] is not None:
            state["latent_avg"] = ckpt["latent_avg"]
        return TranslationCheckpoint(model, task, state, "official-psp", {"opts": ckpt["opts"]})
    config = _embedded_config(ckpt, path)
    state = {k: v.float() if _is_half(v) else v for k, v in state.items()}
    for prefix, source in (config.get("shared_weights") or {}).items():
        state.update(shared_weights(prefix, source, path, keep=state))
    return TranslationCheckpoint(config["model"], config["task"], state, "p2s", {"meta": ckpt.get("meta")})


def _is_half(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16)


def shared_weights(prefix: str, source: dict, path: str | Path, keep: dict | None = None) -> dict[str, torch.Tensor]:
    """State entries a checkpoint takes from another file (shipped encoders share one
    generator file): ``source = {"file": name or path, "key": "g_ema"}`` gives
    ``prefix + key`` for each tensor of that file's ``key`` entry, plus its ``latent_avg``
    unless ``keep`` already has one.  With ``"sha256"`` the file must be that version:
    a replaced generator is refused, whether the encoder is opened by name or by path."""
    if not isinstance(source, dict) or not isinstance(source.get("file"), str):
        raise P2SError(f"checkpoint '{path}': shared_weights['{prefix}'] must be a dict with a 'file' name")
    what = f"weights '{source['file']}' shared by checkpoint '{path}'"
    beside = Path(path).parent / source["file"]  # a relative path is the checkpoint's, wherever p2s runs
    named = beside if Path(path).is_file() and not Path(source["file"]).is_absolute() and beside.is_file() else source["file"]
    file = require_weight_file(named, what, "It ships with p2s or sits beside the checkpoint.")
    if source.get("sha256") and file_sha256(file) != source["sha256"]:
        raise P2SError(
            f"checkpoint '{path}' was packed with another version of '{source['file']}' (sha256 differs; it has "
            "been replaced since): re-pack it from a checkpoint trained with that generator (p2s zoo pack)"
        )
    ckpt = load_checkpoint_file(file, what)
    key = source.get("key", "g_ema")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get(key), dict):
        raise P2SError(f"{what} have no '{key}' state dict")
    state = {prefix + name: value for name, value in ckpt[key].items()}
    if ckpt.get("latent_avg") is not None and "latent_avg" not in (keep or {}):
        state["latent_avg"] = ckpt["latent_avg"]
    return state


def _embedded_config(ckpt: dict, path: str | Path) -> dict:
    """The ``model`` and ``task`` configs a p2s checkpoint carries."""
    if not isinstance(ckpt.get("p2s"), dict):
        raise P2SError(
            f"checkpoint '{path}' carries neither pSp 'opts' nor a p2s config (MMEngine "
            "checkpoints get one from TranslationConfigHook, part of configs/_base_/default_runtime.py)"
        )
    config = ckpt["p2s"]
    import_plugins(config.get("custom_imports") or [], f"checkpoint '{path}'")
    missing = [k for k in ("model", "task") if k not in config]
    if missing:
        raise P2SError(f"checkpoint '{path}' config lacks {', '.join(missing)}")
    wrong = [k for k in ("model", "task") if not isinstance(config[k], dict)]
    if wrong:
        raise P2SError(f"checkpoint '{path}': its {wrong[0]} config holds a {type(config[wrong[0]]).__name__}, "
                       "not a dict; the file is damaged")
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
        try:
            state["latent_avg"] = expand_latent_avg(state["latent_avg"], model.num_ws, model.decoder.w_dim)
        except P2SError as err:
            raise P2SError(f"{source}: {err}") from None
    elif not model.start_from_latent_avg:
        state["latent_avg"] = model.latent_avg.clone()
    load_state_dict_strict(model, state, source, ignore_missing=(".kernel",))
    return model.eval()


#: version of the p2s checkpoint layout written by :func:`save_translation_checkpoint`
P2S_CHECKPOINT_VERSION = 1
#: top-level packages whose modules a checkpoint may ask to import
PLUGIN_PACKAGES = ("p2s_plugins",)


def _trusted_packages() -> tuple[str, ...]:
    extra = [p.strip() for p in os.environ.get("P2S_PLUGIN_PACKAGES", "").split(",") if p.strip()]
    return PLUGIN_PACKAGES + tuple(extra)


def import_plugins(modules: Sequence[str], source: str) -> None:
    """Import the plugin modules a checkpoint names, so its model and task types exist."""
    trusted = _trusted_packages()
    for name in modules:
        if not isinstance(name, str) or name.split(".")[0] not in trusted:
            raise P2SError(
                f"{source} asks to import {name!r}; only {', '.join(trusted)}.* plugins are imported "
                "(add a package to P2S_PLUGIN_PACKAGES to trust it)"
            )
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a plugin's import runs its code: it can raise anything
            raise P2SError(f"{source} needs the plugin '{name}', which cannot be imported: "
                           f"{import_failure(err)}") from None


def import_failure(err: Exception) -> str:
    """Why an import failed, on one line (``SyntaxError: invalid syntax (x.py, line 2)``):
    a plugin's own error is the user's to fix, so it is named, not shown as a traceback."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else err  # KeyError's str() adds quotes
    lines = str(text).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def plugin_modules(model: PSP, task_cfg: dict) -> list[str]:
    """Plugin modules that define the model's or the task's class (to store in a checkpoint)."""
    modules = {type(model).__module__}
    task_type = task_cfg.get("type")
    task_cls = TASKS.get(task_type) if isinstance(task_type, str) else task_type
    if task_cls is not None:
        modules.add(task_cls.__module__)
    return sorted(m for m in modules if m.split(".")[0] in _trusted_packages())


def translation_payload(model: PSP, model_cfg: dict, task_cfg: dict,
                        custom_imports: Sequence[str] | None = None) -> dict:
    """The plain-data ``p2s`` entry of a checkpoint: what ``p2s translate`` rebuilds from."""
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.pop("losses", None)
    imports = list(custom_imports) if custom_imports is not None else plugin_modules(model, task_cfg)
    return {"model": model_cfg, "task": copy.deepcopy(task_cfg), "custom_imports": imports,
            "version": P2S_CHECKPOINT_VERSION}


def save_translation_checkpoint(path: str | Path, model: PSP, model_cfg: dict, task_cfg: dict,
                                custom_imports: Sequence[str] | None = None) -> None:
    """Write a p2s checkpoint that ``p2s translate`` reads with no other file:
    the model's state dict (``latent_avg`` included) and the configs that rebuild it."""
    from p2s.utils.checkpoint import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"state_dict": state, "p2s": translation_payload(model, model_cfg, task_cfg, custom_imports)},
                      path)
