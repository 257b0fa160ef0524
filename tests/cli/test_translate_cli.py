"""``p2s translate``, ``p2s interpolate`` and ``p2s registry`` on tiny checkpoints (CPU)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
import pytest
import torch

NUM_WS, W_DIM, RES = 6, 8, 16


def flat(text: str) -> str:
    """Output with rich's line wrapping undone (messages are checked word for word)."""
    return " ".join(text.split())


def pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def assert_clean(tiny, folder: Path) -> None:
    assert tiny.leftovers(folder) == [], f"temporary files left in {folder}"


# --- shared runs ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def rgb_dir(tiny, tmp_path_factory) -> Path:
    """Five RGB images of different sizes and formats, plus a text file to ignore."""
    folder = tmp_path_factory.mktemp("rgb_in")
    tiny.write_rgb_folder(folder)
    (folder / "notes.txt").write_text("not an image\n")
    return folder


@pytest.fixture(scope="module")
def plain_run(tiny, ckpt, rgb_dir, tmp_path_factory):
    """``translate --batch-size 2`` of the five images: (result, output folder)."""
    out = tmp_path_factory.mktemp("plain_out") / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", rgb_dir, "--output", out,
        "--device", "cpu", "--batch-size", "2",
    )
    assert result.exit_code == 0, result.output
    return result, out


@pytest.fixture(scope="module")
def pair_dir(tiny, tmp_path_factory) -> Path:
    """Two RGB images (for the slower style-mixing runs)."""
    folder = tmp_path_factory.mktemp("pair_in")
    tiny.write_rgb(folder / "p.png", seed=11, size=(50, 40))
    tiny.write_rgb(folder / "q.jpg", seed=12, size=(30, 30))
    return folder


# --- translate: outputs ----------------------------------------------------------------
def test_folder_in_batches_writes_one_png_per_image(tiny, plain_run, rgb_dir):
    result, out = plain_run
    stems = [stem for stem, _, _ in tiny.RGB_FILES]
    assert pngs(out) == sorted(f"{s}.png" for s in stems)  # notes.txt ignored, nothing else
    assert sorted(p.name for p in out.iterdir()) == pngs(out)  # no latents/, no mixes
    arrays = {}
    for stem in stems:
        array = tiny.read_png(out / f"{stem}.png")
        assert array.dtype == np.uint8 and array.shape == (RES, RES, 3)
        arrays[stem] = array
    # e_face is alone in the last (partial) batch of 2 + 2 + 1
    assert arrays["e_face"].std() > 0
    # different inputs give different faces: the encoder is not ignoring its input
    assert len({a.tobytes() for a in arrays.values()}) == len(stems)
    assert "wrote 5 of 5 image(s)" in flat(result.output)
    assert_clean(tiny, out)
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE((out / name).stat().st_mode) for name in pngs(out)} == {0o666 & ~umask}


def test_translate_is_deterministic_with_stored_noise(tiny, ckpt, plain_run, rgb_dir, tmp_path):
    _, first = plain_run
    again = tmp_path / "again"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", rgb_dir, "--output", again,
        "--device", "cpu", "--batch-size", "2",
    )
    assert result.exit_code == 0, result.output
    assert pngs(again) == pngs(first)
    for name in pngs(first):
        assert (again / name).read_bytes() == (first / name).read_bytes(), name


def test_single_file_input(tiny, ckpt, plain_run, rgb_dir, tmp_path):
    _, folder_out = plain_run
    out = tmp_path / "single"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", rgb_dir / "d_face.webp", "--output", out,
        "--device", "cpu",
    )
    assert result.exit_code == 0, result.output
    assert pngs(out) == ["d_face.png"]
    single = tiny.read_png(out / "d_face.png").astype(int)
    batched = tiny.read_png(folder_out / "d_face.png").astype(int)
    assert np.abs(single - batched).max() <= 1  # batch composition may move a float ulp
    assert "wrote 1 of 1 image(s)" in flat(result.output)


def test_save_latents_matches_api_and_resize_outputs(tiny, ckpt, pair_dir, tmp_path):
    from p2s.apis.translator import Translator

    out = tmp_path / "big"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", out,
        "--device", "cpu", "--batch-size", "1", "--save-latents", "--resize-outputs",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "latents", "latents/p.npy", "latents/q.npy", "p.png", "q.png",
    ]
    translator = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    latents = {}
    for path in sorted(pair_dir.iterdir()):
        saved = np.load(out / "latents" / f"{path.stem}.npy")
        assert saved.dtype == np.float32 and saved.shape == (NUM_WS, W_DIM)
        expected = translator.translate(translator.prepare([translator.task.load_source(path)]))
        np.testing.assert_allclose(saved, expected.latents[0].numpy(), rtol=0, atol=1e-6)
        latents[path.stem] = saved
        big = tiny.read_png(out / f"{path.stem}.png")
        assert big.shape == (256, 256, 3) and big.dtype == np.uint8
        # 16 -> 256 pooling repeats each generator pixel in a 16x16 block
        small = expected.to_uint8()[0].astype(int)
        assert np.abs(big[::16, ::16].astype(int) - small).max() <= 1
        assert np.abs(big[15::16, 15::16].astype(int) - small).max() <= 1
    # one code per image (the encoder residual is not zero)
    assert not np.array_equal(latents["p"], latents["q"])


