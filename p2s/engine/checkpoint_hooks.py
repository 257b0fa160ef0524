"""Checkpoint hooks: weights_only-safe checkpoints and atomic checkpoint writes.

``SafeCheckpointHook``
    MMEngine 0.10.7 pickles its ``MessageHub`` into every checkpoint: ``HistoryBuffer``
    objects holding numpy arrays, which ``torch.load(weights_only=True)`` refuses.  The
    hook converts them (and numpy values, ``ConfigDict`` and other dict subclasses
    anywhere in the checkpoint) to tagged plain dicts of tensors before the checkpoint
    is written, and rebuilds them after it is loaded, so resuming needs no
    ``add_safe_globals`` allow-list and never unpickles code.  Importing
    :mod:`p2s.engine` also makes MMEngine load local checkpoints with
    ``weights_only=True`` explicitly (:mod:`p2s.engine.checkpoint_io`).

``AtomicCheckpointHook``
    MMEngine's ``CheckpointHook`` with every option kept.  Its file writes go through
    :class:`~p2s.engine.checkpoint_io.AtomicLocalBackend` (selected through the hook's
    own ``backend_args``, which MMEngine already threads into ``runner.save_checkpoint``
    and the backend's ``put``): bytes land in a hidden temporary file that is renamed
    over the target only once complete.  The ``last_checkpoint`` pointer is written the
    same way, and only after its checkpoint is complete; checkpoints evicted by
    ``max_keep_ckpts`` are removed only after the new one is in place (MMEngine removes
    them first).  This needs no monkey-patching of ``torch.save`` or the Runner; the
    price is overriding ``CheckpointHook._save_checkpoint_with_step``, a private method
    of the pinned MMEngine 0.10.7.  Remote ``out_dir`` URIs (``s3://``...) keep their own
    backend: object stores replace objects atomically anyway.
"""

from __future__ import annotations

import logging
import os.path as osp
from collections import OrderedDict
from typing import Any

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from p2s.engine.checkpoint_io import (
    ATOMIC_BACKEND,
    atomic_write,
    from_weights_only_safe,
    remove_stale_temporaries,
    to_weights_only_safe,
)
from p2s.registry import HOOKS
from p2s.utils.errors import P2SError

