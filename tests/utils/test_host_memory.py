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


#: in a fresh interpreter with the reuse on: free 384 MiB of touched tensors, which stay
#: resident, then ask for the freed memory to be kept within a budget below and above it
FREED_AGAINST_BUDGETS = """
import json, torch
from p2s.utils import host_memory
applied = host_memory.reuse_freed_host_memory()
baseline = host_memory.resident_freed_bytes()
def free_three():
    tensors = [torch.ones(32 * 2**20) for _ in range(3)]  # 3 x 128 MiB
    del tensors
free_three()
held = host_memory.resident_freed_bytes() - baseline
roomy = host_memory.trim_excess_freed_memory(baseline + 512 * 2**20)
held_roomy = host_memory.resident_freed_bytes() - baseline
tight = host_memory.trim_excess_freed_memory(baseline + 256 * 2**20)
held_tight = host_memory.resident_freed_bytes() - baseline
print(json.dumps(dict(applied=applied, held=held, roomy=roomy, held_roomy=held_roomy, tight=tight,
                      held_tight=held_tight)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_memory_over_the_budget_goes_back():
    done = subprocess.run([sys.executable, "-c", FREED_AGAINST_BUDGETS], capture_output=True, text=True,
                          check=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 2**20
    assert result["applied"]
    assert result["held"] >= 320 * mib, result  # kept for reuse, not unmapped
    assert result["roomy"] is False and result["held_roomy"] >= 320 * mib, result  # within budget: kept
    assert result["tight"] is True and result["held_tight"] <= 64 * mib, result  # over it: handed back


def test_no_trim_without_the_reuse(monkeypatch):
    """Under glibc's defaults the allocator trims by itself; the check reads nothing."""
    monkeypatch.setattr(host_memory, "_reuse_applied", False)
    monkeypatch.setattr(host_memory, "resident_freed_bytes", lambda: pytest.fail("read memory counters"))
    assert host_memory.trim_excess_freed_memory(0) is False


def test_the_default_budget_is_a_quarter_of_the_machine(monkeypatch):
    trimmed = []
    monkeypatch.setattr(host_memory, "_reuse_applied", True)
    monkeypatch.setattr(host_memory, "_machine_bytes", lambda: 16 * 2**30)
    monkeypatch.setattr(host_memory, "_glibc", lambda: type("libc", (), {"malloc_trim": trimmed.append})())
    monkeypatch.setattr(host_memory, "resident_freed_bytes", lambda: 4 * 2**30)
    assert host_memory.trim_excess_freed_memory() is False and trimmed == []
    monkeypatch.setattr(host_memory, "resident_freed_bytes", lambda: 4 * 2**30 + 1)
    assert host_memory.trim_excess_freed_memory() is True and trimmed == [0]


def test_training_iterations_check_the_budget(monkeypatch):
    import p2s.engine.host_memory_hook
    from p2s.engine.host_memory_hook import HostMemoryTrimHook

    budgets = []
    monkeypatch.setattr(p2s.engine.host_memory_hook, "trim_excess_freed_memory",
                        lambda budget=None: budgets.append(budget) or False)
    hook = HostMemoryTrimHook(budget_mb=100)
    hook.after_train_iter(None, 0)
    hook.after_val_iter(None, 0)
    hook.after_test_iter(None, 0)
    assert budgets == [100 * 2**20] * 3


def test_every_translator_pass_checks_the_budget(monkeypatch, ckpt):
    import torch

    import p2s.apis.translator
    from p2s.apis import Translator

    translator = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    calls = []
    monkeypatch.setattr(p2s.apis.translator, "trim_excess_freed_memory", lambda: calls.append(1))
    sources = torch.zeros(2, 3, 256, 256)
    translator.translate(sources)
    translator.encode(sources)
    translator.decode(translator.encode(sources))
    assert len(calls) == 4


@pytest.mark.parametrize("budget", [-1, 1.5, "1G", True])
def test_the_hook_refuses_a_bad_budget(budget):
    from p2s.engine.host_memory_hook import HostMemoryTrimHook

    with pytest.raises(ValueError, match="budget_mb must be an integer >= 0 or None"):
        HostMemoryTrimHook(budget_mb=budget)


def test_every_training_config_bounds_the_freed_memory():
    """A default hook, so configs that replace ``custom_hooks`` keep it."""
    from pathlib import Path

    from mmengine.config import Config

    root = Path(__file__).resolve().parents[2]
    configs = [p for p in sorted(root.glob("configs/*/*.py")) + sorted(root.glob("plugins/*/configs/*.py"))
               if "train_cfg" in Config.fromfile(str(p))]
    assert len(configs) >= 10
    for path in configs:
        hooks = Config.fromfile(str(path)).default_hooks
        assert hooks.host_memory.type == "HostMemoryTrimHook", path