def test_randomize_noise_changes_outputs(tiny, ckpt, pair_dir, tmp_path):
    noisy = ckpt("noisy")  # noise weights 1.0: the noise visibly moves the pixels

    def run(name, *extra):
        out = tmp_path / name
        result = tiny.invoke(
            "translate", "--checkpoint", noisy, "--input", pair_dir, "--output", out, "--device", "cpu", *extra
        )
        assert result.exit_code == 0, result.output
        return {n: tiny.read_png(out / n) for n in pngs(out)}

    const_a, const_b = run("const_a"), run("const_b")
    rand_a, rand_b = run("rand_a", "--randomize-noise"), run("rand_b", "--randomize-noise")
    assert sorted(rand_a) == sorted(const_a) == ["p.png", "q.png"]
    for name in const_a:
        np.testing.assert_array_equal(const_a[name], const_b[name])  # stored noise buffers
        assert not np.array_equal(rand_a[name], rand_b[name]), name  # fresh noise per run
        assert not np.array_equal(rand_a[name], const_a[name]), name


# --- translate: style mixing --------------------------------------------------------------
def _mix_run(tiny, ckpt, pair_dir, out, *extra):
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", out,
        "--device", "cpu", "--mix", "3", *extra,
    )
    assert result.exit_code == 0, result.output
    return result


def test_mix_variants_are_seeded(tiny, ckpt, pair_dir, tmp_path):
    first, second, other = tmp_path / "s7", tmp_path / "s7again", tmp_path / "s8"
    _mix_run(tiny, ckpt, pair_dir, first, "--mix-layers", "3-5", "--seed", "7")
    _mix_run(tiny, ckpt, pair_dir, second, "--mix-layers", "3-5", "--seed", "7")
    _mix_run(tiny, ckpt, pair_dir, other, "--mix-layers", "3-5", "--seed", "8")
    expected = sorted([f"{s}.png" for s in "pq"] + [f"{s}_mix{k}.png" for s in "pq" for k in range(3)])
    assert pngs(first) == pngs(second) == pngs(other) == expected
    for name in expected:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for stem in "pq":
        plain = tiny.read_png(first / f"{stem}.png")
        variants = [tiny.read_png(first / f"{stem}_mix{k}.png") for k in range(3)]
        assert all(v.shape == (RES, RES, 3) for v in variants)
        for j in range(3):
            assert not np.array_equal(variants[j], plain)
            for k in range(j + 1, 3):
                assert not np.array_equal(variants[j], variants[k]), (stem, j, k)
        # another seed draws other styles
        assert not np.array_equal(variants[0], tiny.read_png(other / f"{stem}_mix0.png"))
    assert_clean(tiny, first)


def test_mix_alpha_zero_reproduces_plain_output(tiny, ckpt, pair_dir, tmp_path):
    out = tmp_path / "alpha0"
    _mix_run(tiny, ckpt, pair_dir, out, "--mix-layers", "0-5", "--mix-alpha", "0.0", "--batch-size", "1")
    for stem in "pq":
        plain = tiny.read_png(out / f"{stem}.png")
        for k in range(3):
            np.testing.assert_array_equal(tiny.read_png(out / f"{stem}_mix{k}.png"), plain)


def test_mix_default_layers_are_the_fine_rows(tiny, ckpt, pair_dir, tmp_path):
    out = tmp_path / "default_layers"
    _mix_run(tiny, ckpt, pair_dir, out, "--seed", "3")
    assert pngs(out) == sorted([f"{s}.png" for s in "pq"] + [f"{s}_mix{k}.png" for s in "pq" for k in range(3)])


@pytest.mark.parametrize("layers", ["9-2", "x", "3-"])
def test_bad_mix_layers_is_a_one_line_error(tiny, ckpt, pair_dir, tmp_path, layers):
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", out,
        "--device", "cpu", "--mix", "2", "--mix-layers", layers,
    )
    line = tiny.one_line_error(result)
    assert f"--mix-layers '{layers}' is not like '8-17'" in line
    assert not out.exists()


@pytest.mark.parametrize("option", [["--mix-layers", "3-5"], ["--mix-alpha", "0.5"]])
def test_mix_options_without_mix_are_refused(tiny, ckpt, pair_dir, tmp_path, option):
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir,
                         "--output", tmp_path / "out", "--device", "cpu", *option)
    assert "--mix-layers and --mix-alpha go with --mix N" in tiny.one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_refused_before_the_models_load(tiny, pair_dir, tmp_path):
    probe = ("import sys, runpy; sys.argv = ['p2s', 'translate', '--checkpoint', sys.argv[1], '--input', "
             "sys.argv[2], '--output', sys.argv[3]];\n"
             "try:\n    runpy.run_module('p2s.cli.main', run_name='__main__')\n"
             "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules, 'mmengine' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "nope.pt"), str(pair_dir), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert "checkpoint not found at" in done.stdout + done.stderr
    assert done.stdout.strip().endswith("exit 2 False False"), done.stdout + done.stderr  # nothing heavy imported


def test_mix_layers_outside_the_latent_are_refused_before_writing(tiny, ckpt, pair_dir, tmp_path):
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", out,
        "--device", "cpu", "--mix", "2", "--mix-layers", "4-9",
    )
    line = tiny.one_line_error(result)
    assert "mix layers [6, 7, 8, 9] are outside 0..5" in line
    assert not out.exists()  # checked before the output folder is made


