"""Random-weight checkpoints in the official pSp layouts, for parity and strict-load tests.

No official weights are shipped with the fixtures; instead ``shared/fixtures/psp256/README.md``
gives a recipe that turns a seed and a manifest (``key, shape, dtype, kind`` rows in
``state_dict`` order) into a complete checkpoint, bit for bit. This module implements that
recipe for any manifest in the official layouts (``shared/formats/*.tsv`` as well), plus a
cheap placeholder state dict for tests that only need keys and shapes.

Bit for bit needs one more thing on Intel CPUs: torch's CPU ``exp`` (the recipe's
``bn_var`` rule) is MKL's ``vsExp``, whose last bit depends on the code path MKL picks for
the CPU.  On an Intel Xeon with AVX-512, 1.7 % of the values differ from the fixtures'
(made where MKL ran its generic path, as it does on AMD); ``MKL_CBWR=COMPATIBLE`` picks
that path on every x86 CPU, and MKL reads it once, at start-up.
:func:`save_fixture_checkpoint` therefore regenerates in a fresh process with it set.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "RULES",
    "ManifestRow",
    "fixture_checkpoint",
    "random_official_state_dict",
    "random_psp_checkpoint",
    "random_state_dict_like",
    "read_manifest",
    "rule_counts",
    "rule_for",
    "save_fixture_checkpoint",
    "weights_sha256",
]


@dataclass(frozen=True)
class ManifestRow:
    """One ``state_dict`` entry of a manifest: its key, shape, dtype name and kind."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    kind: str


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read a manifest ``.tsv``; rows keep file order, which is also the draw order."""
    rows: list[ManifestRow] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if fields[0] == "key":
            continue  # the header row
        if len(fields) != 4:
            raise ValueError(f"{path}: expected 4 tab-separated fields, got {line!r}")
        key, shape, dtype, kind = fields
        rows.append(ManifestRow(key, tuple(int(d) for d in json.loads(shape)), dtype, kind))
    return rows


# --------------------------------------------------------------------------------------------
# Rules: which recipe line a key falls under (README table, top to bottom).

_BN_RES_WEIGHT = re.compile(r"^encoder\.body\.\d+\.res_layer\.4\.weight$")
_TORGB = re.compile(r"^decoder\.(to_rgb1|to_rgbs\.\d+)\.conv\.weight$")


def _is_bn_weight(key: str, keys: Container[str]) -> bool:
    """A BatchNorm affine weight: its module also holds ``running_mean``."""
    return key.endswith(".weight") and key[: -len("weight")] + "running_mean" in keys


def rule_for(key: str, keys_set: Container[str], shape: Sequence[int]) -> str:
    """The recipe rule of one manifest row (each key matches exactly one rule).

    ``keys_set`` is needed because BatchNorm weights are only recognisable by their siblings.
    """
    shape = tuple(shape)
    if key.endswith(".num_batches_tracked"):
        return "counter"
    if key.endswith(".kernel"):
        return "fir"
    if key.endswith(".running_mean"):
        return "bn_mean"
    if key.endswith(".running_var"):
        return "bn_var"
    if _BN_RES_WEIGHT.match(key) and _is_bn_weight(key, keys_set):
        return "bn_res_weight"
    if _is_bn_weight(key, keys_set):
        return "bn_weight"
    if key.startswith("encoder."):
        if key.endswith(".weight") and len(shape) == 1:
            return "prelu"
        if key == "encoder.linear.weight" or key.endswith(".linear.weight"):
            return "enc_equal"
        if key.endswith(".weight"):
            return "plain"
    if key.startswith("decoder."):
        if key.endswith(".modulation.weight"):
            return "mod_weight"
        if key.endswith(".modulation.bias"):
            return "mod_bias"
    if key.endswith(".bias"):
        return "bias"
    if key.startswith("decoder."):
        if key.startswith("decoder.noises.noise_"):
            return "noise_buffer"
        if key.endswith(".noise.weight"):
            return "noise_strength"
        if _TORGB.match(key):
            return "torgb"
        return "dec_unit"
    raise ValueError(f"no recipe rule for key {key!r} (not an encoder.* / decoder.* key?)")


def rule_counts(rows: Sequence[ManifestRow], with_latent_avg: bool = True) -> dict[str, int]:
    """How many rows each rule covers (``fixture.json`` ``rule_counts`` lists the same)."""
    keys = {r.key for r in rows}
    counts = Counter(rule_for(r.key, keys, r.shape) for r in rows)
    if with_latent_avg:
        counts["latent_avg"] += 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------------------------
# Values. Each drawing rule maps r = randn(shape) to its value in float32 torch arithmetic:
# Python constants become float32 and each operation rounds once, as the recipe requires.


def _fir_kernel() -> torch.Tensor:
    """outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16: the standard upsampling FIR (x4 gain)."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float32)
    return torch.outer(k, k) / 16


