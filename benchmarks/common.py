"""Timing helpers shared by the benchmarks: warm-up, device sync, medians, a table, JSON."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from p2s.utils.host_memory import reuse_freed_host_memory_without_gpu

#: as p2s's commands do; ``P2S_REUSE_HOST_MEMORY=0`` measures glibc's defaults instead
HOST_MEMORY_REUSED = reuse_freed_host_memory_without_gpu()


def psp_parts(resolution: int, tiny: bool = False) -> dict:
    """Encoder and generator configs: the real sizes (IR-SE50 GradualStyleEncoder, StyleGAN2
    at ``resolution``), or, with ``tiny``, narrow ones of the same architecture that only
    the benchmarks' own smoke test uses (tests/benchmarks)."""
    backbone = dict(type="IRSEBackbone", depth=50)
    generator = dict(type="StyleGAN2Generator", resolution=resolution)
    if tiny:
        backbone.update(units=(1, 1, 1, 1), widths=(8, 8, 16, 16))
        generator.update(w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
    return dict(encoder=dict(type="GradualStyleEncoder", backbone=backbone), generator=generator)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resolution", type=int, default=1024, help="generator output side")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # narrow layers: smoke tests only


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls after ``warmup`` calls, synchronising the device."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def peak_memory_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def median(values: list[float]) -> float:
    return statistics.median(values)


def cell(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class Table:
    """A Markdown table printed row by row, its JSON (``{'meta', 'rows'}``) rewritten after
    each row: a benchmark stopped part-way (a device call's time limit, an error in a
    later row) keeps every row it measured."""

    def __init__(self, title: str | None, columns: list[str], out: Path | None, meta: dict) -> None:
        self.columns, self.out, self.rows = columns, out, []
        self.meta = dict(meta, host_memory_reused=HOST_MEMORY_REUSED)
        if title:
            print(title)
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns), flush=True)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        cells = [cell(row.get(c, "-")) for c in self.columns] + ([row["error"]] if "error" in row else [])
        print("| " + " | ".join(cells) + " |", flush=True)
        if self.out:
            self.out.write_text(json.dumps({"meta": self.meta, "rows": self.rows}, indent=1))

    def close(self) -> None:
        if self.out:
            print(f"wrote {self.out}")


def report(rows: list[dict], columns: list[str], out: Path | None, meta: dict) -> None:
    """A table whose rows all come at once (its meta is known only at the end)."""
    table = Table(None, columns, out, meta)
    for row in rows:
        table.add(row)
    table.close()


def failure(error: BaseException, device: torch.device) -> dict:
    """The row of a measurement that raised: its error in one cell, the traceback in the log."""
    if isinstance(error, torch.OutOfMemoryError):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return dict(error="out of memory")
    traceback.print_exception(error, file=sys.stderr)
    return dict(error=f"{type(error).__name__}: {str(error).strip().splitlines()[0][:120] if str(error).strip() else ''}")


def measured(measure: Callable[[], dict], device: torch.device) -> dict:
    """``measure()``'s row, or the failure's row: an out-of-memory batch or a failed
    compilation costs one row of a sweep instead of the rest of the table."""
    try:
        return measure()
    except Exception as error:  # noqa: BLE001 - every failure becomes a row; the log keeps the traceback
        return failure(error, device)