@pytest.mark.parametrize("command", ["translate", "demo", "ganspace"])
def test_a_seed_numpy_cannot_take_is_refused_before_any_work(tiny, ckpt, pair_dir, tmp_path, command):
    """RandomState takes 0..2**32 - 1: a larger --seed was a traceback after the models ran."""
    out = tmp_path / "out"
    args = {
        "translate": ["translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", out,
                      "--mix", "2", "--device", "cpu"],
        "demo": ["demo", "--output", out, "--n", "1", "--mix", "1"],
        "ganspace": ["directions", "ganspace", "--checkpoint", ckpt("inversion"), "--output", out / "g.npz",
                     "--samples", "10", "--device", "cpu"],
    }[command]
    result = tiny.invoke(*args, "--seed", str(2**32))
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seed'" in result.output and "4294967295" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_the_largest_seed_is_taken(tiny, ckpt, pair_dir, tmp_path):
    """2**32 - 1 reaches NumPy's RandomState as given: its mixes repeat, and differ from seed 0's."""
    def mixes(seed: int, name: str) -> list[np.ndarray]:
        out = tmp_path / name
        result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output",
                             out, "--mix", "1", "--device", "cpu", "--seed", str(seed))
        assert result.exit_code == 0, result.output
        files = sorted(out.glob("*_mix0.png"))
        assert files, sorted(out.iterdir())
        return [np.asarray(Image.open(f)) for f in files]

    largest, again, zero = mixes(2**32 - 1, "a"), mixes(2**32 - 1, "b"), mixes(0, "c")
    assert all(np.array_equal(x, y) for x, y in zip(largest, again))
    assert not all(np.array_equal(x, y) for x, y in zip(largest, zero))


# --- translate: unusable inputs are skipped --------------------------------------------------
def test_corrupt_image_is_skipped_and_reported(tiny, ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "good1.png", seed=1)
    tiny.write_rgb(folder / "good2.jpg", seed=2)
    (folder / "broken.png").write_bytes(np.random.RandomState(0).bytes(600))
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
        "--device", "cpu", "--batch-size", "2",
    )
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "skipped broken.png: not a readable image" in text
    assert "1 input(s) failed: broken.png" in text
    assert "wrote 2 of 3 image(s)" in text
    assert "Traceback" not in result.output
    assert pngs(out) == ["good1.png", "good2.png"]
    assert_clean(tiny, out)


