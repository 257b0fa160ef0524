"""Safe checkpoint loading: which pickled classes weights_only loading may rebuild."""

from __future__ import annotations

import argparse
import fractions

import pytest
import torch

from p2s.utils.checkpoint import load_checkpoint_file
from p2s.utils.errors import P2SError


def test_argparse_namespace_loads_as_data(tmp_path):
    path = tmp_path / "train.pt"
    torch.save({"args": argparse.Namespace(size=256, lr=0.002), "g_ema": {"w": torch.ones(2)}}, path)
    ckpt = load_checkpoint_file(path)
    assert vars(ckpt["args"]) == {"size": 256, "lr": 0.002}
    assert torch.equal(ckpt["g_ema"]["w"], torch.ones(2))


def test_other_classes_are_still_refused(tmp_path):
    path = tmp_path / "fraction.pt"
    torch.save({"args": fractions.Fraction(1, 3)}, path)
    with pytest.raises(P2SError, match=r"refuses \(fractions.Fraction\)") as err:
        load_checkpoint_file(path)
    assert "\n" not in str(err.value)
