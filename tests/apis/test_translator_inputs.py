"""``Translator``'s input checks, the ``p2s.apis`` exports, mixing draws, batching and
latents that can be optimised."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import p2s.apis.translator as translator_module
from p2s.apis.translator import Translation, Translator
from p2s.tasks import Inversion
from p2s.utils.errors import P2SError

NUM_WS, W_DIM, SIZE = 6, 8, 256  # the tiny checkpoints: 256 px sources, 6 W+ rows of 8


@pytest.fixture(scope="module")
def sources(inversion, rgb_files) -> torch.Tensor:
    return inversion.prepare(rgb_files[:2])


def message(call, *args, **kwargs) -> str:
    with pytest.raises(P2SError) as err:
        call(*args, **kwargs)
    return str(err.value)


# --- exports ----------------------------------------------------------------------------------
def test_package_exports_translator_and_translation():
    import p2s.apis

    assert p2s.apis.Translator is Translator and p2s.apis.Translation is Translation
    assert {"Translator", "Translation", "Projector", "ProjectionResult"} <= set(p2s.apis.__all__)
    from p2s.apis.projector import Projector
    from p2s.evaluation import l2

    assert p2s.apis.Projector is Projector and l2 is not None


def test_package_import_has_no_cycle_in_a_fresh_interpreter():
    code = "from p2s.apis import Translator; import p2s.cli.main; import p2s.apis.files; print(Translator.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Translator"


# --- source tensors -------------------------------------------------------------------------
PREPARED = "sources must be float tensors prepared by the task (Translator.prepare)"
BAD_BATCHES = {
    "numpy": (np.zeros((1, 3, SIZE, SIZE), np.float32), f"{PREPARED}, got a numpy array; wrap it with torch.from_numpy"),
    "list": ([torch.zeros(3, SIZE, SIZE)], f"{PREPARED}, got a list; for images or paths use translate_images()"),
    "uint8": (torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8), f"{PREPARED}, got torch.uint8"),
    "3-d": (
        torch.zeros(3, SIZE, SIZE),
        "{method}() takes a batch [N, C, H, W] of sources, got [3, 256, 256]; for one source use source.unsqueeze(0)",
    ),
    "empty": (torch.zeros(0, 3, SIZE, SIZE), "{method}() got an empty batch of sources [0, 3, 256, 256]"),
    "channels": (torch.zeros(1, 1, SIZE, SIZE), "sources have 1 channels but the encoder takes 3 (shape [1, 1, 256, 256])"),
    "larger": (
        torch.zeros(1, 3, 2 * SIZE, 2 * SIZE),
        "sources are 512x512 but the encoder takes 256x256; make them with Translator.prepare",
    ),
    "smaller": (
        torch.zeros(1, 3, 128, SIZE),
        "sources are 128x256 but the encoder takes 256x256; make them with Translator.prepare",
    ),
}


@pytest.mark.parametrize("method", ["translate", "encode"])
@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batches_are_one_line(inversion, method, case):
    sources, expected = BAD_BATCHES[case]
    assert message(getattr(inversion, method), sources) == expected.format(method=method)


def test_a_larger_picture_no_longer_multiplies_the_batch(inversion, sources):
    """The 4x-batch trap: twice the side used to give four times the latents."""
    doubled = torch.nn.functional.interpolate(sources[:1], scale_factor=2)
    with pytest.raises(P2SError, match="sources are 512x512"):
        inversion.encode(doubled)
    assert inversion.encode(sources[:1]).shape == (1, NUM_WS, W_DIM)


def test_other_float_dtypes_are_accepted(inversion, sources):
    latents = inversion.encode(sources.to(torch.float64))
    torch.testing.assert_close(latents, inversion.encode(sources))


def test_style_mix_takes_one_source(inversion, sources):
    inject = inversion.mixing_latents(2, 0)
    assert message(inversion.style_mix, sources[:1], inject, [0]) == (
        "style_mix() takes one source [C, H, W], got [1, 3, 256, 256]; pick one with sources[k]"
    )
    assert message(inversion.style_mix, sources[0].to(torch.uint8), inject, [0]) == f"{PREPARED}, got torch.uint8"
    assert message(inversion.style_mix, sources[0, :, :128], inject, [0]) == (
        "sources are 128x256 but the encoder takes 256x256; make them with Translator.prepare"
    )
    assert message(inversion.style_mix, sources[0], inject[:0], [0]) == (
        "style_mix() got no latents to inject (inject is empty)"
    )
    assert inversion.style_mix(sources[0], inject, [0]).images.shape[0] == 2


def test_interpolate_takes_two_single_sources(inversion, sources):
    assert message(inversion.interpolate, sources[0], sources[1:], 3) == (
        "interpolate() takes one source [C, H, W], got [1, 3, 256, 256]; pick one with sources[k]"
    )
    assert inversion.interpolate(sources[0], sources[1], 3).latents.shape == (3, NUM_WS, W_DIM)


# --- task and encoder sizes at construction --------------------------------------------------
def test_task_image_size_must_be_the_encoder_input_size(tiny, ckpt):
    expected = ("task 'inversion' makes 128x128 sources but the encoder takes 256x256; "
                "build the task with image_size=256")
    assert message(Translator, tiny.build_tiny_model(), Inversion(image_size=128), device="cpu") == expected
    assert message(Translator.from_checkpoint, ckpt("inversion"), device="cpu", image_size=128) == expected


def test_a_latent_avg_of_the_wrong_shape_names_the_checkpoint(ckpt, tmp_path):
    checkpoint = torch.load(ckpt("inversion"), weights_only=True)
    checkpoint["state_dict"]["latent_avg"] = torch.zeros(3, 5)
    path = tmp_path / "wrong_latent_avg.pt"
    torch.save(checkpoint, path)
    text = message(Translator.from_checkpoint, path, device="cpu")
    assert str(path) in text and text.endswith("latent_avg of shape [3, 5] fits neither [6, 8], [1, 8] nor [8]"), text


def test_shipped_model_sources_fit_its_encoder():
    t = Translator.from_checkpoint("synthfaces-inversion", device="cpu")
    assert t.source_size == t.task.image_size == 64
    assert message(t.encode, torch.zeros(1, 3, 128, 128)) == (
        "sources are 128x128 but the encoder takes 64x64; make them with Translator.prepare"
    )


# --- images and paths --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["prepare", "translate_images"])
def test_no_images_is_one_line(inversion, method):
    assert message(getattr(inversion, method), []) == "no images to translate"


@pytest.mark.parametrize("method", ["prepare", "translate_images"])
def test_a_tensor_is_pointed_to_translate(inversion, sources, method):
    assert message(getattr(inversion, method), sources) == (
        f"{method}() takes PIL images or paths, got a tensor; pass prepared sources to translate()"
    )


def test_items_other_than_images_or_paths_are_refused(inversion, rgb_files):
    assert message(inversion.translate_images, [rgb_files[0], np.zeros((4, 4, 3))]) == (
        "translate_images() takes PIL images or paths, got a ndarray in the list"
    )


@pytest.mark.parametrize("method", ["prepare", "translate_images"])
def test_a_numpy_array_is_pointed_to_pil(inversion, method):
    assert message(getattr(inversion, method), np.zeros((32, 32, 3), np.uint8)) == (
        f"{method}() takes PIL images or paths, got a numpy array; "
        "wrap it as Image.fromarray(array), or pass a prepared tensor to translate()"
    )


@pytest.mark.parametrize("images", [3, None])
def test_something_that_is_no_list_of_images_is_one_line(inversion, images):
    assert message(inversion.prepare, images) == f"prepare() takes PIL images or paths, got a {type(images).__name__}"


def test_mixing_latents_rows_are_their_own(inversion):
    latents = inversion.mixing_latents(2, 0)
    assert latents.shape == (2, NUM_WS, W_DIM)
    before = latents.clone()
    latents[0, 1] += 1  # an expand() view changed every row of sample 0
    assert torch.equal(latents[0, 0], before[0, 0]) and torch.equal(latents[1], before[1])


def test_decoded_latents_are_the_results_own(inversion, sources):
    codes = inversion.encode(sources)
    result = inversion.decode(codes)
    assert result.latents is not codes and torch.equal(result.latents, codes)
    codes += 1
    assert not torch.equal(result.latents, codes)


@pytest.mark.parametrize("inject, shown", [
    (torch.zeros(2, NUM_WS, W_DIM + 1), f"[2, {NUM_WS}, {W_DIM + 1}]"),
    (torch.zeros(2, NUM_WS - 1, W_DIM), f"[2, {NUM_WS - 1}, {W_DIM}]"),
    (torch.zeros(W_DIM), f"[{W_DIM}]"),
    (torch.zeros(2, NUM_WS, W_DIM, dtype=torch.uint8), f"[2, {NUM_WS}, {W_DIM}]"),
    (np.zeros((2, W_DIM), np.float32), "ndarray"),
    (3, "int"),
])
def test_latents_style_mix_cannot_inject_are_one_line(inversion, sources, inject, shown):
    assert message(inversion.style_mix, sources[0], inject, [1]) == (
        f"style_mix() injects float latents [count, {NUM_WS}, {W_DIM}] or [count, {W_DIM}] "
        f"(mixing_latents() draws them), got {shown}")


@pytest.mark.parametrize("layers, expected", [
    ([True], "mix layers must be integer W+ row indices, got True"),
    ([0.7], "mix layers must be integer W+ row indices, got 0.7"),
    ("01", "mix layers must be a sequence of W+ row indices, got '01'"),
    (5, "mix layers must be a sequence of W+ row indices, got 5"),
    ([NUM_WS], f"mix layers [{NUM_WS}] are outside 0..{NUM_WS - 1}"),
])
def test_style_mix_rows_are_integer_indices(inversion, sources, layers, expected):
    assert message(inversion.style_mix, sources[0], inversion.mixing_latents(1, 0), layers) == expected
    assert inversion.style_mix(sources[0], inversion.mixing_latents(1, 0), [np.int64(1)]).images.shape[0] == 1


def test_a_bare_image_or_path_is_a_list_of_one(inversion, rgb_files):
    path = rgb_files[0]
    expected = np.asarray(inversion.translate_images([path])[0])
    for single in (path, str(path), Image.open(path)):
        outputs = inversion.translate_images(single)
        assert len(outputs) == 1
        np.testing.assert_array_equal(np.asarray(outputs[0]), expected)
    torch.testing.assert_close(inversion.prepare(path), inversion.prepare([Image.open(path)]), rtol=0, atol=0)
    assert inversion.prepare(str(path)).shape == (1, 3, SIZE, SIZE)


def test_pil_images_given_to_prepare_are_checked_as_paths_are(ckpt, inversion):
    """An RGB picture for a label-map model, a label outside 0..18 and a 16-bit picture are
    one-line refusals, as they are for files (they were one-hot encoded, a ValueError, all white)."""
    seg = Translator.from_checkpoint(ckpt("seg"), device="cpu")
    labels = np.full((32, 32), 25, np.uint8)
    assert message(seg.prepare, [Image.new("RGB", (32, 32))]) == (
        "image: mode RGB is not accepted by task 'seg2face' (accepted: L, P)"
    )
    assert message(seg.prepare, [Image.fromarray(labels, "L")]) == "image: label value 25 is not a class index 0..18"
    assert "image: mode I;16 is not accepted by task 'inversion'" in message(
        inversion.prepare, [Image.new("I;16", (32, 32), 300)]
    )


def test_translate_images_in_batches(inversion, rgb_files, monkeypatch):
    expected = [np.asarray(im) for k in range(0, 5, 2) for im in inversion.translate_images(rgb_files[k:k + 2])]
    sizes: list[int] = []
    translate = inversion.translate
    monkeypatch.setattr(inversion, "translate", lambda s: sizes.append(len(s)) or translate(s))
    outputs = inversion.translate_images(rgb_files, batch_size=2)
    assert sizes == [2, 2, 1]
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    sizes.clear()
    assert len(inversion.translate_images(rgb_files)) == 5 and sizes == [5]  # None: one batch


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_bad_batch_size(inversion, rgb_files, batch_size):
    assert message(inversion.translate_images, rgb_files[:1], batch_size=batch_size) == (
        f"batch_size must be a whole number of at least 1, got {batch_size!r}"
    )


# --- style mixing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.5"])
def test_mix_alpha_outside_zero_one_is_refused(inversion, sources, alpha):
    inject = inversion.mixing_latents(1, 0)
    assert message(inversion.style_mix, sources[0], inject, [0], alpha) == (
        f"--mix-alpha must be in [0, 1] (0: the input's rows, 1: the random ones), got {alpha}"
    )


def test_mix_alpha_ends_are_accepted(inversion, sources):
    inject = inversion.mixing_latents(1, 0)
    own = inversion.encode(sources[:1])
    torch.testing.assert_close(inversion.style_mix(sources[0], inject, [0, 1], 0.0).latents, own)
    replaced = inversion.style_mix(sources[0], inject, [0, 1], 1).latents
    torch.testing.assert_close(replaced[:, :2], inject[:, :2])


def test_mixing_latents_from_a_seed_is_the_official_draw(inversion):
    from_seed = inversion.mixing_latents(3, 7)
    torch.testing.assert_close(from_seed, inversion.mixing_latents(3, np.random.RandomState(7)), rtol=0, atol=0)
    torch.testing.assert_close(from_seed, inversion.mixing_latents(3, np.int64(7)), rtol=0, atol=0)


def test_mixing_latents_from_a_generator(inversion):
    z = np.random.default_rng(5).standard_normal((2, W_DIM)).astype("float32")
    with torch.no_grad():
        expected = inversion.model.decoder.mapping(torch.from_numpy(z))
    drawn = inversion.mixing_latents(2, np.random.default_rng(5))
    assert drawn.shape == (2, NUM_WS, W_DIM)
    torch.testing.assert_close(drawn[:, 0], expected)


@pytest.mark.parametrize(("count", "rng", "expected"), [
    (2, "7", "rng must be an int seed, np.random.RandomState or np.random.Generator, got a str"),
    (2, None, "rng must be an int seed, np.random.RandomState or np.random.Generator, got a NoneType"),
    (2, -1, "mixing seed must be between 0 and 2**32 - 1, got -1"),
    (0, 7, "mixing_latents() needs a count of at least 1, got 0"),
])
def test_bad_mixing_draws(inversion, count, rng, expected):
    assert message(inversion.mixing_latents, count, rng) == expected


# --- from_checkpoint options --------------------------------------------------------------------------
def test_from_checkpoint_passes_channels_last_and_compile_backend(ckpt, monkeypatch):
    contiguous = Translator.from_checkpoint(ckpt("inversion"), device="cpu", channels_last=False)
    assert contiguous.model.decoder.memory_format == torch.contiguous_format
    compiled: list[tuple[str, str]] = []
    monkeypatch.setattr(Translator, "_compile", lambda self, mode, backend: compiled.append((mode, backend)))
    Translator.from_checkpoint(ckpt("inversion"), device="cpu", compile_mode="default", compile_backend="eager")
    assert compiled == [("default", "eager")]


def test_a_misspelt_keyword_is_one_line(ckpt):
    assert message(Translator.from_checkpoint, ckpt("inversion"), device="cpu", chanels_last=False) == (
        "task 'Inversion' has no option 'chanels_last' (options: image_size)."
    )


# --- outputs are ordinary tensors ------------------------------------------------------------------
def test_latents_can_be_optimised_through_the_generator(inversion, sources):
    translation = inversion.translate(sources[:1])
    assert not translation.latents.is_inference() and not translation.images.is_inference()
    latents = inversion.encode(sources[:1]).requires_grad_()
    target = translation.images + 0.5
    optimiser = torch.optim.SGD([latents], lr=0.1)
    losses = []
    for _ in range(3):
        optimiser.zero_grad()
        loss = (inversion.model.decode(latents) - target).square().mean()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert latents.grad is not None and float(latents.grad.abs().max()) > 0
    assert losses[-1] < losses[0]


def test_mixing_latents_are_ordinary_tensors(inversion):
    assert not inversion.mixing_latents(1, 0).is_inference()
    assert translator_module.check_mix_alpha(None) is None


def test_decode_generates_as_translate_does(inversion, sources):
    plain = inversion.translate(sources)
    again = inversion.decode(plain.latents)
    assert torch.equal(again.images, plain.images) and torch.equal(again.latents, plain.latents)


@pytest.mark.parametrize("codes", [torch.zeros(2, 5, 8), torch.zeros(0, 6, 8), torch.zeros(6, 8),
                                   torch.zeros(1, 6, 8, dtype=torch.int64)])
def test_decode_refuses_codes_of_another_shape(inversion, codes):
    with pytest.raises(P2SError, match=r"decode\(\) takes float W\+ codes \[N, 6, 8\] \(N >= 1\), got"):
        inversion.decode(codes)
