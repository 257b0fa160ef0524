"""StyleGAN2Generator: rosinality layout, weight loading, latents and noise modes."""

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from p2s.generators import BaseGenerator, StyleGAN2Generator, check_shape
from p2s.registry import GENERATORS
from p2s.utils.build import build
from p2s.utils.errors import CheckpointMismatchError, MissingWeightsError, P2SError

REPO = Path(__file__).resolve().parents[2]
TINY = dict(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)


def shared_dir() -> Path:
    """``shared/`` beside the repo (or ``$P2S_SHARED``); skip when absent unless required."""
    path = Path(os.environ.get("P2S_SHARED", REPO.parent / "shared"))
    if not (path / "formats").is_dir():
        if os.environ.get("P2S_REQUIRE_SHARED") == "1":
            pytest.fail(f"P2S_REQUIRE_SHARED=1 but {path / 'formats'} does not exist")
        pytest.skip(f"format manifests not found at {path / 'formats'} (set P2S_SHARED)")
    return path


def read_manifest(path: Path) -> list[tuple[str, list[int], str]]:
    """``(key, shape, kind)`` rows of a manifest ``.tsv`` (comments and header skipped)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    header, *rows = (ln.split("\t") for ln in lines)
    assert header[:4] == ["key", "shape", "dtype", "kind"]
    return [(key, json.loads(shape), kind) for key, shape, _dtype, kind in rows]


@pytest.fixture
def tiny() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(**TINY).eval()


# --- layout ------------------------------------------------------------------------
@pytest.mark.parametrize("resolution", [256, 1024])
def test_state_dict_matches_official_manifest(resolution):
    rows = read_manifest(shared_dir() / "formats" / f"stylegan2_g_ema_{resolution}_config-f.tsv")
    model = StyleGAN2Generator(resolution=resolution)
    own = model.state_dict()
    assert list(own) == [key for key, _, _ in rows]  # same keys, same order
    assert {k: list(v.shape) for k, v in own.items()} == {k: s for k, s, _ in rows}
    params = {k for k, _ in model.named_parameters()}
    assert params == {k for k, _, kind in rows if kind == "param"}
    model.load_state_dict({k: torch.zeros(s) for k, s, _ in rows}, strict=True)
    assert model.num_ws == {256: 14, 1024: 18}[resolution]


def test_fir_kernels_are_the_official_constants(tiny):
    taps = torch.tensor([1.0, 3, 3, 1])
    expected = torch.outer(taps, taps) / 64 * 4
    kernels = {k: v for k, v in tiny.state_dict().items() if k.endswith(".kernel")}
    assert set(kernels) == {"convs.0.conv.blur.kernel", "convs.2.conv.blur.kernel",
                            "to_rgbs.0.upsample.kernel", "to_rgbs.1.upsample.kernel"}
    for value in kernels.values():
        torch.testing.assert_close(value, expected)


@pytest.mark.parametrize("resolution,num_ws", [(8, 4), (16, 6), (64, 10), (256, 14), (1024, 18)])
def test_num_ws_and_noise_layers(resolution, num_ws):
    model = StyleGAN2Generator(resolution=resolution, w_dim=4, n_mlp=1, channel_max=4)
    assert model.num_ws == num_ws == 2 * (resolution.bit_length() - 1) - 2
    sizes = [b.shape[-1] for b in model.noises.buffers()]
    assert len(sizes) == num_ws - 1 and sizes[-1] == resolution and sizes[0] == 4


@pytest.mark.parametrize("resolution", [4, 12, 2048, 0, "256"])
def test_rejects_bad_resolution(resolution):
    with pytest.raises(ValueError, match="power of two between 8 and 1024"):
        StyleGAN2Generator(resolution=resolution)


def test_registered_and_buildable():
    model = build(GENERATORS, dict(type="StyleGAN2Generator", **TINY), base=BaseGenerator)
    assert isinstance(model, StyleGAN2Generator) and model.resolution == 16


# --- synthesis ---------------------------------------------------------------------
def test_tiny_generator_smoke(tiny):
    with torch.no_grad():
        img = tiny.generate_from_z(torch.randn(2, 8))
    assert img.shape == (2, 3, 16, 16)
    assert torch.isfinite(img).all()


def test_noise_modes(tiny):
    ws = torch.randn(2, tiny.num_ws, 8)
    with torch.no_grad():
        for conv in [tiny.conv1, *tiny.convs]:
            conv.noise.weight.fill_(0.5)  # make noise visible in the output
        const_a, const_b = tiny(ws, "const"), tiny(ws, "const")
        rand_a, rand_b = tiny(ws, "random"), tiny(ws, "random")
        none = tiny.synthesis(ws, "none")
        zeros = [torch.zeros(1, 1, b.shape[-1], b.shape[-1]) for b in tiny.noises.buffers()]
        explicit = tiny.synthesis(ws, "random", noise=zeros)
    assert torch.equal(const_a, const_b)
    assert not torch.allclose(rand_a, rand_b)
    assert not torch.allclose(const_a, none)
    torch.testing.assert_close(explicit, none)
    with pytest.raises(ValueError, match="noise_mode"):
        tiny(ws, "fresh")


def test_w_input_equals_repeated_wplus(tiny):
    w = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(tiny(w), tiny(w[:, None].repeat(1, tiny.num_ws, 1)))


def test_wplus_rows_reach_their_layers(tiny):
    """Changing only the last W+ row (last ToRGB) must change the image."""
    ws = torch.randn(1, tiny.num_ws, 8)
    other = ws.clone()
    other[:, -1] += 1
    with torch.no_grad():
        assert not torch.allclose(tiny(ws), tiny(other))


@pytest.mark.parametrize("shape", [(2, 5, 8), (2, 6, 9), (2, 9), (6, 8, 1, 1)])
def test_bad_ws_shape_names_expected(tiny, shape):
    with pytest.raises(ValueError, match=r"expected shape \[\*, (6, )?8\]"):
        tiny(torch.randn(*shape))


def test_check_shape_wildcards():
    check_shape(torch.zeros(3, 4), [None, 4], "x")
    with pytest.raises(ValueError, match=r"x: expected shape \[\*, 5\] .*got \[3, 4\]"):
        check_shape(torch.zeros(3, 4), [None, 5], "x")


# --- latents -----------------------------------------------------------------------
def test_mean_latent_deterministic(tiny):
    a = tiny.mean_latent(1000, seed=3, chunk=300)
    b = tiny.mean_latent(1000, seed=3, chunk=1000)
    c = tiny.mean_latent(1000, seed=4)
    assert a.shape == (8,)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_truncation(tiny):
    z = torch.randn(4, 8)
    center = torch.randn(8)
    with torch.no_grad():
        w = tiny.mapping(z)
        torch.testing.assert_close(tiny.mapping(z, truncation=1.0, truncation_latent=center), w)
        collapsed = tiny.mapping(z, truncation=0.0, truncation_latent=center)
        torch.testing.assert_close(collapsed, center.expand(4, 8))
    with pytest.raises(ValueError, match="truncation_latent"):
        tiny.mapping(z, truncation=0.5)


# --- weight files --------------------------------------------------------------------
def test_load_weights_with_latent_avg(tiny, tmp_path):
    path = tmp_path / "g.pt"
    latent_avg = torch.randn(8)
    torch.save({"g_ema": tiny.state_dict(), "latent_avg": latent_avg}, path)
    torch.manual_seed(1)
    loaded = StyleGAN2Generator(**TINY, weights=str(path)).eval()
    torch.testing.assert_close(loaded.file_latent_avg, latent_avg)
    assert "latent_avg" not in loaded.state_dict()
    ws = torch.randn(1, tiny.num_ws, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ws), tiny(ws))
        torch.testing.assert_close(loaded.mapping(torch.zeros(1, 8), 0.0), latent_avg[None])


def test_load_bare_state_dict_without_kernels(tiny, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save({k: v for k, v in tiny.state_dict().items() if not k.endswith(".kernel")}, path)
    model = StyleGAN2Generator(**TINY)
    model.load_weights(path)
    assert model.file_latent_avg is None
    torch.testing.assert_close(model.noises.noise_3, tiny.noises.noise_3)


def test_load_wrong_shape_is_one_line_naming_key(tiny, tmp_path):
    state = tiny.state_dict()
    state["convs.1.conv.weight"] = torch.zeros(1, 2, 2, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save({"g_ema": state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        StyleGAN2Generator(**TINY).load_weights(path)
    message = str(info.value)
    assert "convs.1.conv.weight" in message and "\n" not in message


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope" / "stylegan2-ffhq-config-f.pt"
    with pytest.raises(MissingWeightsError) as info:
        StyleGAN2Generator(**TINY, weights=path)
    assert str(path.resolve()) in str(info.value)
    # the advice covers the AFHQ (StyleGAN2-ADA) and toon generators too, not only FFHQ's
    assert "p2s convert ada-pkl" in str(info.value) and "the config's comment names its generator" in str(info.value)


def test_load_wrong_key_says_so(tiny, tmp_path):
    path = tmp_path / "g_only.pt"
    torch.save({"g": tiny.state_dict(), "d": {}}, path)
    with pytest.raises(CheckpointMismatchError, match="no 'g_ema' entry"):
        StyleGAN2Generator(**TINY, weights=path)
    StyleGAN2Generator(**TINY, weights=path, weights_key="g")


def test_a_translation_checkpoint_given_as_generator_weights_says_where_it_goes(tiny, tmp_path):
    path = tmp_path / "psp.pt"
    torch.save({"state_dict": {f"decoder.{k}": v for k, v in tiny.state_dict().items()}, "opts": {}}, path)
    with pytest.raises(CheckpointMismatchError, match=r"is a translation or training checkpoint \(it holds "
                       r"'state_dict'\), not StyleGAN2 weights with a 'g_ema' entry: give it where a translation "
                       r"checkpoint goes \(--checkpoint"):
        StyleGAN2Generator(**TINY, weights=path)


def test_gradients_reach_ws(tiny):
    """pSp trains the encoder through the frozen generator, so ws must get gradients."""
    ws = torch.randn(2, tiny.num_ws, 8, requires_grad=True)
    tiny(ws).square().mean().backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0


# --- fast inference paths -----------------------------------------------------------
@pytest.mark.parametrize("mode", ["batched", "per_sample"])
@pytest.mark.parametrize("batch", [1, 2])
def test_inference_in_place_path_equals_autograd_path(tiny, mode, batch):
    """Without autograd the layers work in place; the images are the same bits."""
    from p2s.generators.layers import set_modulation_mode

    set_modulation_mode(tiny, mode)
    ws = torch.randn(batch, tiny.num_ws, 8)
    with torch.no_grad():
        fast = tiny.synthesis(ws)
    tracked = tiny.synthesis(ws.clone().requires_grad_())
    assert tracked.requires_grad
    assert torch.equal(fast, tracked.detach())


def test_channels_last_synthesis_matches_nchw(tiny):
    ws = torch.randn(2, tiny.num_ws, 8)
    seen = []
    hook = tiny.convs[-1].register_forward_hook(
        lambda _m, _i, out: seen.append(out.is_contiguous(memory_format=torch.channels_last))
    )
    with torch.no_grad():
        nchw = tiny.synthesis(ws)
        tiny.set_memory_format(torch.channels_last)
        nhwc = tiny.synthesis(ws)
    hook.remove()
    assert seen == [False, False, True, True]  # per sample, and the layout really changed
    torch.testing.assert_close(nhwc, nchw, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="channels_last"):
        tiny.set_memory_format(torch.preserve_format)


def test_bf16_autocast_accumulates_the_image_in_float32(tiny):
    """In-place adds must not pull the RGB skip sum down to bfloat16."""
    ws = torch.randn(2, tiny.num_ws, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        image = tiny.synthesis(ws)
    assert image.dtype == torch.float32
    with torch.no_grad():
        reference = tiny.synthesis(ws)
    assert (image - reference).abs().mean() < 0.05


@pytest.mark.parametrize("route", ["training", "inference"])
def test_bf16_autocast_keeps_every_layer_in_bf16(tiny, monkeypatch, route):
    """Under bf16 autocast each synthesis layer's output stays bfloat16 on the GPU's batched
    route: a float32 operand (the noise term, the demodulation coefficients, which CUDA's
    autocast computes in float32 as its rsqrt rule says: simulated here) would promote the
    activations to float32 and double the memory traffic of every layer after it."""
    from p2s.generators.layers import ModulatedConv2d, StyledConv, set_modulation_mode

    real = ModulatedConv2d.demodulation
    monkeypatch.setattr(ModulatedConv2d, "demodulation", lambda self, styles: real(self, styles).float())
    set_modulation_mode(tiny, "batched")
    dtypes = []
    for layer in tiny.modules():
        if isinstance(layer, StyledConv):
            layer.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    ws = torch.randn(2, tiny.num_ws, 8)
    with torch.set_grad_enabled(route == "training"), torch.autocast("cpu", dtype=torch.bfloat16):
        image = tiny.synthesis(ws, noise_mode="random")  # fresh noise: NoiseInjection's own route
        image_const = tiny.synthesis(ws, noise_mode="const")  # stored float32 noise buffers
    assert len(dtypes) == 2 * tiny.num_layers and set(dtypes) == {torch.bfloat16}, dtypes
    assert image.dtype == image_const.dtype == torch.float32  # the RGB sum stays float32


def test_cpu_inference_batch_renders_each_sample_alone(tiny):
    """Per-sample modulation renders sample by sample: the batch result is each sample's
    own image, with its share of per-sample noise and the shared constant noise."""
    ws = torch.randn(3, tiny.num_ws, 8)
    noise = [None] * tiny.num_layers
    noise[2] = torch.randn(3, 1, 8, 8)  # one per-sample entry among the constant buffers
    with torch.no_grad():
        batch = tiny.synthesis(ws, noise=noise)
        for i in range(3):
            own = list(noise)
            own[2] = noise[2][i : i + 1]
            assert torch.equal(batch[i : i + 1], tiny.synthesis(ws[i : i + 1], noise=own))
        assert tiny._renders_per_sample(3, torch.device("cpu"))
    assert not tiny._renders_per_sample(3, torch.device("cpu"))  # training: batched route


@pytest.mark.parametrize("bad", [{1: torch.zeros(1)}, {"g_ema": {("a", 1): torch.zeros(1)}},
                                 {"g_ema": {"input.input": [0.0]}}])
def test_load_non_state_dict_is_one_line_naming_file(tmp_path, bad):
    path = tmp_path / "odd.pt"
    torch.save(bad, path)
    with pytest.raises(CheckpointMismatchError) as info:
        StyleGAN2Generator(**TINY, weights=path)
    message = str(info.value)
    assert "\n" not in message and f"'{path}'" in message and "not a state dict" in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_load_nonfinite_latent_avg_is_refused(tiny, tmp_path, bad):
    latent_avg = torch.zeros(8)
    latent_avg[3] = bad
    path = tmp_path / "diverged.pt"
    torch.save({"g_ema": tiny.state_dict(), "latent_avg": latent_avg}, path)
    with pytest.raises(P2SError) as info:
        StyleGAN2Generator(**TINY, weights=path)
    message = str(info.value)
    assert "\n" not in message and f"'{path}'" in message and "NaN or infinite values in 'latent_avg'" in message


def test_load_rosinality_train_checkpoint_with_argparse_args(tiny, tmp_path):
    """rosinality's train.py stores ``args`` as an argparse.Namespace (shared/formats)."""
    path = tmp_path / "100000.pt"
    torch.save({"g": tiny.state_dict(), "d": {}, "g_ema": tiny.state_dict(), "g_optim": {}, "d_optim": {},
                "args": argparse.Namespace(size=16, iter=100000, path="lmdb"), "ada_aug_p": 0.0}, path)
    loaded = StyleGAN2Generator(**TINY, weights=path).eval()
    assert loaded.file_latent_avg is None
    ws = torch.randn(1, tiny.num_ws, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ws), tiny(ws))
    assert argparse.Namespace not in torch.serialization.get_safe_globals()  # allowed only during p2s's load
