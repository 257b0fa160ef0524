"""Unit tests of the weights_only-safe conversion, SafeCheckpointHook and atomic writes."""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.logging import HistoryBuffer
from torch import nn

from p2s.engine import SafeCheckpointHook, atomic_write, from_weights_only_safe, to_weights_only_safe
from p2s.utils.errors import P2SError


class Opaque:
    """Any object that safe loading refuses."""


def _round_trip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_numpy_and_history_buffers_round_trip_with_their_types():
    buffer = HistoryBuffer([0.5, 0.25, 0.125], [1, 2, 1], max_length=7)
    value = {
        "buffer": buffer,
        "f64": np.float64(1.5),  # a subclass of float: must not pass as a plain float
        "i64": np.int64(3),
        "flag": np.bool_(True),
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "strings": np.array(["a", "bc"]),
        "objects": np.array([1, "x"], dtype=object),
        "config": ConfigDict(a=1, b=dict(c=np.float32(2.0))),
        "nested": [(np.float32(1.0), "s")],
    }
    restored = from_weights_only_safe(_round_trip(to_weights_only_safe(value)))

    assert isinstance(restored["buffer"], HistoryBuffer) and restored["buffer"].max_length == 7
    for got, want in zip(restored["buffer"].data, buffer.data):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert restored["buffer"].mean() == buffer.mean()
    assert type(restored["f64"]) is np.float64 and restored["f64"] == 1.5
    assert type(restored["i64"]) is np.int64 and type(restored["flag"]) is np.bool_
    for key in ("array", "strings", "objects"):
        assert restored[key].dtype == value[key].dtype and np.array_equal(restored[key], value[key])
    assert restored["config"] == {"a": 1, "b": {"c": 2.0}} and type(restored["config"]) is dict
    assert type(restored["config"]["b"]["c"]) is np.float32
    assert type(restored["nested"][0][0]) is np.float32


def test_untouched_parts_are_returned_as_they_are():
    state = nn.BatchNorm2d(2).state_dict()  # an OrderedDict with `_metadata`
    checkpoint = {"state_dict": state, "n": 3}
    assert to_weights_only_safe(checkpoint) is checkpoint
    with_numpy = OrderedDict(state, extra=np.float64(1.0))
    with_numpy._metadata = state._metadata
    mixed = to_weights_only_safe(with_numpy)
    assert type(mixed) is OrderedDict and mixed._metadata == state._metadata
    assert from_weights_only_safe(mixed)["running_mean"] is state["running_mean"]


def test_unsafe_objects_are_reported_by_path():
    unsafe: list[str] = []
    to_weights_only_safe({"a": [1, {"b": Opaque()}]}, unsafe, "root")
    assert len(unsafe) == 1 and unsafe[0].startswith("root.a[1].b (") and "Opaque" in unsafe[0]


def _mmengine_like_checkpoint() -> dict:
    hub_keys = OrderedDict(loss=True, eta=True, handle=True)
    return {
        "meta": {"iter": 2, "dataset_meta": {"palette": np.zeros((2, 3), np.uint8)}, "handle": Opaque()},
        "state_dict": OrderedDict(w=torch.ones(2)),
        "message_hub": {
            "log_scalars": OrderedDict(loss=HistoryBuffer([0.3, 0.2], [1, 1])),
            "runtime_info": OrderedDict(eta=np.float64(12.0), handle=Opaque()),
            "resumed_keys": hub_keys,
        },
        "optimizer": {"state": {0: {"step": torch.tensor(2.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
    }


def test_safe_checkpoint_hook_round_trip_drops_unsafe_runtime_info_with_a_warning(caplog):
    checkpoint = _mmengine_like_checkpoint()
    live_resumed_keys = checkpoint["message_hub"]["resumed_keys"]
    hook = SafeCheckpointHook()
    hook.before_save_checkpoint(None, checkpoint)
    assert "handle" in live_resumed_keys  # the live MessageHub's dict is not edited

    loaded = _round_trip(checkpoint)  # weights_only=True
    hook.after_load_checkpoint(None, loaded)
    hub = loaded["message_hub"]
    assert isinstance(hub["log_scalars"]["loss"], HistoryBuffer)
    assert np.array_equal(hub["log_scalars"]["loss"].data[0], [0.3, 0.2])
    assert type(hub["runtime_info"]["eta"]) is np.float64
    assert "handle" not in hub["runtime_info"] and "handle" not in hub["resumed_keys"]
    assert "handle" not in loaded["meta"] and loaded["meta"]["iter"] == 2
    assert loaded["meta"]["dataset_meta"]["palette"].dtype == np.uint8


def test_safe_checkpoint_hook_refuses_unsafe_objects_elsewhere():
    checkpoint = _mmengine_like_checkpoint()
    checkpoint["optimizer"]["param_groups"][0]["fn"] = Opaque()
    with pytest.raises(P2SError, match=r"optimizer\.param_groups\[0\]\.fn"):
        SafeCheckpointHook().before_save_checkpoint(None, checkpoint)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "file.bin"
    atomic_write(b"old", target)
    atomic_write("text", tmp_path / "sub" / "pointer")
    assert target.read_bytes() == b"old" and (tmp_path / "sub" / "pointer").read_text() == "text"

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b"new", target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin", "pointer"]