#: checkpoint sections whose entries may be dropped (with a warning) when not safe
_DROPPABLE = ("meta",)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Make checkpoints load with ``torch.load(weights_only=True)``, and resume from them.

    ``before_save_checkpoint`` rewrites the checkpoint dict in place: each
    ``HistoryBuffer`` becomes ``{'__p2s_safe__': 'HistoryBuffer', 'log_history': tensor,
    'count_history': tensor, 'max_length': int}``, numpy arrays and scalars become tagged
    tensors or tagged Python scalars, dict and tuple subclasses become ``dict``/``tuple``.
    ``after_load_checkpoint`` (which the Runner calls before ``MessageHub.load_state_dict``)
    rebuilds them.  A ``meta`` or ``message_hub.runtime_info`` entry with no safe form
    (an arbitrary object) is left out of the checkpoint with a warning (once per key);
    such an object anywhere else raises :class:`P2SError` at the first save rather than
    at resume time.

    Priority ``LOWEST``: on save it runs after every other hook has added its part.

    Config::

        custom_hooks = [dict(type='SafeCheckpointHook')]
    """

    priority = "LOWEST"

    def __init__(self) -> None:
        self._reported: set[str] = set()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get("message_hub")
        if isinstance(hub, dict) and isinstance(hub.get("runtime_info"), dict):
            hub = dict(hub)  # never edit the live MessageHub's own dicts
            info, dropped = self._safe_entries(hub["runtime_info"], "message_hub.runtime_info")
            hub["runtime_info"] = info
            if dropped and isinstance(hub.get("resumed_keys"), dict):
                hub["resumed_keys"] = {k: v for k, v in hub["resumed_keys"].items() if k not in dropped}
            checkpoint["message_hub"] = hub
        for key in _DROPPABLE:
            if isinstance(checkpoint.get(key), dict):
                checkpoint[key], _ = self._safe_entries(checkpoint[key], key)
        for key in list(checkpoint):
            unsafe: list[str] = []
            checkpoint[key] = to_weights_only_safe(checkpoint[key], unsafe, str(key))
            if unsafe:
                raise P2SError(
                    f"Checkpoint entry {unsafe[0]} cannot be loaded with weights_only=True; "
                    f"store tensors, numbers, strings, lists and dicts there instead."
                )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
            raise P2SError("the checkpoint to load holds no 'state_dict': it is not a p2s training checkpoint")
        for key in list(checkpoint):
            checkpoint[key] = from_weights_only_safe(checkpoint[key])
        model = getattr(runner, "model", None)
        if model is not None:
            model = model.module if is_model_wrapper(model) else model
            _check_fits(model, checkpoint["state_dict"], _recorded_model_config(checkpoint), runner.cfg.get("model"))
            if not getattr(runner, "_resume", False):
                _keep_configured_generator(model, checkpoint["state_dict"])

    def _safe_entries(self, entries: dict, where: str) -> tuple[dict, set]:
        """Convert each entry; leave out (and report) the ones with no safe form."""
        kept: dict = OrderedDict() if isinstance(entries, OrderedDict) else {}
        dropped = set()
        for key, value in entries.items():
            unsafe: list[str] = []
            safe = to_weights_only_safe(value, unsafe, f"{where}.{key}")
            if unsafe:
                dropped.add(key)
                if f"{where}.{key}" in self._reported:
                    continue
                self._reported.add(f"{where}.{key}")
                print_log(
                    f"SafeCheckpointHook: not saving {where}['{key}'] in the checkpoint: "
                    f"{unsafe[0]} cannot be loaded with weights_only=True.",
                    logger="current",
                    level=logging.WARNING,
                )
                continue
            kept[key] = safe
        return kept, dropped


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` whose files are written atomically.

    Takes every ``CheckpointHook`` argument (``interval``, ``by_epoch``,
    ``max_keep_ckpts``, ``save_last``, ``save_best``, ``rule``, ``out_dir``, ...).  With
    no ``backend_args``/``file_client_args`` and a local ``out_dir``, checkpoints go
    through the ``'p2s_atomic_local'`` backend (temporary file, ``fsync``,
    ``os.replace``); pass ``backend_args=dict(backend='p2s_atomic_local', fsync=False)``
    to skip the ``fsync``.  ``last_checkpoint`` is always replaced atomically, after the
    checkpoint it names is complete.  Temporary files left by a killed run are removed
    in ``before_train``.

    Config::

        default_hooks = dict(
            checkpoint=dict(type='AtomicCheckpointHook', interval=5000, by_epoch=False,
                            max_keep_ckpts=3))
    """

    def __init__(
        self,
        interval: int = -1,
        by_epoch: bool = True,
        *,
        out_dir: str | None = None,
        file_client_args: dict | None = None,
        backend_args: dict | None = None,
        **kwargs: Any,
    ) -> None:
        remote = out_dir is not None and "://" in str(out_dir)
        self.atomic = backend_args is None and file_client_args is None and not remote
        if self.atomic:
            backend_args = dict(backend=ATOMIC_BACKEND)
        elif backend_args is not None and backend_args.get("backend") == ATOMIC_BACKEND:
            self.atomic = True
        super().__init__(
            interval=interval,
            by_epoch=by_epoch,
            out_dir=out_dir,
            file_client_args=file_client_args,
            backend_args=backend_args,
            **kwargs,
        )

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            for folder in {self.out_dir, runner.work_dir} if self.atomic else {runner.work_dir}:
                for stale in remove_stale_temporaries(folder):
                    runner.logger.warning(f"Removed a partial checkpoint file left by a killed run: {stale}")
        if not any(isinstance(hook, SafeCheckpointHook) for hook in runner.hooks):
            runner.logger.warning(
                "AtomicCheckpointHook: no SafeCheckpointHook is registered, so checkpoints "
                "will not load with weights_only=True; add custom_hooks=[dict(type='SafeCheckpointHook')]."
            )

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's, but the previous best file goes only once the new one is written:
        MMEngine removes it first, so an interrupt (or a full disk) mid-write left no
        best checkpoint at all."""
        backend = self.file_backend
        previous = {str(p) for p in [getattr(self, "best_ckpt_path", None),
                                     *getattr(self, "best_ckpt_path_dict", {}).values()] if p}
        deferred: list[str] = []
        real_remove, real_rmtree = backend.remove, backend.rmtree

        def later(real):
            def remove(path, *args, **kwargs):
                if str(path) in previous:
                    deferred.append(str(path))
                else:
                    real(path, *args, **kwargs)
            return remove

        backend.remove, backend.rmtree = later(real_remove), later(real_rmtree)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:  # the backend is shared (MMEngine caches one per kind): undo at once
            del backend.remove, backend.rmtree
        current = {str(p) for p in [getattr(self, "best_ckpt_path", None),
                                    *getattr(self, "best_ckpt_path_dict", {}).values()] if p}
        for path in deferred:
            if path not in current:
                (real_rmtree if backend.isdir(path) else real_remove)(path)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save, then point ``last_checkpoint`` at it, then evict old checkpoints."""
        evicted = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                evicted.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write(str(self.last_ckpt), osp.join(runner.work_dir, "last_checkpoint"))
        for old_step in evicted:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if path == self.last_ckpt:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)


