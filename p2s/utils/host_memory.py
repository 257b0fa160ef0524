"""Keep freed host memory in the process for reuse, instead of giving it back to the OS.

glibc serves each allocation above its mmap threshold (at most 32 MiB) with a mapping of
its own and unmaps it on free, so every large tensor a CPU pass makes is faulted in
afresh, 4 KiB at a time, and zeroed by the kernel.  On a 2-core VM a fresh
``[2, 128, 256, 256]`` float32 product took 40-85 ms, against 3.5 ms once freed memory
was reused; the inversion recipe's training step at 256 px went from 10.8 s to 5.3 s
(benchmarks/NOTES.md, session 14).
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

#: set to 0 to keep glibc's defaults (memory back to the OS after each large free)
ENV_VAR = "P2S_REUSE_HOST_MEMORY"

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):  # musl and others have no such name
            return None
        return ctypes.CDLL("libc.so.6")
    except (ValueError, OSError):
        return None


def reuse_freed_host_memory() -> bool:
    """Serve large allocations from the heap and never trim it, so freed tensors' pages
    are reused without new page faults.  The process then keeps its peak memory until
    it ends (and, while the heap settles, up to a few copies of one large allocation
    repeated at the same size: glibc 2.36's aligned allocations ask for a little more
    than the chunk the last one freed), which suits a command, not a library: p2s's
    commands call this, importing p2s does not.  Returns whether it applied (Linux with glibc, and ``P2S_REUSE_HOST_MEMORY``
    is not ``0``)."""
    if os.environ.get(ENV_VAR, "1") == "0":
        return False
    libc = _glibc()
    if libc is None:
        return False
    # M_MMAP_MAX 0: no allocation gets a mapping of its own; M_TRIM_THRESHOLD -1: the
    # heap's free top is never handed back (each call returns 1 on success)
    return libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, -1) == 1


def machine_has_gpu() -> bool:
    """An NVIDIA or AMD (ROCm) GPU's device node: cheap enough for every command's start,
    where importing torch to ask it would cost seconds (``p2s ... --help`` too)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def reuse_freed_host_memory_without_gpu() -> bool:
    """:func:`reuse_freed_host_memory` on a machine whose passes run on the CPU, as p2s's
    commands call it.  With a GPU the host makes few large tensors, so there is nothing
    to gain, and the process would only hold on to what loading checkpoints left behind."""
    return not machine_has_gpu() and reuse_freed_host_memory()
