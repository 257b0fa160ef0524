"""Runner-level checkpoint tests: weights_only-safe checkpoints, exact resume, and
atomic writes that survive a crash in the middle of a checkpoint write."""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from p2s.engine import load_from_local_weights_only
from p2s.utils.errors import P2SError


def _weights_only(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _final_state(runner) -> tuple[dict, dict]:
    model = {k: v.clone() for k, v in runner.model.state_dict().items()}
    return model, runner.optim_wrapper.optimizer.state_dict()


def _assert_same_state(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    (model_a, opt_a), (model_b, opt_b) = a, b
    assert model_a.keys() == model_b.keys()
    for key in model_a:
        assert torch.equal(model_a[key], model_b[key]), key
    assert opt_a["param_groups"] == opt_b["param_groups"]
    assert opt_a["state"].keys() == opt_b["state"].keys()
    for index, state in opt_a["state"].items():
        assert state.keys() == opt_b["state"][index].keys()
        for key, value in state.items():
            assert torch.equal(value, opt_b["state"][index][key]), (index, key)


def test_resume_continues_exactly_like_an_uninterrupted_run(make_runner, tmp_path):
    straight = make_runner(tmp_path / "straight", max_iters=4)
    straight.train()
    expected = _final_state(straight)
    expected_losses = straight.message_hub.get_scalar("train/loss_l2").data[0].copy()

    make_runner(tmp_path / "split", max_iters=2).train()
    assert (tmp_path / "split" / "last_checkpoint").read_text() == str(tmp_path / "split" / "iter_2.pth")
    loader = CheckpointLoader._get_checkpoint_loader(str(tmp_path / "split" / "iter_2.pth"))
    assert loader is load_from_local_weights_only

    resumed = make_runner(tmp_path / "split", max_iters=4, resume=True)
    resumed.train()
    assert resumed.iter == 4
    _assert_same_state(_final_state(resumed), expected)
    # the HistoryBuffers went through the checkpoint as tensors and came back whole
    torch.testing.assert_close(resumed.message_hub.get_scalar("train/loss_l2").data[0], expected_losses)

    for path in sorted(tmp_path.rglob("*.pth")):
        checkpoint = _weights_only(path)
        assert {"meta", "state_dict", "message_hub", "optimizer"} <= checkpoint.keys(), path
    # no allow-list was needed
    names = {getattr(g, "__module__", "") for g in torch.serialization.get_safe_globals()}
    assert not any(name.startswith(("mmengine", "numpy")) for name in names)


def test_without_safe_checkpoint_hook_weights_only_load_fails(make_runner, tmp_path):
    make_runner(tmp_path, max_iters=2, custom_hooks=[]).train()
    path = tmp_path / "iter_2.pth"
    with pytest.raises(Exception, match="HistoryBuffer|numpy"):
        _weights_only(path)
    # and p2s's MMEngine loader refuses it with a one-line message instead of unpickling
    with pytest.raises(P2SError, match="SafeCheckpointHook"):
        CheckpointLoader.load_checkpoint(str(path))


def test_loader_stays_safe_when_the_environment_forces_unsafe_loads(tmp_path, monkeypatch):
    path = tmp_path / "pickled.pth"
    torch.save({"hub": HistoryBuffer([1.0], [1])}, path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(P2SError, match="HistoryBuffer"):
        CheckpointLoader.load_checkpoint(str(path))
    with pytest.raises(FileNotFoundError):
        CheckpointLoader.load_checkpoint(str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("url", ["https://example.invalid/evil.pth", "torchvision://resnet34", "open-mmlab://x",
                                 "s3://bucket/evil.pth"])
def test_remote_checkpoints_are_refused_not_downloaded_and_unpickled(url, tmp_path, monkeypatch):
    """MMEngine's URL loaders call torch.load(weights_only=False): a cached 'download'
    would run the code pickled in it."""
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "x": Evil()}, tmp_path / "hub" / "checkpoints" / "evil.pth")
    with pytest.raises(P2SError, match="is not a local path: p2s loads only local checkpoint files"):
        CheckpointLoader.load_checkpoint(url, map_location="cpu")
    assert not marker.exists()


def test_a_text_file_is_one_line_from_the_mmengine_loader(tmp_path):
    path = tmp_path / "hello.pth"
    path.write_text("hello")  # the unpickler raised KeyError('101') here
    with pytest.raises(P2SError, match="is not a readable PyTorch file"):
        CheckpointLoader.load_checkpoint(str(path))


# --- crashes during a checkpoint write ----------------------------------------------------
class _HalfWrite:
    """A file whose first ``write`` stores half of the bytes, then fails like a crash."""

    def __init__(self, handle) -> None:
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError("simulated crash during write")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> bool:
        self._handle.close()
        return False

    def __getattr__(self, name):
        return getattr(self._handle, name)


def _crash_in_open(monkeypatch, name_part: str, nth: int) -> None:
    """The ``nth`` file opened for writing whose name contains ``name_part`` half-writes."""
    real_open, seen = builtins.open, [0]

    def fake_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wxa"):
            if name_part in os.path.basename(os.fspath(file)):
                seen[0] += 1
                if seen[0] == nth:
                    return _HalfWrite(handle)
        return handle

    monkeypatch.setattr(builtins, "open", fake_open)


def _crash_in_torch_save(monkeypatch, nth: int) -> None:
    """The ``nth`` ``torch.save`` writes half of its bytes and raises."""
    real_save, seen = torch.save, [0]

    def half_save(obj, f, *args, **kwargs):
        seen[0] += 1
        if seen[0] != nth:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as handle:
                handle.write(data[: len(data) // 2])
        else:
            f.write(data[: len(data) // 2])
        raise RuntimeError("simulated crash in torch.save")

    monkeypatch.setattr(torch, "save", half_save)


FAULTS = {
    "torch.save": lambda mp: _crash_in_torch_save(mp, nth=2),
    "checkpoint write": lambda mp: _crash_in_open(mp, "iter_4.pth", nth=1),
    "pointer write": lambda mp: _crash_in_open(mp, "last_checkpoint", nth=2),
}


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_atomic_checkpoint_hook_survives_a_crash_mid_write(make_runner, tmp_path, monkeypatch, fault):
    runner = make_runner(tmp_path, max_iters=4)
    FAULTS[fault](monkeypatch)
    with pytest.raises((OSError, RuntimeError), match="simulated crash"):
        runner.train()
    monkeypatch.undo()

    iter_2, iter_4 = tmp_path / "iter_2.pth", tmp_path / "iter_4.pth"
    assert _weights_only(iter_2)["meta"]["iter"] == 2
    assert (tmp_path / "last_checkpoint").read_text() == str(iter_2)
    if fault == "pointer write":  # the checkpoint itself was complete
        assert _weights_only(iter_4)["meta"]["iter"] == 4
    else:
        assert not iter_4.exists()
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("fault", ["checkpoint write", "pointer write"])
def test_plain_checkpoint_hook_is_damaged_by_the_same_crash(make_runner, tmp_path, monkeypatch, fault):
    """The contrast: MMEngine's own hook writes in place."""
    runner = make_runner(tmp_path, max_iters=4, checkpoint="CheckpointHook")
    FAULTS[fault](monkeypatch)
    with pytest.raises(OSError, match="simulated crash"):
        runner.train()
    monkeypatch.undo()
    if fault == "checkpoint write":
        with pytest.raises(Exception):  # a truncated iter_4.pth is left behind
            _weights_only(tmp_path / "iter_4.pth")
    else:
        pointer = (tmp_path / "last_checkpoint").read_text()
        assert pointer != str(tmp_path / "iter_4.pth") and not Path(pointer).is_file()


def test_resume_after_a_crash_and_stale_temporaries_are_removed(make_runner, tmp_path, monkeypatch):
    runner = make_runner(tmp_path, max_iters=4)
    FAULTS["checkpoint write"](monkeypatch)
    with pytest.raises(OSError):
        runner.train()
    monkeypatch.undo()
    stale = tmp_path / ".iter_4.pth.0123456789ab.p2s.tmp"
    stale.write_bytes(b"left by a SIGKILL")

    resumed = make_runner(tmp_path, max_iters=4, resume=True)
    resumed.train()
    assert resumed.iter == 4 and not stale.exists()
    assert _weights_only(tmp_path / "iter_4.pth")["meta"]["iter"] == 4
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_4.pth")


def test_a_crash_while_writing_a_new_best_keeps_the_previous_best(make_runner, tmp_path, monkeypatch):
    """MMEngine removes the previous best before it writes the new one."""
    runner = make_runner(tmp_path, max_iters=4, val=True, checkpoint_options=dict(save_best="mse", rule="less"))
    _crash_in_open(monkeypatch, "best_mse_iter_4.pth", nth=1)
    with pytest.raises(OSError, match="simulated crash"):
        runner.train()
    monkeypatch.undo()
    assert runner.iter == 4  # the crash came with the new best, after the validation at 4 improved
    assert _weights_only(tmp_path / "best_mse_iter_2.pth")["meta"]["iter"] == 2
    assert not (tmp_path / "best_mse_iter_4.pth").exists() and _temporaries(tmp_path) == []

    resumed = make_runner(tmp_path, max_iters=6, val=True, resume=True,
                          checkpoint_options=dict(save_best="mse", rule="less"))
    resumed.train()  # and once a newer best is written, the previous one goes
    assert len(list(tmp_path.glob("best_mse_iter_*.pth"))) == 1


def test_atomic_hook_keeps_checkpoint_hook_options(make_runner, tmp_path):
    """``max_keep_ckpts`` and ``save_best`` still work (the best one is saved atomically too)."""
    options = dict(max_keep_ckpts=1, save_best="mse", rule="less")
    make_runner(tmp_path, max_iters=6, val=True, checkpoint_options=options).train()

    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert "iter_6.pth" in names and "iter_2.pth" not in names and "iter_4.pth" not in names
    assert len([n for n in names if n.startswith("best_mse_iter_")]) == 1
    for name in names:
        assert _weights_only(tmp_path / name)["meta"]["iter"] in (2, 4, 6)
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_6.pth")
    assert _temporaries(tmp_path) == []