def test_a_decompression_bomb_is_skipped_and_reported(tiny, ckpt, tmp_path, monkeypatch):
    """Pillow refuses an image of more than 2 * MAX_IMAGE_PIXELS pixels with an error that is no
    OSError; here the limit is lowered so a 200 px picture is the "bomb"."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "good.png", seed=1)
    tiny.write_rgb(folder / "huge.png", seed=2, size=(200, 200))
    out = tmp_path / "out"
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
                         "--device", "cpu", "--workers", "0")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "skipped huge.png: not a readable image (Image size (40000 pixels) exceeds limit" in text
    assert "Traceback" not in result.output
    assert pngs(out) == ["good.png"]


@pytest.mark.parametrize("extra", [[], ["--save-latents"]])
def test_when_every_input_fails_no_empty_output_folder_is_left(tiny, ckpt, tmp_path, extra):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG cut short")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "keep.txt").write_text("a folder that existed stays")
    out = tmp_path / "runs" / "new" / "out"
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
                         "--device", "cpu", *extra)
    assert result.exit_code == 1, result.output
    assert "wrote 0 of 1 image(s)" in flat(result.output)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["keep.txt"]  # new/out/latents all gone


def test_a_folder_standing_at_an_output_path_is_refused_before_writing(tiny, ckpt, pair_dir, tmp_path):
    out = tmp_path / "out"
    (out / "q.png").mkdir(parents=True)
    line = tiny.one_line_error(_translate(tiny, ckpt("inversion"), pair_dir, out))
    assert f"output {out / 'q.png'} is a folder; move it away or give another --output folder" in line
    assert sorted(p.name for p in out.iterdir()) == ["q.png"]  # nothing written beside it


def test_names_with_brackets_are_printed_verbatim(tiny, ckpt, tmp_path):
    """File names are not rich markup: '[x]' and '[red]' must survive in the messages."""
    folder = tmp_path / "in[red]"
    folder.mkdir()
    tiny.write_rgb(folder / "face[red].png", seed=1)
    (folder / "scan[x].png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    out = tmp_path / "out[bold]"
    result = _translate(tiny, ckpt("inversion"), folder, out)
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "skipped scan[x].png: not a readable image" in text
    assert "1 input(s) failed: scan[x].png" in text
    assert f"wrote 1 of 2 image(s) to {out}" in text
    assert pngs(out) == ["face[red].png"]

    missing = tmp_path / "[bold]psp.pt"
    line = tiny.one_line_error(_translate(tiny, missing, folder, tmp_path / "unused"))
    assert f"checkpoint not found at '{missing.resolve()}'" in line


@pytest.mark.parametrize(
    "kind, message",
    [
        ("rgb", "colour.png: mode RGB is not accepted by task 'seg2face' (accepted: L, P)"),
        ("label25", "labels25.png: label value 25 is not a class index 0..18"),
    ],
)
def test_seg2face_refuses_unusable_label_maps(tiny, ckpt, tmp_path, kind, message):
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_label_map(folder / "good.png", seed=1)
    if kind == "rgb":
        bad = tiny.write_rgb(folder / "colour.png", seed=5)
    else:
        bad = tiny.write_label_map(folder / "labels25.png", seed=2, top=25)
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("seg"), "--input", folder, "--output", out, "--device", "cpu",
    )
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"skipped {message}" in text
    assert f"1 input(s) failed: {bad.name}" in text
    assert pngs(out) == ["good.png"]
    assert tiny.read_png(out / "good.png").shape == (RES, RES, 3)
    assert_clean(tiny, out)


# --- translate: user errors (exit 2, one line, nothing written) ----------------------------------
def _translate(tiny, checkpoint, source, out, *extra):
    return tiny.invoke(
        "translate", "--checkpoint", checkpoint, "--input", source, "--output", out, "--device", "cpu", *extra
    )


def test_missing_checkpoint(tiny, pair_dir, tmp_path):
    missing = tmp_path / "nowhere" / "psp_ffhq_encode.pt"
    result = _translate(tiny, missing, pair_dir, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert f"checkpoint not found at '{missing.resolve()}'" in line
    assert not (tmp_path / "out").exists()


def test_text_file_checkpoint(tiny, pair_dir, tmp_path):
    text = tmp_path / "model.pt"
    text.write_text("hello, I am not a checkpoint\n")
    result = _translate(tiny, text, pair_dir, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert f"checkpoint '{text}' is not a readable PyTorch file (it is text)." in line  # was (KeyError: 104)
    assert not (tmp_path / "out").exists()


def test_an_image_given_as_checkpoint_is_named_an_image(tiny, pair_dir, tmp_path):
    """Swapped --checkpoint and --input: the error says the file is a PNG, not 'Unsupported operand 80'."""
    image = pair_dir / "p.png"
    line = tiny.one_line_error(_translate(tiny, image, pair_dir, tmp_path / "out"))
    assert f"checkpoint '{image}' is not a readable PyTorch file (it is a PNG image)." in line


def test_generator_weights_given_as_checkpoint_say_where_they_belong(tiny, pair_dir, tmp_path):
    weights = tmp_path / "g.pt"
    torch.save({"g_ema": tiny.build_tiny_model(3).decoder.state_dict()}, weights)
    line = tiny.one_line_error(_translate(tiny, weights, pair_dir, tmp_path / "out"))
    assert f"checkpoint '{weights}' holds generator weights (g_ema), not a pSp or p2s translation checkpoint" in line
    assert "use it as generator weights (model.generator.weights=" in line
    assert not (tmp_path / "out").exists()


def test_state_dict_with_a_wrong_shape(tiny, ckpt, pair_dir, tmp_path):
    payload = torch.load(ckpt("inversion"), map_location="cpu", weights_only=True)
    key = "encoder.latlayer1.weight"
    assert payload["state_dict"][key].shape == (16, 16, 1, 1)
    payload["state_dict"][key] = torch.zeros(16, 8, 1, 1)
    bad = tmp_path / "bad_shape.pt"
    torch.save(payload, bad)
    result = _translate(tiny, bad, pair_dir, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert "does not match PSP" in line
    assert f"{key} (16, 8, 1, 1) vs model (16, 16, 1, 1)" in line
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_with_nan_weights_is_one_line(tiny, ckpt, pair_dir, tmp_path):
    payload = torch.load(ckpt("inversion"), map_location="cpu", weights_only=True)
    payload["state_dict"]["decoder.convs.1.conv.weight"][0, 0, 0, 0, 0] = float("nan")
    payload["state_dict"]["encoder.latlayer1.bias"][3] = float("inf")
    bad = tmp_path / "diverged.pt"
    torch.save(payload, bad)
    result = _translate(tiny, bad, pair_dir, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert "has NaN or infinite values in 'decoder.convs.1.conv.weight' (and 1 more tensors)" in line, line
    assert "use an earlier checkpoint" in line
    assert not (tmp_path / "out").exists()


def _touch_marker(path: str) -> None:
    Path(path).write_text("pickled code ran")


@dataclass
class PickledPayload:
    """Unpickling this runs code: ``__setstate__`` writes ``marker``."""

    marker: str

    def __setstate__(self, state: dict) -> None:
        _touch_marker(state["marker"])
        self.__dict__.update(state)


def test_pickled_class_in_checkpoint_never_runs(tiny, ckpt, pair_dir, tmp_path):
    marker = tmp_path / "marker.txt"
    payload = torch.load(ckpt("inversion"), map_location="cpu", weights_only=True)
    payload["p2s"]["note"] = PickledPayload(str(marker))
    evil = tmp_path / "evil.pt"
    torch.save(payload, evil)
    result = _translate(tiny, evil, pair_dir, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert "holds pickled Python objects that safe loading refuses" in line
    assert "PickledPayload" in line
    assert "\x1b" not in line  # no terminal colour codes from torch's message
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
    # control: an unsafe load of the same file does run the class's code
    torch.load(evil, map_location="cpu", weights_only=False)
    assert marker.read_text() == "pickled code ran"


def test_missing_input(tiny, ckpt, tmp_path):
    result = _translate(tiny, ckpt("inversion"), tmp_path / "no_such_dir", tmp_path / "out")
    line = tiny.one_line_error(result)
    assert f"input '{tmp_path / 'no_such_dir'}' does not exist" in line
    assert not (tmp_path / "out").exists()


def test_empty_input_folder(tiny, ckpt, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    result = _translate(tiny, ckpt("inversion"), empty, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert f"input folder '{empty}' has no .png, .jpg, .jpeg, .bmp, .webp images" in line
    assert not (tmp_path / "out").exists()


def test_inputs_with_the_same_stem(tiny, ckpt, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "a.png", seed=1)
    tiny.write_rgb(folder / "a.jpg", seed=2)
    tiny.write_rgb(folder / "b.png", seed=3)
    result = _translate(tiny, ckpt("inversion"), folder, tmp_path / "out")
    line = tiny.one_line_error(result)
    assert "'a.jpg' and 'a.png' would both be written as a.png" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu(tiny, ckpt, pair_dir, tmp_path):
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", tmp_path / "out",
        "--device", "cuda",
    )
    line = tiny.one_line_error(result)
    assert "--device cuda was asked for, but PyTorch sees no CUDA device" in line
    assert not (tmp_path / "out").exists()


def test_bf16_on_a_cpu_without_bf16_kernels_is_one_warning_line(tiny, ckpt, pair_dir, tmp_path, monkeypatch):
    import p2s.utils.precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_has_bf16_kernels", lambda: False)
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", tmp_path / "out",
        "--device", "cpu", "--precision", "bf16",
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "--precision bf16" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: --precision bf16 on this CPU"), result.output
    assert "Warning" not in result.output  # not Python's file:line: P2SWarning form
    assert pngs(tmp_path / "out") == ["p.png", "q.png"]


def test_tf32_is_a_precision_and_on_a_cpu_writes_the_fp32_images(tiny, ckpt, pair_dir, tmp_path):
    for precision in ("fp32", "tf32"):
        result = tiny.invoke(
            "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", tmp_path / precision,
            "--device", "cpu", "--precision", precision,
        )
        assert result.exit_code == 0, result.output
    assert pngs(tmp_path / "tf32") == pngs(tmp_path / "fp32") == ["p.png", "q.png"]
    for name in ("p.png", "q.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "tf32" / name)),
                                      np.asarray(Image.open(tmp_path / "fp32" / name)))


def test_cuda_graphs_on_a_cpu_is_one_line(tiny, ckpt, pair_dir, tmp_path):
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", tmp_path / "out",
        "--device", "cpu", "--cuda-graphs",
    )
    assert "--cuda-graphs needs a CUDA device (it replays recorded GPU work), got cpu" in tiny.one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_cuda_graphs_write_the_eager_images(tiny, ckpt, plain_run, rgb_dir, tmp_path, monkeypatch):
    """The recorded passes replayed per batch (2, 2, then 1: a second recording), with the
    graph's contract kept on a CPU (``replay_eagerly``): every PNG is the eager one."""
    import p2s.apis.translator as translator_module
    from p2s.utils.cuda_graphs import replay_eagerly

    monkeypatch.setattr(translator_module, "check_cuda_graphs_device", lambda device: None)
    monkeypatch.setattr(translator_module, "capture_cuda_graph", replay_eagerly)
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", rgb_dir, "--output", out,
        "--device", "cpu", "--batch-size", "2", "--cuda-graphs",
    )
    assert result.exit_code == 0, result.output
    _, plain = plain_run
    assert pngs(out) == pngs(plain) and len(pngs(out)) == 5
    for name in pngs(out):
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(plain / name)))


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_an_unknown_device_is_one_line(tiny, ckpt, pair_dir, tmp_path, device):
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir, "--output", tmp_path / "out",
        "--device", device,
    )
    assert f"--device must be cpu, cuda or cuda:N, got '{device}'" in tiny.one_line_error(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["translate", "interpolate"])
