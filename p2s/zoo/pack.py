"""Turn trained checkpoints into shipped catalogue entries (``p2s zoo pack``).

A packed translation file holds the encoder (and ``latent_avg``) in float16 and names
the generator file it was trained against (with that file's sha256) instead of
repeating it: eight encoders share one generator.  Packing refuses a checkpoint whose generator differs from the
named file, so a shipped encoder always runs with the generator it learnt.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from p2s.apis.checkpoint import P2S_CHECKPOINT_VERSION, without_weight_files
from p2s.utils.atomic import write_atomically
from p2s.utils.checkpoint import atomic_torch_save, load_checkpoint_file
from p2s.utils.errors import P2SError
from p2s.utils.weights import require_weight_file
from p2s.zoo import CATALOGUE, WEIGHTS_DIR, catalogue, file_sha256, sha256

DECODER = "decoder."


def _generator_state(generator: str) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint_file(generator, "generator weights")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("g_ema"), dict):
        raise P2SError(f"generator weights '{generator}' have no 'g_ema' state dict")
    return ckpt["g_ema"]


def _check_same_generator(state: dict[str, torch.Tensor], generator: str, checkpoint: str | Path) -> None:
    shipped = _generator_state(generator)
    decoder = {k[len(DECODER):]: v for k, v in state.items() if k.startswith(DECODER)}
    differ = sorted(k for k, v in decoder.items() if k not in shipped or not torch.equal(v.float(), shipped[k].float()))
    missing = sorted(set(shipped) - set(decoder))
    if differ or missing:
        raise P2SError(
            f"checkpoint '{checkpoint}' was not trained with generator '{generator}' "
            f"({len(differ)} differing and {len(missing)} missing tensors, e.g. {(differ + missing)[0]})"
        )


def pack_translation(checkpoint: str | Path, out: str | Path, generator: str,
                     dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Write ``out``: the encoder of a p2s ``checkpoint`` in ``dtype`` plus its configs,
    sharing the decoder from ``generator`` (a catalogue name or a path).  Returns what
    the checkpoint says of its training (iterations, experiment name)."""
    raw = load_checkpoint_file(checkpoint, "checkpoint")
    if not isinstance(raw, dict) or not isinstance(raw.get("p2s"), dict) or "state_dict" not in raw:
        raise P2SError(f"checkpoint '{checkpoint}' is not a p2s translation checkpoint (no 'p2s' config)")
    state = raw["state_dict"]
    _check_same_generator(state, generator, checkpoint)
    kept = {
        k: (v.to(dtype) if v.is_floating_point() and k != "latent_avg" else v).clone()
        for k, v in state.items()
        if not k.startswith(DECODER)
    }
    config = dict(raw["p2s"])
    config["model"] = without_weight_files(config["model"])
    # the generator's version too: an encoder never decodes with weights it did not learn
    generator_file = require_weight_file(generator, "generator weights")
    config["shared_weights"] = {DECODER: {"file": _as_recorded(generator, generator_file, out), "key": "g_ema",
                                          "sha256": file_sha256(generator_file)}}
    config["version"] = P2S_CHECKPOINT_VERSION
    atomic_torch_save({"state_dict": kept, "p2s": config}, out)
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    return {k: meta[k] for k in ("iter", "experiment_name", "seed") if k in meta}


def _as_recorded(generator: str, file: Path, out: str | Path) -> str:
    """A shipped generator by its name; any other by its path relative to the packed
    file's folder, so the pair loads from wherever p2s runs."""
    if generator in catalogue():
        return generator
    return os.path.relpath(file.resolve(), Path(out).resolve().parent)


def pack_generator(exported: str | Path, out: str | Path) -> Path:
    """Ship a generator written by ``p2s data export-generator`` (checked, then copied)."""
    _generator_state(str(exported))
    shutil.copyfile(exported, out)
    return Path(out)


def register(name: str, file: str, kind: str, **fields: Any) -> None:
    """Add or replace the catalogue entry ``name`` (its sha256 is computed here)."""
    entries = json.loads(CATALOGUE.read_text()) if CATALOGUE.is_file() else {}
    previous = entries.get(name, {})
    entry = {**previous, **fields, "file": file, "kind": kind, "sha256": sha256(WEIGHTS_DIR / file)}
    entries[name] = entry
    text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
    write_atomically(CATALOGUE, lambda tmp: tmp.write_text(text))
    catalogue.cache_clear()