def _plain(r: torch.Tensor) -> torch.Tensor:
    """He scaling; sqrt in double precision, rounded to float32 by the multiplication."""
    fan_in = math.prod(r.shape[1:])
    return r.mul_(math.sqrt(2 / fan_in))


def _identity(r: torch.Tensor) -> torch.Tensor:
    return r


# In place, to spare ~1 GB of temporaries for the big layouts; each in-place op is the same
# float32 operation as the expression in the README (``0.3 + 0.03 * r`` = mul, then add).
_DRAWN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "bn_mean": lambda r: r.mul_(0.1),
    "bn_var": lambda r: r.mul_(0.2).exp_(),
    "bn_res_weight": lambda r: r.mul_(0.03).add_(0.3),
    "bn_weight": lambda r: r.mul_(0.1).add_(1),
    "prelu": lambda r: r.mul_(0.05).add_(0.25),
    "enc_equal": _identity,
    "plain": _plain,
    "mod_weight": lambda r: r.mul_(0.5),
    "mod_bias": lambda r: r.mul_(0.1).add_(1),
    "bias": lambda r: r.mul_(0.1),
    "noise_buffer": _identity,
    "noise_strength": lambda r: r.mul_(0.1),
    "torgb": lambda r: r.mul_(0.2),
    "dec_unit": _identity,
}

#: Every rule name of the recipe, ``latent_avg`` last.
RULES: tuple[str, ...] = ("counter", "fir", *_DRAWN, "latent_avg")


def _fixed_value(rule: str, row: ManifestRow) -> torch.Tensor:
    """The two rules that do not draw: BatchNorm counters and FIR kernels."""
    value = torch.tensor(0, dtype=torch.int64) if rule == "counter" else _fir_kernel()
    if tuple(value.shape) != row.shape:
        raise ValueError(f"{row.key}: rule {rule!r} gives shape {tuple(value.shape)}, "
                         f"manifest says {row.shape}")
    return value


def random_official_state_dict(
    rows: Sequence[ManifestRow], seed: int
) -> tuple[OrderedDict[str, torch.Tensor], torch.Generator]:
    """Steps 1-2 of the recipe: one ``randn(full shape)`` per drawing row, in file order.

    The generator is returned because ``latent_avg`` is drawn from it afterwards.
    """
    g = torch.Generator().manual_seed(seed)
    keys = {r.key for r in rows}
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for row in rows:
        rule = rule_for(row.key, keys, row.shape)
        if rule in ("counter", "fir"):
            state[row.key] = _fixed_value(rule, row)
            continue
        r = torch.randn(row.shape, generator=g, dtype=torch.float32)
        state[row.key] = _DRAWN[rule](r)
    return state, g


def random_psp_checkpoint(
    manifest_path: str | Path,
    opts: Mapping[str, object],
    seed: int,
    latent_avg_shape: Sequence[int],
) -> dict[str, object]:
    """The whole recipe: ``{'state_dict', 'opts', 'latent_avg'}`` as ``training/coach.py`` saves.

    ``latent_avg = 0.5 * r`` is drawn last, after every state dict row.
    """
    state, g = random_official_state_dict(read_manifest(manifest_path), seed)
    r = torch.randn(tuple(latent_avg_shape), generator=g, dtype=torch.float32)
    return {"state_dict": state, "opts": dict(opts), "latent_avg": r.mul_(0.5)}