@pytest.mark.parametrize("inside", [False, True])
def test_an_output_path_that_is_a_file_is_one_line(tiny, ckpt, pair_dir, tmp_path, command, inside):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    output = blocker / "sub" if inside else blocker
    inputs = ["--input", pair_dir] if command == "translate" else [pair_dir / "p.png", pair_dir / "q.jpg"]
    result = tiny.invoke(command, *inputs, "--checkpoint", ckpt("inversion"), "--output", output, "--device", "cpu")
    line = tiny.one_line_error(result)
    assert f"--output '{output}'" in line and "is a file, not a folder; give a folder" in line
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("command", ["translate", "project", "interpolate"])
def test_output_into_the_input_folder_never_replaces_an_input(tiny, ckpt, tmp_path, command):
    folder = tmp_path / "in"
    folder.mkdir()
    tiny.write_rgb(folder / "a.png", seed=1, size=(20, 20))
    tiny.write_rgb(folder / "frame_000.png", seed=2, size=(20, 20))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    given = {"translate": ["--input", folder], "project": ["--input", folder, "--no-lpips", "--steps", "1"],
             "interpolate": [folder / "a.png", folder / "frame_000.png", "--steps", "2"]}[command]
    result = tiny.invoke(command, *given, "--checkpoint", ckpt("inversion"), "--output", folder, "--device", "cpu")
    assert "would replace the input" in tiny.one_line_error(result)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("command, earlier, given", [
    ("interpolate", "frame_000.png", ["--steps", "2"]),  # RGB faces for a label-map checkpoint
    ("edit", "a_patched.png", ["--patch", "PATCH", "--box", "0,0"]),  # --patch on a label-map checkpoint
    ("project", "a.png", ["--no-lpips", "--lr", "50"]),
])
def test_a_refused_run_announces_no_replacement(tiny, ckpt, tmp_path, command, earlier, given):
    """The 'of an earlier run will be replaced' warning comes only once every check has passed."""
    face = tiny.write_rgb(tmp_path / "a.png", seed=1, size=(20, 20))
    out = tmp_path / "out"
    out.mkdir()
    (out / earlier).write_bytes(b"earlier run")
    inputs = [face, face] if command == "interpolate" else ["--input", face]
    given = [str(face) if item == "PATCH" else item for item in given]
    result = tiny.invoke(command, *inputs, *given, "--checkpoint", ckpt("seg"), "--output", out, "--device", "cpu")
    tiny.one_line_error(result)
    assert "warning:" not in result.output, result.output
    assert (out / earlier).read_bytes() == b"earlier run"


