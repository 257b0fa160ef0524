"""``Translator``: checkpoints, tasks, style mixing, and agreement with ``p2s translate``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import p2s.utils.precision as precision_module
from p2s.apis.translator import Translation, Translator
from p2s.tasks import Inversion, Seg2Face, Sketch2Face
from p2s.utils.errors import P2SError, P2SWarning

NUM_WS, W_DIM, RES = 6, 8, 16


def as_array(image: Image.Image) -> np.ndarray:
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (RES, RES)
    return np.asarray(image)


# --- agreement with the CLI -------------------------------------------------------------------
def test_translate_images_equals_cli_outputs(tiny, ckpt, inversion, rgb_files, tmp_path):
    out = tmp_path / "cli"
    folder = rgb_files[0].parent
    result = tiny.invoke(
        "translate", "--checkpoint", ckpt("inversion"), "--input", folder, "--output", out,
        "--device", "cpu", "--batch-size", "2",
    )
    assert result.exit_code == 0, result.output
    cli = {p.stem: tiny.read_png(out / f"{p.stem}.png") for p in rgb_files}
    # same batches as the CLI (2, 2, 1), so the float paths are identical
    for start in range(0, len(rgb_files), 2):
        chunk = rgb_files[start:start + 2]
        from_paths = inversion.translate_images(chunk)
        from_pil = inversion.translate_images([Image.open(p) for p in chunk])  # JPEG/WebP/BMP, RGB
        from_str = inversion.translate_images([str(p) for p in chunk])
        assert len(from_paths) == len(from_pil) == len(chunk)
        for path, a, b, c in zip(chunk, from_paths, from_pil, from_str):
            np.testing.assert_array_equal(as_array(a), cli[path.stem], err_msg=path.name)
            np.testing.assert_array_equal(as_array(b), cli[path.stem], err_msg=path.name)
            np.testing.assert_array_equal(as_array(c), cli[path.stem], err_msg=path.name)


def test_translate_returns_images_and_latents(inversion, rgb_files):
    sources = inversion.prepare([inversion.task.load_source(p) for p in rgb_files[:3]])
    assert sources.shape == (3, 3, 256, 256) and sources.dtype == torch.float32
    assert -1.0 <= float(sources.min()) and float(sources.max()) <= 1.0
    result = inversion.translate(sources)
    assert isinstance(result, Translation)
    assert result.images.shape == (3, 3, RES, RES)
    assert result.latents.shape == (3, NUM_WS, W_DIM)
    # codes are latent_avg plus the encoder's residual
    residual = result.latents - inversion.model.latent_avg
    assert float(residual.abs().max()) > 0
    np.testing.assert_allclose(
        result.latents.numpy(), (inversion.model.encoder(sources) + inversion.model.latent_avg).detach().numpy(),
        rtol=0, atol=1e-6,
    )
    arrays = result.to_uint8()
    assert arrays.shape == (3, RES, RES, 3) and arrays.dtype == np.uint8
    expected = (torch.clamp((result.images + 1) / 2, 0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(arrays, expected)


def test_resize_outputs_pools_to_256(ckpt, inversion, rgb_files):
    big = Translator.from_checkpoint(ckpt("inversion"), device="cpu", resize_outputs=True)
    (image,) = big.translate_images(rgb_files[:1])
    assert image.size == (256, 256) and image.mode == "RGB"
    (small,) = inversion.translate_images(rgb_files[:1])
    diff = np.asarray(image)[::16, ::16].astype(int) - np.asarray(small).astype(int)
    assert np.abs(diff).max() <= 1


# --- other tasks -------------------------------------------------------------------------------
def test_sketch_checkpoint(tiny, ckpt, tmp_path):
    translator = Translator.from_checkpoint(ckpt("sketch"), device="cpu")
    assert isinstance(translator.task, Sketch2Face)
    assert translator.model.encoder.in_channels == 1
    paths = [tiny.write_sketch(tmp_path / f"s{k}.png", seed=k) for k in range(2)]
    outputs = [as_array(im) for im in translator.translate_images(paths)]
    assert not np.array_equal(outputs[0], outputs[1])
    source = translator.prepare([translator.task.load_source(paths[0])])
    assert source.shape == (1, 1, 256, 256)
    assert float(source.min()) >= 0.0 and float(source.max()) <= 1.0  # sketches are not normalised
    # an RGB copy of the grey sketch is converted to 'L' and gives the same face
    rgb = Image.open(paths[0]).convert("RGB")
    np.testing.assert_array_equal(as_array(translator.translate_images([rgb])[0]), outputs[0])


def test_seg_checkpoint(tiny, ckpt, tmp_path):
    translator = Translator.from_checkpoint(ckpt("seg"), device="cpu")
    assert isinstance(translator.task, Seg2Face)
    paths = [tiny.write_label_map(tmp_path / f"m{k}.png", seed=k) for k in range(2)]
    sources = translator.prepare([translator.task.load_source(p) for p in paths])
    assert sources.shape == (2, 19, 256, 256)
    # one-hot: exactly one class per pixel
    torch.testing.assert_close(sources.sum(dim=1), torch.ones(2, 256, 256))
    outputs = [as_array(im) for im in translator.translate_images(paths)]
    assert not np.array_equal(outputs[0], outputs[1])
    # a PIL label map in memory gives the same result as its file
    in_memory = Image.open(paths[1])
    np.testing.assert_array_equal(as_array(translator.translate_images([paths[0], in_memory])[1]), outputs[1])


def test_superres_resize_factor(ckpt, rgb_files):
    default = Translator.from_checkpoint(ckpt("superres"), device="cpu")
    assert default.task.resize_factor == 16
    x4 = Translator.from_checkpoint(ckpt("superres"), device="cpu", resize_factor=4)
    x16 = Translator.from_checkpoint(ckpt("superres"), device="cpu", resize_factor=16)
    assert x4.task.resize_factor == 4
    image = rgb_files[3]  # 80x60 webp
    a4, a16, a_default = (as_array(t.translate_images([image])[0]) for t in (x4, x16, default))
    assert not np.array_equal(a4, a16)
    np.testing.assert_array_equal(a16, a_default)
    # the degradation reaches the encoder input
    s4, s16 = (t.prepare([t.task.load_source(image)]) for t in (x4, x16))
    assert not torch.equal(s4, s16)
    with pytest.raises(P2SError, match=r"resize_factor must be one of \(1, 2, 4, 8, 16, 32\), got 3"):
        Translator.from_checkpoint(ckpt("superres"), device="cpu", resize_factor=3)


def test_task_option_unknown_to_the_task(ckpt):
    with pytest.raises(P2SError, match="has no option 'resize_factor'"):
        Translator.from_checkpoint(ckpt("inversion"), device="cpu", resize_factor=8)


def test_channel_mismatch_between_task_and_encoder(tiny):
    model = tiny.build_tiny_model(in_channels=3)
    with pytest.raises(P2SError, match="task 'sketch2face' makes 1-channel sources but the encoder takes 3"):
        Translator(model, Sketch2Face(), device="cpu")
    seg_model = tiny.build_tiny_model(in_channels=19)
    with pytest.raises(P2SError, match="task 'inversion' makes 3-channel sources but the encoder takes 19"):
        Translator(seg_model, Inversion(), device="cpu")
    assert Translator(seg_model, Seg2Face(), device="cpu").task.source_channels == 19


# --- style mixing and interpolation ------------------------------------------------------------
def test_mixing_latents_are_seeded(inversion):
    a = inversion.mixing_latents(3, np.random.RandomState(7))
    b = inversion.mixing_latents(3, np.random.RandomState(7))
    c = inversion.mixing_latents(3, np.random.RandomState(8))
    assert a.shape == (3, NUM_WS, W_DIM)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    # one W per z, repeated on every row; three z, three different W
    torch.testing.assert_close(a, a[:, :1].expand_as(a), rtol=0, atol=0)
    assert not torch.equal(a[0], a[1]) and not torch.equal(a[1], a[2])
    # the official draw: randn(count, w_dim) in float32 through the mapping network
    z = np.random.RandomState(7).randn(3, W_DIM).astype("float32")
    with torch.no_grad():
        torch.testing.assert_close(a[:, 0], inversion.model.decoder.mapping(torch.from_numpy(z)))


def test_style_mix_replaces_exactly_the_given_rows(inversion, rgb_files):
    source = inversion.prepare([inversion.task.load_source(rgb_files[0])])[0]
    with torch.no_grad():
        codes = inversion.model.encode(source[None])[0]
    inject = inversion.mixing_latents(2, np.random.RandomState(0))
    layers = [1, 4]
    result = inversion.style_mix(source, inject, layers)
    assert result.latents.shape == (2, NUM_WS, W_DIM) and result.images.shape == (2, 3, RES, RES)
    kept = [i for i in range(NUM_WS) if i not in layers]
    for k in range(2):
        torch.testing.assert_close(result.latents[k, layers], inject[k, layers], rtol=0, atol=0)
        torch.testing.assert_close(result.latents[k, kept], codes[kept], rtol=0, atol=1e-6)
    assert not torch.equal(result.images[0], result.images[1])

    half = inversion.style_mix(source, inject, layers, alpha=0.5)
    torch.testing.assert_close(half.latents[:, layers], 0.5 * inject[:, layers] + 0.5 * codes[layers])
    torch.testing.assert_close(half.latents[:, kept], codes[kept].expand(2, -1, -1), rtol=0, atol=1e-6)

    with pytest.raises(P2SError, match=r"mix layers \[6\] are outside 0..5"):
        inversion.style_mix(source, inject, [5, 6])


def test_interpolate_ends_are_the_two_codes(inversion, rgb_files):
    a, b = (inversion.prepare([inversion.task.load_source(p)])[0] for p in rgb_files[:2])
    path = inversion.interpolate(a, b, 5)
    assert path.images.shape == (5, 3, RES, RES) and path.latents.shape == (5, NUM_WS, W_DIM)
    with torch.no_grad():
        codes = inversion.model.encode(torch.stack([a, b]))
    torch.testing.assert_close(path.latents[0], codes[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(path.latents[-1], codes[1], rtol=0, atol=1e-6)
    torch.testing.assert_close(path.latents[2], (codes[0] + codes[1]) / 2)
    for steps in (1, 2.5, True, "3"):
        with pytest.raises(P2SError, match=r"--steps must be an integer of at least 2 \(both ends\)"):
            inversion.interpolate(a, b, steps)


def test_randomize_noise_in_the_api(ckpt, rgb_files):
    fixed = Translator.from_checkpoint(ckpt("noisy"), device="cpu")
    fresh = Translator.from_checkpoint(ckpt("noisy"), device="cpu", randomize_noise=True)
    assert (fixed.noise_mode, fresh.noise_mode) == ("const", "random")
    once, twice = (np.asarray(fixed.translate_images(rgb_files[:1])[0]) for _ in range(2))
    np.testing.assert_array_equal(once, twice)
    torch.manual_seed(0)
    r1 = np.asarray(fresh.translate_images(rgb_files[:1])[0])
    r2 = np.asarray(fresh.translate_images(rgb_files[:1])[0])
    assert not np.array_equal(r1, r2)


# --- fast paths against the exact path -----------------------------------------------------------
def test_bf16_stays_close_to_fp32(ckpt, rgb_files):
    exact = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", P2SWarning)  # CI's CPU has no bf16 kernels: it warns
        fast = Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision="bf16")
    sources = exact.prepare([exact.task.load_source(p) for p in rgb_files[:2]])
    a, b = exact.translate(sources), fast.translate(sources)
    assert b.images.dtype == torch.float32 and b.latents.dtype == torch.float32
    rel = (b.latents - a.latents).norm() / a.latents.norm()
    assert rel < 2e-2, rel
    levels = np.abs(a.to_uint8().astype(int) - b.to_uint8().astype(int))
    assert levels.mean() < 4, levels.mean()


@pytest.mark.parametrize(("precision", "expected"), [("fp32", (False, False)), ("tf32", (True, True))])
def test_float32_precisions_run_every_pass_under_their_tf32_switches(ckpt, rgb_files, precision, expected):
    # fp32 must be IEEE float32 on a GPU too, where PyTorch's default lets cuDNN convolve in TF32
    t = Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision=precision)
    seen = []

    def recording(run):
        def wrapped(*args, **kwargs):
            seen.append((run.__name__, torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
            return run(*args, **kwargs)
        return wrapped

    t._encode, t._decode = recording(t._encode), recording(t._decode)
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    source = t.prepare([t.task.load_source(rgb_files[0])])
    t.translate(source)
    t.decode(t.encode(source))
    t.interpolate(source[0], source[0], steps=2)
    t.style_mix(source[0], t.mixing_latents(2, 0), [1])
    assert {name for name, *_ in seen} == {"encode", "decode"} and len(seen) == 8
    assert {tuple(flags) for _, *flags in seen} == {expected}
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_tf32_on_a_cpu_is_fp32_bit_for_bit(ckpt, rgb_files):
    exact = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    tf32 = Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision="tf32")
    sources = exact.prepare([exact.task.load_source(p) for p in rgb_files[:2]])
    a, b = exact.translate(sources), tf32.translate(sources)
    assert torch.equal(a.images, b.images) and torch.equal(a.latents, b.latents)


@pytest.mark.parametrize("has_kernels", [False, True])
def test_bf16_on_a_cpu_without_bf16_kernels_warns(ckpt, monkeypatch, has_kernels):
    monkeypatch.setattr(precision_module, "cpu_has_bf16_kernels", lambda: has_kernels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision="bf16")
        Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision="fp32")
    ours = [w for w in caught if issubclass(w.category, P2SWarning)]
    if has_kernels:
        assert ours == []
    else:
        assert len(ours) == 1, [str(w.message) for w in ours]  # bf16 only, not fp32
        assert "about 15x slower than fp32" in str(ours[0].message)
        assert "use --precision fp32" in str(ours[0].message)


def test_the_bf16_kernel_probe_reads_onednn():
    # the probe is a private op: if a PyTorch release drops it, the warning would fire everywhere
    assert torch.ops.mkldnn._is_mkldnn_bf16_supported() == precision_module.cpu_has_bf16_kernels()
    if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2"):  # no AVX-512: no bf16 kernels
        assert not precision_module.cpu_has_bf16_kernels()


def test_channels_last_matches_contiguous(ckpt, rgb_files):
    nhwc = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    assert nhwc.model.encoder.input_layer[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert nhwc.model.decoder.memory_format == torch.channels_last
    from p2s.apis.checkpoint import build_task, build_translation_model, read_translation_checkpoint

    read = read_translation_checkpoint(ckpt("inversion"))
    nchw = Translator(build_translation_model(read, "test"), build_task(read.task), "cpu", channels_last=False)
    sources = nhwc.prepare([nhwc.task.load_source(p) for p in rgb_files[:2]])
    assert nchw.model.decoder.memory_format == torch.contiguous_format
    fast, exact = nhwc.translate(sources), nchw.translate(sources)
    torch.testing.assert_close(fast.latents, exact.latents, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.images, exact.images, rtol=1e-4, atol=1e-5)


def test_unknown_precision_is_refused(ckpt):
    with pytest.raises(P2SError, match="fp32, tf32, bf16"):
        Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision="fp8")


# --- reading a checkpoint runs no code from it ----------------------------------------------------
def test_config_text_in_a_checkpoint_is_never_executed(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"cfg": f"open({str(marker)!r}, 'w').write('x')\nmodel = dict()"}}, path)
    with pytest.raises(P2SError, match="neither pSp 'opts' nor a p2s config"):
        Translator.from_checkpoint(path, device="cpu")
    assert not marker.exists()


def test_checkpoint_may_import_only_plugin_packages(ckpt, tmp_path):
    payload = torch.load(ckpt("inversion"), weights_only=True)
    payload["p2s"]["custom_imports"] = ["antigravity"]
    path = tmp_path / "imports.pth"
    torch.save(payload, path)
    with pytest.raises(P2SError, match="asks to import 'antigravity'; only p2s_plugins"):
        Translator.from_checkpoint(path, device="cpu")


@pytest.mark.parametrize("part", ["model", "task", "encoder"])
def test_a_type_in_a_checkpoint_names_only_registered_classes(part, ckpt, tmp_path):
    """MMEngine's ``Registry.get`` imports any dotted path it does not know: a ``type``
    read from a file (data) saying ``os.system`` would run a command."""
    marker = tmp_path / "ran"
    payload = torch.load(ckpt("inversion"), weights_only=True)
    evil = {"type": "os.system", "command": f"touch {marker}"}
    if part == "encoder":
        payload["p2s"]["model"]["encoder"] = evil
    else:
        payload["p2s"][part] = evil
    path = tmp_path / "evil.pth"
    torch.save(payload, path)
    with pytest.raises(P2SError, match="unknown .* type 'os.system'"):
        Translator.from_checkpoint(path, device="cpu")
    assert not marker.exists()


@pytest.mark.parametrize("payload, expected", [
    ({"state_dict": None, "opts": {}}, "'state_dict' holds a NoneType, not a dict"),
    ({"state_dict": {}, "opts": None}, "'opts' holds a NoneType, not a dict"),
    ({"state_dict": [1], "opts": {}}, "'state_dict' holds a list, not a dict"),
    ({"state_dict": {}, "opts": {"output_size": "1k"}}, "pSp opts 'output_size' must be a positive integer, got '1k'"),
    ({"state_dict": {}, "opts": {"input_nc": 0}}, "pSp opts 'input_nc' must be a positive integer, got 0"),
    ({"state_dict": {}, "opts": {"encoder_type": ["x"]}}, "unknown pSp encoder_type"),
    ({"state_dict": {}, "p2s": {"model": "PSP", "task": {}}}, "its model config holds a str, not a dict"),
])
def test_a_damaged_checkpoint_is_one_line_naming_it(payload, expected, tmp_path):
    path = tmp_path / "damaged.pt"
    torch.save(payload, path)
    with pytest.raises(P2SError) as err:
        Translator.from_checkpoint(path, device="cpu")
    assert expected in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_readme_python_example_runs(ckpt, rgb_files, tmp_path, monkeypatch):
    """The README's 'From Python' block, run as written on a tiny checkpoint (its
    ``decode`` returns a Translation: the block once called that the images)."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("From Python:\n\n```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    Image.open(rgb_files[0]).save("face.jpg")
    Image.open(rgb_files[1]).save("other.png")
    np.save("smile.npy", np.ones(W_DIM, dtype=np.float32))
    names: dict = {}
    exec(block.replace("pretrained/psp_ffhq_encode.pt", str(ckpt("inversion"))), names)  # noqa: S102
    assert len(names["faces"]) == 2 and names["images"].shape == (1, 3, RES, RES)
    assert names["result"].to_uint8().shape == (1, RES, RES, 3)