def fixture_checkpoint(task_dir: str | Path) -> dict[str, object]:
    """The checkpoint of one ``shared/fixtures/psp256/<task>`` folder (seed etc. from its files)."""
    task_dir = Path(task_dir)
    meta = json.loads((task_dir / "fixture.json").read_text(encoding="utf-8"))
    opts = json.loads((task_dir / "opts.json").read_text(encoding="utf-8"))
    return random_psp_checkpoint(
        task_dir / "manifest.tsv", opts, int(meta["generator_seed"]), meta["latent_avg_shape"]
    )


#: MKL's conditional numerical reproducibility: the same results on every x86 CPU
REPRODUCIBLE_MKL = {"MKL_CBWR": "COMPATIBLE"}


def save_fixture_checkpoint(task_dir: str | Path, path: str | Path) -> str:
    """Regenerate the checkpoint of ``task_dir`` with MKL's CPU-independent results, save
    it to ``path`` (``torch.save``, as the official code saves) and return its
    ``weights_sha256``.  Runs in a fresh interpreter: MKL takes ``MKL_CBWR`` only at start-up."""
    done = subprocess.run(
        [sys.executable, "-m", __name__, str(task_dir), str(path)],
        env={**os.environ, **REPRODUCIBLE_MKL}, capture_output=True, text=True, timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"regenerating {task_dir} failed:\n{done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


def _le_array(t: torch.Tensor) -> np.ndarray:
    """C-contiguous little-endian view of a tensor (the hash must not depend on the host)."""
    arr = t.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def weights_sha256(state_dict: Mapping[str, torch.Tensor], latent_avg: torch.Tensor) -> str:
    """Fixture README step 6: sha256 of ``key + NUL + bytes`` per row, then ``latent_avg``.

    An equal hash means the very checkpoint the official code ran.
    """
    h = hashlib.sha256()
    for key, tensor in state_dict.items():
        h.update(key.encode() + b"\0")
        h.update(_le_array(tensor))
    h.update(b"latent_avg\0")
    h.update(_le_array(latent_avg))
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Cheap placeholders for strict-load tests (the 1024 layouts hold ~300M values).

def _placeholder_fill(key: str, keys: set[str]) -> float:
    """1 where a 0 would break a forward (variances, BatchNorm scales, modulation biases)."""
    ones = (".running_var", ".modulation.bias")
    return 1.0 if key.endswith(ones) or _is_bn_weight(key, keys) else 0.0


def random_state_dict_like(
    rows: Sequence[ManifestRow], materialize: bool = False
) -> OrderedDict[str, torch.Tensor]:
    """Placeholder tensors with the manifest's keys, shapes and dtypes, costing no memory.

    Works for any manifest (pSp, bare ``g_ema``, IR-SE50), not only ``encoder.*``/``decoder.*``
    keys. Values are constants (1 for variances, BatchNorm weights and modulation biases, the
    FIR kernel for 4x4 ``*.kernel`` buffers, 0 elsewhere), so a strict ``load_state_dict``
    works and a forward stays finite. By default each tensor is a broadcast view of one
    element: fine for ``load_state_dict`` (it copies) but not writable in place;
    ``materialize=True`` gives ordinary contiguous tensors.
    """
    keys = {r.key for r in rows}
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for row in rows:
        dtype = getattr(torch, row.dtype)
        if row.key.endswith(".kernel") and row.shape == (4, 4):
            state[row.key] = _fir_kernel().to(dtype)
            continue
        fill = _placeholder_fill(row.key, keys)
        value = torch.full((), fill, dtype=dtype).expand(row.shape)
        state[row.key] = value.contiguous() if materialize else value
    return state


if __name__ == "__main__":  # python -m p2s.testing.official_layout TASK_DIR OUT.pt (save_fixture_checkpoint)
    _checkpoint = fixture_checkpoint(sys.argv[1])
    torch.save(_checkpoint, sys.argv[2])
    print(weights_sha256(_checkpoint["state_dict"], _checkpoint["latent_avg"]))