def test_resize_factor_needs_a_superres_checkpoint(tiny, ckpt, pair_dir, tmp_path):
    result = _translate(tiny, ckpt("inversion"), pair_dir, tmp_path / "out", "--resize-factor", "8")
    line = tiny.one_line_error(result)
    assert "--resize-factor applies to super-resolution checkpoints only" in line
    assert not (tmp_path / "out").exists()


def test_resize_factor_must_be_a_paper_factor(tiny, ckpt, pair_dir, tmp_path):
    result = _translate(tiny, ckpt("superres"), pair_dir, tmp_path / "out", "--resize-factor", "3")
    line = tiny.one_line_error(result)
    assert "resize_factor must be one of (1, 2, 4, 8, 16, 32), got 3" in line
    assert not (tmp_path / "out").exists()


def test_resize_factor_on_superres_checkpoint_is_used(tiny, ckpt, pair_dir, tmp_path):
    outs = {}
    for factor in ("4", "32"):
        outs[factor] = tmp_path / f"x{factor}"
        result = _translate(tiny, ckpt("superres"), pair_dir, outs[factor], "--resize-factor", factor)
        assert result.exit_code == 0, result.output
    assert pngs(outs["4"]) == pngs(outs["32"]) == ["p.png", "q.png"]
    assert not np.array_equal(tiny.read_png(outs["4"] / "p.png"), tiny.read_png(outs["32"] / "p.png"))


