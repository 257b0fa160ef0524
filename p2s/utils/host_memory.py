"""Keep freed host memory in the process for reuse, instead of giving it back to the OS.

glibc serves each allocation above its mmap threshold (at most 32 MiB) with a mapping of
its own and unmaps it on free, so every large tensor a CPU pass makes is faulted in
afresh, 4 KiB at a time, and zeroed by the kernel.  On a 2-core VM a fresh
``[2, 128, 256, 256]`` float32 product took 40-85 ms, against 3.5 ms once freed memory
was reused; the inversion recipe's training step at 256 px went from 10.8 s to 5.3 s
(benchmarks/NOTES.md, session 14).

The reused heap has one bad pattern: glibc 2.36 cannot give a freed chunk back to the next
aligned allocation of the same size, so a large tensor made again and again can leave
several freed copies resident (two 2-GiB tensors a round held 16 GiB after 12 rounds).
:func:`trim_excess_freed_memory`, called after every pass, hands such excess back.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import sys

#: set to 0 to keep glibc's defaults (memory back to the OS after each large free)
ENV_VAR = "P2S_REUSE_HOST_MEMORY"

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: freed memory the process may keep resident, as a fraction of the machine's memory
FREED_BUDGET_FRACTION = 0.25

_reuse_applied = False


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): byte counts summed over all arenas."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]


@functools.lru_cache(maxsize=1)
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
    are reused without new page faults.  The process then keeps its peak memory (and,
    while the heap settles, a few copies of one large allocation repeated at the same
    size, up to the budget of :func:`trim_excess_freed_memory`), which suits a command,
    not a library: p2s's commands call this, importing p2s does not.  Returns whether it
    applied (Linux with glibc, and ``P2S_REUSE_HOST_MEMORY`` is not ``0``)."""
    if os.environ.get(ENV_VAR, "1") == "0":
        return False
    libc = _glibc()
    if libc is None:
        return False
    # M_MMAP_MAX 0: no allocation gets a mapping of its own; M_TRIM_THRESHOLD -1: the
    # heap's free top is never handed back (each call returns 1 on success)
    global _reuse_applied
    _reuse_applied = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, -1) == 1
    return _reuse_applied


def _bytes_in_use(libc: ctypes.CDLL) -> int | None:
    """Bytes of live allocations, heap and mapped (``None`` before glibc 2.33)."""
    if not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _machine_bytes() -> int:
    """Physical memory, or the container's limit where cgroup v2 sets a lower one."""
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/sys/fs/cgroup/memory.max") as limit:
            return min(physical, int(limit.read()))
    except (OSError, ValueError):  # no cgroup v2, or "max"
        return physical


def resident_freed_bytes() -> int | None:
    """Resident memory the process holds beyond its live allocations: freed chunks kept
    for reuse, plus its code and other mappings (some hundred MB for torch); ``None``
    without glibc 2.33's ``mallinfo2``."""
    libc = _glibc()
    in_use = None if libc is None else _bytes_in_use(libc)
    return None if in_use is None else max(0, _resident_bytes() - in_use)


def trim_excess_freed_memory(budget_bytes: int | None = None) -> bool:
    """Hand freed memory back to the OS (``malloc_trim``) when the reuse is on and the
    process keeps more of it resident than ``budget_bytes`` (a quarter of the machine's
    memory by default: the inversion recipe's step at 256 px keeps 4 GB).  Called after
    every pass; the check costs about 0.1 ms, a trim about 0.1 s and the next pass its
    page faults once.  Returns whether it trimmed."""
    if not _reuse_applied:
        return False
    freed = resident_freed_bytes()
    if freed is None:
        return False
    budget = int(_machine_bytes() * FREED_BUDGET_FRACTION) if budget_bytes is None else budget_bytes
    if freed <= budget:
        return False
    _glibc().malloc_trim(0)
    return True


def machine_has_gpu() -> bool:
    """An NVIDIA or AMD (ROCm) GPU's device node: cheap enough for every command's start,
    where importing torch to ask it would cost seconds (``p2s ... --help`` too)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def reuse_freed_host_memory_without_gpu() -> bool:
    """:func:`reuse_freed_host_memory` on a machine whose passes run on the CPU, as p2s's
    commands call it.  With a GPU the host makes few large tensors, so there is nothing
    to gain, and the process would only hold on to what loading checkpoints left behind."""
    return not machine_has_gpu() and reuse_freed_host_memory()
