"""``reuse_freed_host_memory``: once the heap has settled, a large tensor made again after one was
freed costs no new page faults, and every ``p2s`` command turns it on first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from p2s.utils import host_memory
from tests.helpers_tiny import invoke

#: in a fresh interpreter: allocate, touch and free 64 MiB a dozen times, then count the
#: minor page faults of the last round.  The first rounds grow the heap: an aligned
#: allocation asks for a little more than the chunk the last one freed, and the small
#: slack chunks it splits off wait in glibc's per-thread cache (7 per size) instead of
#: merging back; from then on the freed chunks merge and are reused.
FAULTS_OF_THE_LAST_ROUND = """
import json, resource, torch
from p2s.utils.host_memory import reuse_freed_host_memory
applied = reuse_freed_host_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(12):
    before = faults()
    torch.empty(16 * 2**20, dtype=torch.float32).fill_(1.0)
print(json.dumps(dict(applied=applied, faults=faults() - before)))
"""


def last_round(**env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_THE_LAST_ROUND],
        env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_memory_is_reused_without_page_faults():
    reused = last_round()
    released = last_round(P2S_REUSE_HOST_MEMORY="0")
    assert reused["applied"] and not released["applied"]
    # glibc's default maps the 64 MiB afresh: 16384 faults of 4 KiB (fewer with huge pages)
    assert released["faults"] >= 32
    assert reused["faults"] < released["faults"] / 4, (reused, released)


def test_every_command_turns_it_on(monkeypatch):
    import p2s.cli.main

    calls = []
    monkeypatch.setattr(p2s.cli.main, "reuse_freed_host_memory_without_gpu", lambda: calls.append(1) or True)
    result = invoke("registry", "list", "tasks")
    assert result.exit_code == 0, result.output
    assert calls == [1]


@pytest.mark.parametrize("gpu", [False, True])
def test_commands_keep_glibc_defaults_beside_a_gpu(monkeypatch, gpu):
    """With a GPU the host has nothing to gain and would keep what loading left behind."""
    calls = []
    monkeypatch.setattr(host_memory, "machine_has_gpu", lambda: gpu)
    monkeypatch.setattr(host_memory, "reuse_freed_host_memory", lambda: calls.append(1) or True)
    assert host_memory.reuse_freed_host_memory_without_gpu() is not gpu
    assert calls == ([] if gpu else [1])