# --- interpolate -------------------------------------------------------------------------------
def test_interpolate_frames_and_strip(tiny, ckpt, pair_dir, tmp_path):
    a, b = pair_dir / "p.png", pair_dir / "q.jpg"
    plain = tmp_path / "plain"
    assert _translate(tiny, ckpt("inversion"), pair_dir, plain, "--batch-size", "2").exit_code == 0
    out = tmp_path / "interp"
    result = tiny.invoke(
        "interpolate", a, b, "--checkpoint", ckpt("inversion"), "--steps", "4", "--output", out, "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 frames and strip.png" in flat(result.output)
    assert pngs(out) == ["frame_000.png", "frame_001.png", "frame_002.png", "frame_003.png", "strip.png"]
    frames = [tiny.read_png(out / f"frame_{k:03d}.png") for k in range(4)]
    assert all(f.shape == (RES, RES, 3) for f in frames)
    strip = tiny.read_png(out / "strip.png")
    assert strip.shape == (RES, 4 * RES, 3)
    np.testing.assert_array_equal(strip, np.concatenate(frames, axis=1))
    first, last = tiny.read_png(plain / "p.png").astype(int), tiny.read_png(plain / "q.png").astype(int)
    assert np.abs(frames[0].astype(int) - first).max() <= 1
    assert np.abs(frames[3].astype(int) - last).max() <= 1
    assert not np.array_equal(frames[1], frames[0]) and not np.array_equal(frames[2], frames[3])
    assert_clean(tiny, out)


def test_interpolate_names_frames_of_a_longer_earlier_run(tiny, ckpt, pair_dir, tmp_path):
    """frame_003.png of a 4-step run is not in a 2-step run's strip: one warning line says so."""
    a, b, out = pair_dir / "p.png", pair_dir / "q.jpg", tmp_path / "interp"
    for steps in ("4", "2"):
        result = tiny.invoke("interpolate", a, b, "--checkpoint", ckpt("inversion"), "--steps", steps,
                             "--output", out, "--device", "cpu")
        assert result.exit_code == 0, result.output
    assert (f"warning: 2 file(s) (frame_002.png, frame_003.png) in {out} are an earlier run's and no longer "
            "match the new images") in flat(result.output)


def test_interpolate_unreadable_image(tiny, ckpt, pair_dir, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    result = tiny.invoke(
        "interpolate", pair_dir / "p.png", broken, "--checkpoint", ckpt("inversion"), "--output", tmp_path / "out",
        "--device", "cpu",
    )
    line = tiny.one_line_error(result)
    assert "broken.png: not a readable image" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("which, expected", [("missing", "error: B '{path}' does not exist"),
                                             ("folder", "error: B '{path}' is a folder; give one image file")])
def test_interpolate_a_missing_image_or_a_folder_is_named_in_full(tiny, ckpt, pair_dir, tmp_path, which, expected):
    path = tmp_path / "nope.png" if which == "missing" else pair_dir
    result = tiny.invoke("interpolate", pair_dir / "p.png", path, "--checkpoint", ckpt("inversion"),
                         "--output", tmp_path / "out", "--device", "cpu")
    assert tiny.one_line_error(result) == expected.format(path=path)
    assert not (tmp_path / "out").exists()


# --- registry ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "group, names",
    [
        ("encoders", ["GradualStyleEncoder", "WEncoder", "WPlusEncoder"]),
        ("generators", ["StyleGAN2Generator"]),
        ("backbones", ["IRSEBackbone"]),
        ("tasks", ["Frontalization", "Inversion", "Seg2Face", "Sketch2Face", "SuperResolution"]),
    ],
)
def test_registry_list_group(tiny, group, names):
    result = tiny.invoke("registry", "list", group)
    assert result.exit_code == 0, result.output
    rows = [line.split("│") for line in result.output.splitlines() if line.startswith("│")]
    rows = [cells for cells in rows if cells[1].strip()]  # not the wrapped continuation lines
    listed = {cells[2].strip() for cells in rows if len(cells) > 2}
    assert set(names) <= listed
    assert {cells[1].strip() for cells in rows} == {group}


def test_registry_list_gives_whole_first_sentences_and_marks_empty_groups(tiny):
    result = tiny.invoke("registry", "list")
    assert result.exit_code == 0, result.output
    text = flat(result.output.replace("│", " "))
    assert "official bicubic filter (16 as in the official demo)" in text  # wrapped docstring line joined
    assert "transforms - nothing of p2s's own: MMEngine's built-in types only" in text
    assert "--plugins lists them too" in text


def test_registry_list_plugins_imports_the_shipped_plugins():
    script = Path(sys.executable).parent / "p2s"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "p2s.cli.main"]
    done = subprocess.run(command + ["registry", "list", "tasks", "--plugins"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "160"})  # a fresh process: no plugin leaks
    assert done.returncode == 0, done.stderr
    assert " Colorization " in done.stdout and "with the plugins p2s_plugins.colorization" in done.stdout


def test_registry_list_all_groups(tiny):
    result = tiny.invoke("registry", "list")
    assert result.exit_code == 0, result.output
    for name in ("GradualStyleEncoder", "StyleGAN2Generator", "IRSEBackbone", "Seg2Face", "PSP"):
        assert f" {name} " in result.output, name


def test_registry_list_unknown_group(tiny):
    result = tiny.invoke("registry", "list", "nope")
    line = tiny.one_line_error(result)
    assert "unknown registry group 'nope' (groups: backbones, encoders, generators" in line


# --- the installed console script --------------------------------------------------------------
def test_console_script_help():
    script = Path(sys.executable).parent / "p2s"
    command = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "p2s.cli.main", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    for command_name in ("translate", "interpolate", "registry"):
        assert command_name in done.stdout
    assert "Traceback" not in done.stderr


def test_docs_give_the_real_defaults_of_resize_factor_and_strength(tiny):
    """The default factor is the one the checkpoint records (4 for synthfaces-superres), and a
    direction edit needs no strength (default 1)."""
    import typer

    from p2s.cli.main import app

    command = typer.main.get_command(app).commands["translate"]
    option = next(p for p in command.params if p.name == "resize_factor")
    assert option.help == "super-resolution degradation factor (default: the checkpoint's, 16 for official pSp files)"
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "(1, 2, 4, 8, 16, 32; default: the checkpoint's, 16 for official pSp files)" in readme
    assert "default 16)" not in readme
    assert "[--strength S | --strengths -3,0,3]" in readme and "(--strength S" not in readme


def test_help_gives_the_model_s_sizes_not_ffhq_s():
    """--resize-outputs pools to the model's pooled size and latents are (n_styles, w_dim):
    the help once said 256x256 and 512, wrong for the shipped 64-px models (README has it right)."""
    import typer

    from p2s.cli.main import app

    commands = typer.main.get_command(app).commands
    helps = {f"{name} --{p.name}": p.help for name in ("translate", "edit", "interpolate")
             for p in commands[name].params if p.help}
    assert not [k for k, text in helps.items() if "256x256" in text and "pooled size" not in text]
    assert not [k for k, text in helps.items() if "512)" in text or "(512," in text]
    assert helps["translate --resize_outputs"] == "pool outputs to the model's pooled size (256x256 for pSp)"


