"""Checkpoint plumbing for MMEngine runs: weights_only-safe contents, safe loading, atomic writes.

Three pieces, used by the hooks in :mod:`p2s.engine.checkpoint_hooks`:

* :func:`to_weights_only_safe` / :func:`from_weights_only_safe` turn what MMEngine puts
  in a checkpoint but ``torch.load(weights_only=True)`` refuses (``HistoryBuffer``,
  numpy arrays and scalars, dict/tuple subclasses such as ``ConfigDict``) into plain
  dicts, tensors and Python scalars, and back.  A converted object is a dict tagged
  with the key ``'__p2s_safe__'``.
* :func:`load_from_local_weights_only` replaces MMEngine's loader for local paths
  (``CheckpointLoader`` scheme ``''``) when this module is imported.  MMEngine 0.10.7
  calls ``torch.load`` without ``weights_only``, so its safety depends on the torch
  version (the default became ``True`` in 2.6) and on ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``;
  this loader always passes ``weights_only=True`` and never falls back to unsafe loading.
* :class:`AtomicLocalBackend`, an MMEngine file backend (name ``'p2s_atomic_local'``)
  whose ``put``/``put_text`` write a hidden temporary file next to the target, flush and
  ``fsync`` it, then ``os.replace`` it over the target: readers see the old file or the
  new one, never a truncated one.
"""

from __future__ import annotations

import os
import os.path as osp
import re
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from p2s.utils.atomic import TMP_SUFFIX, atomic_output
from p2s.utils.errors import P2SError

#: the key that tags a converted object
SAFE_TAG = "__p2s_safe__"
#: registered name of :class:`AtomicLocalBackend` (``backend_args=dict(backend=...)``)
ATOMIC_BACKEND = "p2s_atomic_local"

#: exact types kept as they are (subclasses such as ``numpy.float64`` are not safe)
_LEAF_TYPES = (
    type(None), bool, int, float, complex, str, bytes, bytearray,
    torch.Size, torch.device, torch.dtype,
)  # fmt: skip
_PLAIN_MAPPINGS = (dict, OrderedDict, Counter)
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


# --- weights_only-safe contents ---------------------------------------------------------
def to_weights_only_safe(obj: Any, unsafe: list[str] | None = None, path: str = "") -> Any:
    """A copy of ``obj`` that ``torch.load(weights_only=True)`` accepts.

    Containers are rebuilt only where something inside changes, so untouched parts
    (model and optimizer state dicts, with their ``_metadata``) are returned as they
    are, without copying tensors.  Objects with no safe form (arbitrary classes) are
    left in place and their dotted paths appended to ``unsafe`` for the caller to act on.
    """
    allowed = _user_safe_types()
    return _to_safe(obj, unsafe if unsafe is not None else [], path, allowed)


def from_weights_only_safe(obj: Any) -> Any:
    """Undo :func:`to_weights_only_safe`: rebuild ``HistoryBuffer`` and numpy objects."""
    if isinstance(obj, dict):
        if obj.get(SAFE_TAG) is not None and isinstance(obj.get(SAFE_TAG), str):
            return _rebuild(obj)
        new = {k: from_weights_only_safe(v) for k, v in obj.items()}
        if all(new[k] is v for k, v in obj.items()):
            return obj
        return _like(obj, new)
    if type(obj) in (list, tuple):
        new = [from_weights_only_safe(v) for v in obj]
        if all(a is b for a, b in zip(new, obj)):
            return obj
        return type(obj)(new)
    return obj


