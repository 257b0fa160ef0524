"""Optimisation-based inversion (``p2s project``) on a tiny checkpoint."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from p2s.apis.projector import Projector
from p2s.apis.translator import Translator
from p2s.utils.errors import P2SError


def test_projection_recovers_a_generated_image(ckpt):
    model = Translator.from_checkpoint(ckpt("inversion"), device="cpu").model
    torch.manual_seed(0)
    true_codes = model.latent_avg.unsqueeze(0) + 0.5 * torch.randn(1, *model.latent_avg.shape)
    with torch.no_grad():
        target = torch.nn.functional.adaptive_avg_pool2d(model.decode(true_codes), 256)
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    result = Projector(model, lpips=None, steps=60, lr=0.1).project(target)
    assert result.losses[-1] < 0.2 * result.losses[0], result.losses[::10]
    assert result.latents.shape == true_codes.shape and result.images.shape == (1, 3, 16, 16)
    # the model is frozen only while projecting: no gradients on it, and its flags and mode come back
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags and any(flags) and model.training


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1), "Projector lr must be a number in (0, 10]"),
    (dict(lr=float("nan")), "Projector lr must be a number in (0, 10]"),
    (dict(steps=0), "Projector steps must be a positive integer, got 0"),
])
def test_projector_settings_are_checked(ckpt, kwargs, message):
    model = Translator.from_checkpoint(ckpt("inversion"), device="cpu").model
    with pytest.raises(P2SError, match=re.escape(message)):
        Projector(model, **kwargs)


@pytest.mark.parametrize("targets, message", [
    (torch.zeros(3, 256, 256), r"must be \[N, 3, 256, 256\] \(N >= 1\), got \[3, 256, 256\]"),  # no batch: broadcast
    (torch.zeros(1, 3, 256, 256, dtype=torch.uint8), r"must be a float tensor .* got torch.uint8"),
    (torch.zeros(0, 3, 256, 256), r"\(N >= 1\), got \[0, 3, 256, 256\]"),
    (torch.zeros(1, 3, 64, 64), r"got \[1, 3, 64, 64\]"),
])
def test_targets_the_projector_cannot_fit_are_one_line(ckpt, targets, message):
    model = Translator.from_checkpoint(ckpt("inversion"), device="cpu").model
    with pytest.raises(P2SError, match=message):
        Projector(model, steps=1).project(targets)


def test_project_cli_writes_images_and_latents(tiny, ckpt, tmp_path):
    folder = tmp_path / "in"
    paths = tiny.write_rgb_folder(folder)
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    result = tiny.invoke("project", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
                         "--steps", "3", "--no-lpips", "--device", "cpu")
    assert result.exit_code == 1, result.output  # the broken file is reported, the rest written
    assert "broken.png" in result.output
    assert "18/18" in result.output  # the bar ends full: the skipped input advances its 3 steps
    for path in paths:
        assert (out / f"{path.stem}.png").is_file()
        assert np.load(out / "latents" / f"{path.stem}.npy").shape == (6, 8)


def test_a_rerun_counts_the_images_and_the_codes_it_replaces(tiny, ckpt, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    paths = tiny.write_rgb_folder(folder)
    args = ["project", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out, "--steps", "1",
            "--no-lpips", "--device", "cpu"]
    assert tiny.invoke(*args).exit_code == 0
    again = tiny.invoke(*args)
    assert again.exit_code == 0, again.output
    text = " ".join(again.output.split())
    first = sorted(paths)[0].stem
    assert f"warning: {2 * len(paths)} file(s) ({first}.png," in text and f"will be replaced in {out}" in text


def test_lpips_weights_with_no_lpips_is_one_line(tiny, ckpt, tmp_path):
    folder = tmp_path / "in"
    tiny.write_rgb_folder(folder)
    weights = tmp_path / "alex.pth"
    weights.write_bytes(b"")
    result = tiny.invoke("project", "--checkpoint", ckpt("inversion"), "--input", folder, "--output",
                         tmp_path / "out", "--no-lpips", "--lpips-weights", weights, "--device", "cpu")
    assert tiny.one_line_error(result) == (
        "error: --lpips-weights is for the LPIPS term, which --no-lpips leaves out: give one of the two")
    assert not (tmp_path / "out").exists()


def test_project_without_lpips_weights_says_how_to_go_on(tiny, ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty hub: no AlexNet
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    folder = tmp_path / "in"
    tiny.write_rgb_folder(folder)
    result = tiny.invoke("project", "--checkpoint", ckpt("inversion"), "--input", folder,
                         "--output", tmp_path / "out", "--device", "cpu")
    line = tiny.one_line_error(result)
    assert "alexnet-owt-7be5be79.pth" in line and line.endswith("or project with L2 only: --no-lpips.")
    assert not (tmp_path / "out").exists()


def test_a_diverged_projection_is_skipped_not_saved(tiny, ckpt, tmp_path, monkeypatch):
    from p2s.apis import projector

    real = projector.Projector.project

    def diverge(self, targets, on_step=None):
        result = real(self, targets, on_step)
        result.latents[:] = float("nan")
        return result

    monkeypatch.setattr(projector.Projector, "project", diverge)
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "a.png", seed=1)
    out = tmp_path / "out"
    result = tiny.invoke("project", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
                         "--steps", "2", "--no-lpips", "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "a.png: the projection diverged (NaN or infinite codes); lower --lr (now 0.05)" in " ".join(
        result.output.split())
    assert not out.exists()  # nothing saved, no empty folder left


@pytest.mark.parametrize("lr", ["0", "11", "nan", "1e38"])
def test_lr_outside_the_working_range_is_one_line(tiny, ckpt, tmp_path, lr):
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "a.png", seed=1)
    result = tiny.invoke("project", "--checkpoint", ckpt("inversion"), "--input", folder, "--output",
                         tmp_path / "out", "--lr", lr, "--no-lpips", "--device", "cpu")
    assert "--lr must be a number in (0, 10]" in tiny.one_line_error(result)