def test_translate_align_with_landmarks(tiny, ckpt, tmp_path):
    """--align crops the face first (here from a landmarks file), then translates the crop."""
    import json

    from PIL import Image

    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    Image.fromarray((np.random.default_rng(0).random((200, 180, 3)) * 255).astype("uint8")).save(photo)
    marks = tmp_path / "marks.json"
    marks.write_text(json.dumps({"photo.png": [[[70, 80], [110, 80], [90, 105], [75, 130], [105, 130]]]}))
    out = tmp_path / "out"
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", photo.parent, "--output", out,
                         "--align", "--landmarks", marks, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert Image.open(out / "aligned" / "photo.png").size == (256, 256)
    assert Image.open(out / "photo.png").size == (16, 16)
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", photo.parent, "--output", out,
                         "--landmarks", marks)
    assert result.exit_code == 2 and "go with --align" in tiny.one_line_error(result)


@pytest.mark.parametrize("bad", [
    ("--resize-factor", "4"),  # an option the checkpoint's task does not take
    ("--mix", "2", "--mix-layers", "7"),  # a W+ row the tiny model does not have
    ("--device", "nosuchdevice"),
], ids=["resize-factor", "mix-layers", "device"])
def test_a_refused_align_run_aligns_nothing(tiny, ckpt, tmp_path, bad):
    """Options and checkpoint are checked before any face is aligned: no OUTPUT/aligned/ is left."""
    import json

    photo = tiny.write_rgb_folder(tmp_path / "in")[0]
    marks = tmp_path / "marks.json"
    marks.write_text(json.dumps({photo.name: [[[10, 12], [22, 12], [16, 18], [11, 24], [21, 24]]]}))
    out = tmp_path / "out"
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", photo, "--output", out,
                         "--align", "--landmarks", marks, "--device", "cpu", *bad)
    tiny.one_line_error(result)
    assert not out.exists()


@pytest.mark.parametrize("name", ["sketch", "seg"])
def test_align_is_refused_for_sketch_and_label_map_tasks(tiny, ckpt, tmp_path, name):
    marks = tmp_path / "marks.json"
    marks.write_text("{}")
    source = tiny.write_label_map(tmp_path / "m.png")
    result = tiny.invoke("translate", "--checkpoint", ckpt(name), "--input", source, "--output", tmp_path / "out",
                         "--align", "--landmarks", marks, "--device", "cpu")
    task = {"sketch": "sketch2face", "seg": "seg2face"}[name]
    assert tiny.one_line_error(result) == f"error: --align works on RGB face photos, but task '{task}' reads L sources"
    assert not (tmp_path / "out").exists()


def test_a_folder_given_as_checkpoint_and_a_read_only_output_are_one_line(tiny, ckpt, pair_dir, tmp_path, monkeypatch):
    line = tiny.one_line_error(_translate(tiny, tmp_path, pair_dir, tmp_path / "out"))
    assert f"checkpoint '{tmp_path}' is a folder, not a file" in line
    import pathlib

    real_touch = pathlib.Path.touch

    def refuse(self, *args, **kwargs):  # a read-only folder (root ignores chmod, so pretend)
        if self.name.startswith(".p2s-write-test-"):
            raise PermissionError(1, "Operation not permitted", str(self))
        return real_touch(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "touch", refuse)
    line = tiny.one_line_error(_translate(tiny, ckpt("inversion"), pair_dir, tmp_path / "ro"))
    assert f"cannot write in the --output folder '{tmp_path / 'ro'}': Operation not permitted" in line
    assert not (tmp_path / "ro").exists()  # the probe is gone, and the folder it made with it


@pytest.mark.parametrize("args, message", [
    (["--mix", "1", "--seed", "-1"], "Invalid value for '--seed'"),
    (["--mix", "1", "--mix-alpha", "nan"], "--mix-alpha must be in [0, 1]"),
    (["--mix", "1", "--mix-alpha", "5"], "--mix-alpha must be in [0, 1] (0: the input's rows, 1: the random ones)"),
    (["--mix", "1", "--mix-alpha", "-1"], "--mix-alpha must be in [0, 1]"),
])
def test_bad_mix_values_are_refused_before_writing(tiny, ckpt, pair_dir, tmp_path, args, message):
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", pair_dir,
                         "--output", tmp_path / "out", "--device", "cpu", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()


def test_a_pass_cuda_graphs_cannot_record_is_one_line_and_writes_nothing(tiny, ckpt, rgb_dir, tmp_path, monkeypatch):
    import p2s.apis.translator as translator_module

    def refusing_capture(run):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(translator_module, "check_cuda_graphs_device", lambda device: None)
    monkeypatch.setattr(translator_module, "capture_cuda_graph", refusing_capture)
    out = tmp_path / "out"
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", rgb_dir, "--output", out,
        "--device", "cpu", "--cuda-graphs",
    )
    line = tiny.one_line_error(result)
    assert "--cuda-graphs could not record this pass" in line and "run without --cuda-graphs" in line
    assert not out.exists() or not any(out.rglob("*"))  # a failed run leaves no output behind
    assert_clean(tiny, tmp_path)