def _user_safe_types() -> tuple[type, ...]:
    """Classes the user allowed with ``torch.serialization.add_safe_globals``."""
    found = []
    for item in torch.serialization.get_safe_globals():
        cls = item[0] if isinstance(item, tuple) else item
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def _to_safe(obj: Any, unsafe: list[str], path: str, allowed: tuple[type, ...]) -> Any:
    if type(obj) in _LEAF_TYPES or isinstance(obj, torch.Tensor) or type(obj) in allowed:
        return obj
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {
            SAFE_TAG: "HistoryBuffer",
            "log_history": _array_to_safe(log, unsafe, f"{path}.log_history", allowed, bare=True),
            "count_history": _array_to_safe(count, unsafe, f"{path}.count_history", allowed, bare=True),
            "max_length": int(obj.max_length),
        }
    if isinstance(obj, np.ndarray):
        return _array_to_safe(obj, unsafe, path, allowed)
    if isinstance(obj, np.generic):
        value = obj.item()
        if type(value) not in _LEAF_TYPES:
            unsafe.append(f"{path} ({type(obj).__name__})")
            return obj
        return {SAFE_TAG: "numpy_scalar", "value": value, "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        new = {}
        for key, value in obj.items():
            safe_key = key.item() if isinstance(key, np.generic) else key
            new[safe_key] = _to_safe(value, unsafe, _join(path, safe_key), allowed)
        unchanged = len(new) == len(obj) and all(k in obj and new[k] is obj[k] for k in new)
        if unchanged and type(obj) in _PLAIN_MAPPINGS:
            return obj
        # ConfigDict, defaultdict and other dict subclasses become plain dicts
        return _like(obj, new) if type(obj) in _PLAIN_MAPPINGS else new
    if isinstance(obj, (list, tuple)):
        new_items = [_to_safe(v, unsafe, f"{path}[{i}]", allowed) for i, v in enumerate(obj)]
        if type(obj) in (list, tuple) and all(a is b for a, b in zip(new_items, obj)):
            return obj
        # namedtuples and other subclasses become plain tuples/lists
        return tuple(new_items) if isinstance(obj, tuple) else list(new_items)
    if isinstance(obj, (set, frozenset)):
        items = {v.item() if isinstance(v, np.generic) else v for v in obj}
        for v in items:
            if type(v) not in _LEAF_TYPES:
                unsafe.append(f"{path}{{}} ({type(v).__module__}.{type(v).__qualname__})")
        return obj if type(obj) is set and items == obj else items
    unsafe.append(f"{path} ({type(obj).__module__}.{type(obj).__qualname__})")
    return obj


def _like(template: dict, items: dict) -> dict:
    """``items`` in ``template``'s mapping type, with its attributes (``_metadata``)."""
    out = type(template)(items)
    if hasattr(template, "__dict__"):
        out.__dict__.update(template.__dict__)
    return out


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _array_to_safe(
    arr: np.ndarray, unsafe: list[str], path: str, allowed: tuple[type, ...], bare: bool = False
) -> Any:
    """A numeric array becomes a tensor of the same dtype (tagged unless ``bare``);
    any other array a tagged list."""
    if arr.dtype != object:
        try:
            data = torch.from_numpy(np.array(arr, order="C", copy=True))
            return data if bare else {SAFE_TAG: "ndarray", "data": data}
        except TypeError:  # a dtype torch lacks (strings, non-native byte order, ...)
            pass
    items = _to_safe(arr.tolist(), unsafe, path, allowed)
    return {SAFE_TAG: "ndarray", "list": items, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def _array_from_safe(tagged: dict | torch.Tensor) -> np.ndarray:
    if isinstance(tagged, torch.Tensor):
        return tagged.cpu().numpy()
    if "data" in tagged:
        return tagged["data"].cpu().numpy()
    dtype = np.dtype(tagged["dtype"])
    items = from_weights_only_safe(tagged["list"])
    if dtype == object:
        arr = np.empty(len(items) if isinstance(items, list) else (), dtype=object)
        if isinstance(items, list):
            arr[:] = items
        else:
            arr[()] = items
        return arr.reshape(tagged["shape"])
    return np.array(items, dtype=dtype).reshape(tagged["shape"])


def _rebuild(tagged: dict) -> Any:
    kind = tagged[SAFE_TAG]
    if kind == "ndarray":
        return _array_from_safe(tagged)
    if kind == "numpy_scalar":
        return np.dtype(tagged["dtype"]).type(tagged["value"])
    if kind == "HistoryBuffer":
        return HistoryBuffer(
            _array_from_safe(tagged["log_history"]),
            _array_from_safe(tagged["count_history"]),
            max_length=int(tagged["max_length"]),
        )
    raise P2SError(
        f"Checkpoint entry tagged '{SAFE_TAG}: {kind}' is unknown to this p2s version; "
        f"update p2s or re-save the checkpoint."
    )


# --- safe loading -----------------------------------------------------------------------
def load_from_local_weights_only(filename: str, map_location: Any = None) -> Any:
    """MMEngine's local checkpoint loader, with ``torch.load(weights_only=True)``.

    Raises:
        FileNotFoundError: the file does not exist (as MMEngine's loader does).
        P2SError: the file holds pickled objects that safe loading refuses, or is not
            a readable PyTorch file.
    """
    from p2s.utils.checkpoint import safe_torch_load  # noqa: PLC0415

    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"{filename} can not be found.")
    return safe_torch_load(filename, "Checkpoint", map_location, refused_hint=(
        "p2s never unpickles code: train with SafeCheckpointHook (p2s.engine) so checkpoints hold plain "
        "tensors and dicts."))


def refuse_remote_checkpoint(filename: str, map_location: Any = None) -> Any:
    """MMEngine's URL and object-store loaders unpickle with ``weights_only=False`` (and
    download): p2s reads local files only."""
    raise P2SError(f"checkpoint '{filename}' is not a local path: p2s loads only local checkpoint files, "
                   "with weights_only=True (download it first and give its path)")


def use_weights_only_loader() -> None:
    """Make MMEngine load local checkpoints with :func:`load_from_local_weights_only`
    and refuse every other scheme (``https://``, ``torchvision://``, ``s3://``, ...).

    Called when :mod:`p2s.engine` is imported; idempotent.
    """
    for prefix in list(CheckpointLoader._schemes):
        if prefix:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=refuse_remote_checkpoint, force=True)
    CheckpointLoader.register_scheme(prefixes="", loader=load_from_local_weights_only, force=True)


# --- atomic writes ----------------------------------------------------------------------
def atomic_write(data: bytes | str, filepath: str | os.PathLike, fsync: bool = True) -> None:
    """Write ``data`` to ``filepath`` atomically (see :mod:`p2s.utils.atomic`): on any error
    (including a ``KeyboardInterrupt``) ``filepath`` keeps its previous content.  ``fsync``
    also flushes the file and its folder to disk, so the rename survives a power cut."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_output(filepath, fsync=fsync) as tmp, open(tmp, "xb") as handle:
        handle.write(payload)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files a killed :func:`atomic_write` left in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(f".*{TMP_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with atomic ``put`` and ``put_text``.

    Select it with ``backend_args=dict(backend='p2s_atomic_local')`` (add ``fsync=False``
    to skip flushing to disk); :class:`p2s.engine.checkpoint_hooks.AtomicCheckpointHook` does so
    by default.
    """

    def __init__(self, fsync: bool = True) -> None:
        super().__init__()
        self.fsync = fsync

    def put(self, obj: bytes, filepath: str | Path) -> None:
        atomic_write(obj, filepath, fsync=self.fsync)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = "utf-8") -> None:
        atomic_write(obj.encode(encoding), filepath, fsync=self.fsync)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
