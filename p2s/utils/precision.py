"""Scopes that say whether float32 convolutions and matrix products may round to TF32.

PyTorch lets cuDNN run float32 convolutions on TF32 tensor cores by default (NVIDIA
Ampere and later; a 10-bit mantissa), so a plain float32 forward on such a GPU is not
the exact path.  :func:`float32_precision` sets cuDNN's and cuBLAS's float32 precision
for a block and puts back what was there.  torch 2.9 and later keep two records of it,
the legacy ``allow_tf32`` flags and the ``fp32_precision`` settings, and raise when the
legacy flags are read while the two disagree; the scope sets both, so code inside it may
read either, and restores both.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from p2s.utils.errors import P2SWarning

#: float32 modes: ``ieee`` is exact float32, ``tf32`` rounds inputs to TF32 on NVIDIA GPUs
FLOAT32_MODES = ("ieee", "tf32")


def _legacy_flags() -> list[tuple[object, str]]:
    backends = torch.backends
    return [(backends.cudnn, "allow_tf32"), (backends.cuda.matmul, "allow_tf32")]


def _precision_settings(mode: str) -> list[tuple[object, str, str]]:
    """The ``fp32_precision`` settings ``mode`` sets, and their values (none before torch 2.9)."""
    backends = torch.backends
    if not hasattr(backends.cudnn, "conv"):
        return []
    # cuDNN's rnn setting follows conv's, or the legacy cudnn.allow_tf32 cannot be read
    settings = [(owner, mode) for owner in (backends.cudnn.conv, backends.cudnn.rnn, backends.cuda.matmul)]
    if hasattr(backends.mkldnn, "conv"):
        # a CPU user may let oneDNN round float32 to bf16 or TF32 (AMX); neither mode does: tf32
        # is NVIDIA's tensor-core setting, and on a CPU both are exact float32
        settings += [(owner, "ieee") for owner in (backends.mkldnn.conv, backends.mkldnn.matmul)]
    return [(owner, "fp32_precision", value) for owner, value in settings]


def _read(owner: object, name: str) -> object | None:
    """A setting's value; None where torch refuses to read it (legacy and new records disagree)."""
    try:
        return getattr(owner, name)
    except RuntimeError:
        return None


def _apply(mode: str) -> None:
    for owner, name in _legacy_flags():
        setattr(owner, name, mode == "tf32")
    for owner, name, value in _precision_settings(mode):
        setattr(owner, name, value)


def _check(mode: str) -> None:
    if mode not in FLOAT32_MODES:
        raise ValueError(f"float32 mode must be one of {FLOAT32_MODES}, got {mode!r}")


@contextlib.contextmanager
def float32_precision(mode: str) -> Iterator[None]:
    """Run the block with float32 convolutions and matrix products in ``mode``."""
    _check(mode)
    legacy = [(owner, name, _read(owner, name)) for owner, name in _legacy_flags()]
    current = [(owner, name, _read(owner, name)) for owner, name, _ in _precision_settings(mode)]
    try:
        _apply(mode)
        yield
    finally:
        # legacy first: setting a legacy flag also resets the new settings it covers
        for owner, name, value in legacy + current:
            if value is not None:
                setattr(owner, name, value)


def set_float32_precision(mode: str) -> None:
    """Set ``mode`` for the rest of the process (benchmark scripts)."""
    _check(mode)
    _apply(mode)


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN has bf16 convolutions for this CPU (AVX-512-BF16 or AMX); without
    them bf16 convolutions fall back to PyTorch's reference loops (about 15x slower)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no fast bf16 either
        return False


def warn_if_cpu_bf16_is_slow(what: str, instead: str) -> None:
    """One ``warning:`` line when bf16 work is about to run on a CPU without bf16 kernels."""
    if not cpu_has_bf16_kernels():
        warnings.warn(
            f"{what} on this CPU runs PyTorch's reference convolutions (no AVX-512-BF16/AMX "
            f"bf16 kernels): about 15x slower than fp32 (benchmarks/NOTES.md); {instead}",
            P2SWarning,
            stacklevel=3,
        )
