"""``p2s edit`` and ``p2s directions ganspace`` on tiny checkpoints (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

NUM_WS, W_DIM, RES = 6, 8, 16


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def faces(tiny, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faces")
    tiny.write_rgb(folder / "a.png", seed=1, size=(40, 36))
    tiny.write_rgb(folder / "b.jpg", seed=2, size=(30, 30))
    tiny.write_rgb(folder / "c.png", seed=3, size=(24, 32))
    return folder


@pytest.fixture(scope="module")
def direction_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dirs") / "smile.npy"
    np.save(path, np.random.default_rng(0).standard_normal((1, W_DIM)).astype("float32"))
    return path


@pytest.fixture(scope="module")
def ganspace_npz(run, ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gs") / "ganspace.npz"
    result = run("directions", "ganspace", "--checkpoint", ckpt("inversion"), "--output", out,
                 "--components", "4", "--samples", "2000", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "wrote 4 components" in flat(result.output)
    return out


def test_edit_writes_files(tiny, run, ckpt, faces, direction_file, tmp_path):
    out = tmp_path / "out"
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces, "--direction", direction_file,
                 "--strength", "2", "--output", out, "--device", "cpu", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_edit.png", "b_edit.png", "c_edit.png"]
    assert tiny.read_png(out / "a_edit.png").shape == (RES, RES, 3)
    assert "edited 3 of 3 image(s)" in flat(result.output)
    assert tiny.leftovers(out) == []


def test_strength_zero_matches_translate(tiny, run, ckpt, faces, direction_file, tmp_path):
    for command, extra in (("edit", ["--direction", direction_file, "--strength", "0"]), ("translate", [])):
        result = run(command, "--checkpoint", ckpt("inversion"), "--input", faces, "--output", tmp_path / command,
                     "--device", "cpu", "--batch-size", "2", *extra)
        assert result.exit_code == 0, result.output
    for stem in ("a", "b", "c"):
        assert np.array_equal(tiny.read_png(tmp_path / "edit" / f"{stem}_edit.png"),
                              tiny.read_png(tmp_path / "translate" / f"{stem}.png"))


def test_strip_over_strengths(tiny, run, ckpt, faces, direction_file, tmp_path):
    out = tmp_path / "strip"
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces / "a.png", "--direction",
                 direction_file, "--strengths", "-3,0,1.5,3", "--layers", "0-3", "--output", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    strip = tiny.read_png(out / "a_strip.png")
    assert strip.shape == (RES, 4 * RES, 3)
    plain = out.parent / "plain"
    assert run("translate", "--checkpoint", ckpt("inversion"), "--input", faces / "a.png", "--output", plain,
               "--device", "cpu").exit_code == 0
    assert np.array_equal(strip[:, RES:2 * RES], tiny.read_png(plain / "a.png")), "strength 0 frame"
    assert not np.array_equal(strip[:, :RES], strip[:, 3 * RES:])


def test_an_earlier_runs_other_edits_are_named(run, ckpt, faces, direction_file, tmp_path):
    """A strip run into a folder of an earlier single edit leaves a_edit.png beside the new
    a_strip.png: one warning line names it; a rerun of the same edit warns of nothing stale."""
    out = tmp_path / "out"
    base = ["edit", "--checkpoint", ckpt("inversion"), "--input", faces / "a.png", "--direction", direction_file,
            "--output", out, "--device", "cpu"]
    assert run(*base, "--strength", "2").exit_code == 0
    result = run(*base, "--strengths", "0,1")
    assert result.exit_code == 0, result.output
    assert (f"warning: 1 file(s) (a_edit.png) in {out} are an earlier run's and no longer match the new images"
            in flat(result.output))
    again = run(*base, "--strengths", "0,1")
    assert "a_edit.png" in flat(again.output) and "a_strip.png) in" not in flat(again.output)


def test_ganspace_file_and_named_direction(tiny, run, ckpt, faces, ganspace_npz, tmp_path):
    from p2s.editing.ganspace import load_ganspace

    space = load_ganspace(ganspace_npz)
    torch.testing.assert_close(space.components @ space.components.T, torch.eye(4), atol=1e-5, rtol=0)
    out = tmp_path / "gs_out"
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces / "b.jpg", "--direction", "ganspace:2",
                 "--directions-file", ganspace_npz, "--strength", "-2", "--output", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (out / "b_edit.png").is_file()
    assert "warning" not in result.output


def test_directions_of_another_generator_are_warned_about(run, ckpt, faces, ganspace_npz, tmp_path):
    """Every FFHQ and AFHQ generator has a 512-d W: the mapping network's fingerprint,
    recorded in the .npz, is what tells their directions apart."""
    from p2s.editing.ganspace import MAPPING_KEY, mapping_fingerprint, generator_from_checkpoint

    with np.load(ganspace_npz) as archive:
        assert str(archive[MAPPING_KEY]) == mapping_fingerprint(generator_from_checkpoint(ckpt("inversion")))
    result = run("edit", "--checkpoint", ckpt("noisy"), "--input", faces / "b.jpg", "--direction", "ganspace:2",
                 "--directions-file", ganspace_npz, "--output", tmp_path / "other", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"warning: directions file '{ganspace_npz}' was computed from another generator" in flat(result.output)


def test_ganspace_from_generator_weights(run, tmp_path):
    from p2s.registry import GENERATORS
    from p2s.utils.build import build

    torch.manual_seed(0)
    gen = build(GENERATORS, dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, channel_max=16,
                                 channel_multiplier=1))
    weights = tmp_path / "g.pt"
    torch.save({"g_ema": gen.state_dict()}, weights)
    options = ["resolution=16", "w_dim=8", "n_mlp=2", "channel_max=16", "channel_multiplier=1"]
    args = ["directions", "ganspace", "--generator", weights, "--output", tmp_path / "g.npz", "--samples", "500",
            "--components", "3", "--device", "cpu"]
    for option in options:
        args += ["--generator-option", option]
    result = run(*args)
    assert result.exit_code == 0, result.output
    bad = run("directions", "ganspace", "--generator", weights, "--output", tmp_path / "x.npz")
    assert bad.exit_code == 2 and "error:" in bad.output and "Traceback" not in bad.output
    folder = run("directions", "ganspace", "--generator", weights, "--output", tmp_path, "--samples", "500",
                 *[a for option in options for a in ("--generator-option", option)])
    assert folder.exit_code == 2 and f"--output '{tmp_path}' is a folder; give a file name" in folder.output

    # a p2s-written file records its options: no --generator-option needed, and a config
    # that builds another architecture is told which options the file wants
    stored = dict(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
    recorded = tmp_path / "recorded.pt"
    torch.save({"g_ema": gen.state_dict(), "p2s_generator": stored}, recorded)
    result = run("directions", "ganspace", "--generator", recorded, "--output", tmp_path / "r.npz",
                 "--samples", "500", "--components", "3", "--device", "cpu")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "r.npz")["components"], np.load(tmp_path / "g.npz")["components"])
    from p2s.utils.errors import CheckpointMismatchError

    with pytest.raises(CheckpointMismatchError) as err:
        build(GENERATORS, dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, weights=str(recorded)))
    assert str(err.value) == (  # the options that differ, not the dozens of keys they change
        f"StyleGAN2 weights '{recorded}' were written for a generator "
        "with channel_max=16, channel_multiplier=1, but this one was built with channel_max=512, channel_multiplier=2: "
        "build it with the file's options (in a config: model.generator.channel_max=16 "
        "model.generator.channel_multiplier=1)")


@pytest.mark.parametrize("make_args, expected", [
    (lambda d: ["--direction", d / "wrong.npy"], "direction file"),
    (lambda d: ["--direction", d / "missing.npy"], "does not exist"),
    (lambda d: ["--direction", "ganspace:1"], "needs --directions-file"),
    (lambda d: ["--direction", d / "ok.npy", "--strength", "nan"], "finite"),
    (lambda d: ["--direction", d / "ok.npy", "--strengths", "-3,x"], "comma-separated"),
    (lambda d: ["--direction", d / "ok.npy", "--strength", "1", "--strengths", "0,1"], "not both"),
    (lambda d: ["--direction", d / "ok.npy", "--layers", "4-9"], "outside 0..5"),
    (lambda d: ["--direction", d / "ok.npy", "--layers", "x"], "--layers 'x'"),
    (lambda d: [], "give --direction"),
    (lambda d: ["--patch", d / "ok.npy"], "go together"),
])
def test_user_errors_are_one_line(tiny, run, ckpt, faces, tmp_path, make_args, expected):
    np.save(tmp_path / "wrong.npy", np.zeros((2, W_DIM), "float32"))
    np.save(tmp_path / "ok.npy", np.zeros(W_DIM, "float32"))
    out = tmp_path / "never"
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces, "--output", out, "--device", "cpu",
                 *make_args(tmp_path))
    line = tiny.one_line_error(result)
    assert expected in flat(result.output), line
    assert not out.exists(), "nothing is written on a usage error"


def test_patch_editing(tiny, run, ckpt, faces, tmp_path):
    patch = tiny.write_rgb(tmp_path / "patch.png", seed=7, size=(12, 14))
    out = tmp_path / "patched"
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces / "a.png", "--patch", patch,
                 "--box", "4,6", "--output", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    patched = tiny.read_png(out / "a_patched.png")
    plain = out.parent / "plain"
    assert run("translate", "--checkpoint", ckpt("inversion"), "--input", faces / "a.png", "--output", plain,
               "--device", "cpu").exit_code == 0
    assert patched.shape == (RES, RES, 3)
    assert not np.array_equal(patched, tiny.read_png(plain / "a.png")), "the pasted region changed nothing"


@pytest.mark.parametrize("name, task", [("seg", "seg2face"), ("sketch", "sketch2face")])
def test_patch_is_refused_up_front_for_tasks_without_rgb_sources(tiny, run, ckpt, direction_file, tmp_path, name,
                                                                 task):
    """Pasting a photo onto a label map made label values of its colours: 'error: image: label value...'."""
    from p2s.apis.translator import Translator
    from p2s.editing.editor import patch_files
    from p2s.editing.patch import local_edit
    from p2s.utils.errors import P2SError

    labels = tiny.write_label_map(tmp_path / "m.png")
    patch = tiny.write_rgb(tmp_path / "patch.png", seed=7, size=(10, 10))
    out = tmp_path / "out"
    result = run("edit", "--checkpoint", ckpt(name), "--input", labels, "--patch", patch, "--box", "1,1",
                 "--direction", direction_file, "--output", out, "--device", "cpu")
    expected = f"--patch works on RGB face photos, but task '{task}' reads L sources"
    assert tiny.one_line_error(result) == f"error: {expected}"
    assert not out.exists()  # refused before the direction pass wrote its edit
    translator = Translator.from_checkpoint(ckpt(name), device="cpu")
    with pytest.raises(P2SError, match=r"^local_edit\(\) works on RGB face photos"):
        local_edit(translator, labels, patch, (1, 1))
    with pytest.raises(P2SError, match=r"^patch_files\(\) works on RGB face photos"):
        patch_files(translator, [labels], tmp_path, patch, (1, 1))


def test_patch_box_outside_one_input_skips_it(tiny, run, ckpt, faces, tmp_path):
    patch = tiny.write_rgb(tmp_path / "patch.png", seed=7, size=(10, 10))
    out = tmp_path / "patched"
    # c.png is 32 wide and 24 high: a 10x10 patch at y=20 does not fit it
    result = run("edit", "--checkpoint", ckpt("inversion"), "--input", faces, "--patch", patch,
                 "--box", "0,20", "--output", out, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["a_patched.png", "b_patched.png"]
    assert "c.png: patch box" in flat(result.output)
