"""``torch.compile`` modes and the one way p2s calls it (inference passes, training losses)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from p2s.utils.errors import P2SError

#: ``torch.compile`` modes; ``reduce-overhead`` also captures CUDA graphs (fixed shapes)
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def check_compile_mode(mode: str, allowed: tuple[str, ...] = COMPILE_MODES) -> None:
    if mode not in allowed:
        raise P2SError(f"--compile must be one of {', '.join(allowed)}, got {mode!r}")


def compiled(fn: Callable, mode: str, backend: str = "inductor", **options) -> Callable:
    """``torch.compile(fn)`` in ``mode`` ('default' is inductor's own); other backends
    (``eager``, ``aot_eager``: tests without C++ code generation) take no mode."""
    if backend == "inductor" and mode != "default":
        options["mode"] = mode
    return torch.compile(fn, backend=backend, **options)
