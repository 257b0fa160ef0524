"""The batch mover of every p2s model unless its config names another."""

from __future__ import annotations

#: MMEngine's ``BaseDataPreprocessor`` with asynchronous host-to-device copies.  A blocking
#: copy (MMEngine's default) waits until the GPU has finished everything queued before it,
#: so each iteration would drain the launch queue once; with the loaders' pinned memory
#: the copy then overlaps the previous step instead.  On a CPU nothing changes.
DEFAULT_DATA_PREPROCESSOR = dict(type="BaseDataPreprocessor", non_blocking=True)


def data_preprocessor_config(cfg: dict | None) -> dict:
    """``cfg``, or the asynchronous default where a model config gives none."""
    return dict(DEFAULT_DATA_PREPROCESSOR) if cfg is None else cfg