def _keep_configured_generator(model, state_dict: dict) -> None:
    """``--load-from`` initialises a run, it does not choose its generator: a frozen
    generator read from ``model.generator.weights`` (fine-tuning an encoder onto a new
    generator, e.g. toonify) stays, with its ``latent_avg``, instead of the checkpoint's."""
    decoder = getattr(model, "decoder", None)
    weights = getattr(decoder, "weights_path", None)
    if not weights or getattr(model, "train_generator", True):
        return  # a random or trained generator: the checkpoint's is the one to continue from
    own = model.state_dict()
    kept = [k for k in own if (k.startswith("decoder.") or k == "latent_avg") and k in state_dict]
    differs = any(not torch.equal(state_dict[k].to(own[k].device), own[k]) for k in kept
                  if hasattr(state_dict[k], "shape"))
    for key in kept:
        state_dict[key] = own[key]
    if differs:
        print_log(f"--load-from: the generator and latent_avg come from model.generator.weights ('{weights}'), "
                  "not from the checkpoint, whose generator differs; the rest comes from the checkpoint",
                  logger="current", level=logging.WARNING)


def _recorded_model_config(checkpoint: dict) -> dict | None:
    """The model config a p2s checkpoint records (:class:`TranslationConfigHook`)."""
    payload = checkpoint.get("p2s")
    recorded = payload.get("model") if isinstance(payload, dict) else None
    return recorded if isinstance(recorded, dict) else None


def _architecture_differences(recorded: dict, configured: Any, limit: int = 6) -> str | None:
    """``model.KEY=VALUE`` settings of the encoder and generator that the checkpoint was
    trained with and this config differs in (weight paths left out), or None."""
    from p2s.engine.translation_hook import _plain  # noqa: PLC0415

    def leaves(value: Any, prefix: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in leaves(item, f"{prefix}.{key}").items()}
        return {prefix: value}

    ours = leaves(_plain(configured), "model")
    theirs = leaves(recorded, "model")
    differs = [f"{k}={v!r}" for k, v in theirs.items()
               if k.startswith(("model.encoder.", "model.generator.")) and not k.endswith((".weights", ".weights_key"))
               and ours.get(k, v) != v]
    if not differs:
        return None
    shown = " ".join(differs[:limit]) + (f" ... (+{len(differs) - limit})" if len(differs) > limit else "")
    return f"it was trained with {shown}: set those to load it (or load a checkpoint of this architecture)"


def _check_fits(model, state_dict: dict, recorded: dict | None = None, configured: Any = None) -> None:
    """A checkpoint loaded into a run (``--load-from``, ``--resume``) must fit the model:
    MMEngine loads leniently and would silently keep random weights where keys or shapes
    differ.  Shapes must agree everywhere, and the encoder (what trains) must match key
    for key; other parts (e.g. frozen loss networks of another recipe) may differ.  When
    the checkpoint records its model config, the message names the options that differ
    instead of the keys they change."""
    from p2s.utils.checkpoint import describe_mismatch  # noqa: PLC0415

    own = {k: v for k, v in model.state_dict().items() if not k.endswith("_extra_state")}  # not tensors of weights
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()
             if not k.endswith("_extra_state")}
    shapes = {k: v for k, v in state.items() if k in own and hasattr(v, "shape") and v.shape != own[k].shape}
    encoder = [k for k in set(own) ^ set(state) if k.startswith("encoder.")]
    if shapes or encoder:
        summary = _architecture_differences(recorded, configured) if recorded and configured else None
        if summary:
            raise P2SError(f"the checkpoint to load does not fit this model: {summary}")
        relevant = {k: v for k, v in state.items() if k in shapes or k.startswith("encoder.")}
        expected = {k: v for k, v in own.items() if k in shapes or k.startswith("encoder.")}
        raise P2SError(f"the checkpoint to load does not fit this model: {describe_mismatch(expected, relevant)}")
