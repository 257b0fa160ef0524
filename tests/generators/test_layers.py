"""StyleGAN2 layers: the batched modulated conv equals the per-sample definition."""

import math

import pytest
import torch
import torch.nn.functional as F

from p2s.generators.layers import (
    EqualLinear,
    ModulatedConv2d,
    PixelNorm,
    StyledConv,
    ToRGB,
    Upsample,
    modulated_conv2d_reference,
)
from p2s.generators.ops import make_fir_kernel, upfirdn2d


def per_sample_modconv(conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Written from the paper: modulate and demodulate the weight per sample, then convolve."""
    out_ch, in_ch, k, _ = conv.weight.shape[1:]
    scale = 1 / math.sqrt(in_ch * k * k)
    s = F.linear(style, conv.modulation.weight / math.sqrt(style.shape[1]), conv.modulation.bias)
    results = []
    for b in range(x.shape[0]):
        w = scale * conv.weight[0] * s[b][None, :, None, None]  # [out, in, k, k]
        if conv.demodulate:
            norm = torch.sqrt((w**2).sum(dim=(1, 2, 3)) + 1e-8)
            w = w / norm[:, None, None, None]
        if conv.upsample:
            y = F.conv_transpose2d(x[b : b + 1], w.permute(1, 0, 2, 3), stride=2)
            y = upfirdn2d(y, make_fir_kernel((1, 3, 3, 1), gain=4), pad=(1, 1))
        else:
            y = F.conv2d(x[b : b + 1], w, padding=k // 2)
        results.append(y)
    return torch.cat(results)


@pytest.mark.parametrize("mode", ["batched", "per_sample", "auto"])  # activation vs weight modulation
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_per_sample(demodulate, upsample, batch, mode):
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 7, 3, style_dim=6, demodulate=demodulate, upsample=upsample).double()
    conv.modulation_mode = mode
    with torch.no_grad():
        conv.modulation.bias.normal_()  # make styles differ a lot between channels
    x = torch.randn(batch, 5, 8, 8, dtype=torch.float64)
    style = torch.randn(batch, 6, dtype=torch.float64)
    fast = conv(x, style)
    expected = per_sample_modconv(conv, x, style)
    assert fast.shape == ((batch, 7, 16, 16) if upsample else (batch, 7, 8, 8))
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-7)
    slow = modulated_conv2d_reference(conv, x, style)
    torch.testing.assert_close(slow, expected, rtol=1e-5, atol=1e-7)


def test_single_sample_path_equals_batched_path():
    torch.manual_seed(2)
    conv = ModulatedConv2d(6, 4, 3, style_dim=5, upsample=True).double()
    x = torch.randn(2, 6, 8, 8, dtype=torch.float64)
    style = torch.randn(2, 5, dtype=torch.float64)
    conv.modulation_mode = "batched"
    batched = conv(x, style)
    single = torch.cat([conv(x[i : i + 1], style[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(single, batched, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("noise_batch", [1, 3], ids=["shared-noise", "per-sample-noise"])
@pytest.mark.parametrize("upsample", [False, True])
def test_styled_conv_fused_epilogue_equals_the_layer_by_layer_route(upsample, noise_batch, grad):
    """The batched route folds demodulation, noise, bias and gain into one addcmul and a
    leaky ReLU; outputs and every parameter's gradient equal the per-sample route's,
    which applies them one by one (the official order)."""
    torch.manual_seed(3)
    layer = StyledConv(5, 7, 3, style_dim=6, upsample=upsample).double()
    with torch.no_grad():
        layer.noise.weight.fill_(0.7)  # both start at zero: make them count
        layer.activate.bias.normal_()
    x = torch.randn(3, 5, 8, 8, dtype=torch.float64, requires_grad=grad)
    style = torch.randn(3, 6, dtype=torch.float64, requires_grad=grad)
    side = 16 if upsample else 8
    noise = torch.randn(noise_batch, 1, side, side, dtype=torch.float64)
    results = {}
    for mode in ("per_sample", "batched"):
        layer.conv.modulation_mode = mode
        layer.zero_grad()
        x.grad = style.grad = None
        with torch.set_grad_enabled(grad):
            out = layer(x, style, noise)
        if grad:
            (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results[mode] = [out] + ([t.grad.clone() for t in (x, style, *layer.parameters())] if grad else [])
    for reference, fused in zip(results["per_sample"], results["batched"]):
        torch.testing.assert_close(fused, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shift_batch", [1, 3])
def test_scale_shift_leaky_relu_backward_passes_gradcheck(shift_batch):
    """The epilogue's hand-written backward against finite differences: the conv output,
    the per-(sample, channel) gain and a shared or per-sample shift."""
    from p2s.generators.ops import _ScaleShiftLeakyReLU

    torch.manual_seed(5)
    out = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    gain = torch.rand(3, 4, 1, 1, dtype=torch.float64).add(0.5).requires_grad_()
    shift = torch.randn(shift_batch, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda o, g, s: _ScaleShiftLeakyReLU.apply(o, g, s, 0.2), (out, gain, shift))



@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_scale_shift_leaky_relu_compiles_to_eager_gradients(memory_format):
    """Through AOTAutograd (``p2s train --compile``) the epilogue's gradients are eager's.
    torch 2.11, the GPU image's, got them wrong while the Function's forward saved what
    an in-place ``leaky_relu_`` wrote; this torch got them right either way."""
    from p2s.generators.ops import _ScaleShiftLeakyReLU

    torch.manual_seed(6)
    inputs = (torch.randn(2, 4, 8, 8).to(memory_format=memory_format), torch.randn(2, 4, 1, 1),
              torch.randn(1, 4, 8, 8))
    weights = torch.randn(2, 4, 8, 8)
    results = []
    for compiled in (False, True):
        torch._dynamo.reset()
        leaves = [t.clone().requires_grad_() for t in inputs]
        fn = lambda o, g, s: _ScaleShiftLeakyReLU.apply(o, g, s, 0.2)  # noqa: E731
        out = (torch.compile(fn, backend="aot_eager") if compiled else fn)(*leaves)
        (out * weights).sum().backward()
        results.append([out.detach()] + [t.grad for t in leaves])
    for got, expected in zip(*results[::-1]):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)

@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_to_rgb_per_sample_matrix_product_equals_weight_modulation(memory_format):
    """The batched route's 1x1 ToRGB is a batched matrix product with per-sample weights;
    in either memory layout it equals the per-sample convolutions, gradients included."""
    torch.manual_seed(4)
    layer = ToRGB(6, style_dim=5).double()
    x = torch.randn(3, 6, 8, 8, dtype=torch.float64).to(memory_format=memory_format)
    style = torch.randn(3, 5, dtype=torch.float64)
    skip = torch.randn(3, 3, 4, 4, dtype=torch.float64)
    results = {}
    for mode in ("per_sample", "batched"):
        layer.conv.modulation_mode = mode
        layer.zero_grad()
        out = layer(x, style, skip)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        results[mode] = [out] + [p.grad.clone() for p in layer.parameters()]
    assert results["batched"][0].shape == (3, 3, 8, 8)
    for reference, fast in zip(results["per_sample"], results["batched"]):
        torch.testing.assert_close(fast, reference, rtol=1e-10, atol=1e-12)


def test_modulation_mode_is_set_model_wide():
    from p2s.generators import StyleGAN2Generator
    from p2s.generators.layers import set_modulation_mode

    gen = StyleGAN2Generator(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
    ws = torch.randn(3, gen.num_ws, 8)
    set_modulation_mode(gen, "batched")
    batched = gen.synthesis(ws)
    set_modulation_mode(gen, "per_sample")
    torch.testing.assert_close(gen.synthesis(ws), batched, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="auto, batched or per_sample"):
        set_modulation_mode(gen, "grouped")


def test_modulated_conv_float32_close_to_reference():
    torch.manual_seed(1)
    conv = ModulatedConv2d(16, 8, 3, style_dim=8, upsample=True)
    x, style = torch.randn(2, 16, 4, 4), torch.randn(2, 8)
    slow = modulated_conv2d_reference(conv, x, style)
    torch.testing.assert_close(conv(x, style), slow, rtol=1e-4, atol=1e-5)


def test_equal_linear_runtime_scaling():
    lin = EqualLinear(4, 3, bias_init=1.0, lr_mul=0.01, activation=None)
    x = torch.randn(2, 4)
    expected = x @ (lin.weight * 0.01 / 2).t() + lin.bias * 0.01
    torch.testing.assert_close(lin(x), expected)
    assert torch.all(lin.bias == 1.0)
    with pytest.raises(ValueError, match="fused_lrelu"):
        EqualLinear(2, 2, activation="relu")


def test_pixel_norm_unit_rms():
    out = PixelNorm()(torch.randn(3, 10) * 7)
    torch.testing.assert_close(out.square().mean(dim=1), torch.ones(3))


def test_upsample_doubles_and_keeps_dc_gain():
    up = Upsample((1, 3, 3, 1), factor=2)
    assert up.pad == (2, 1)
    out = up(torch.ones(1, 2, 6, 6))
    assert out.shape == (1, 2, 12, 12)
    torch.testing.assert_close(out[:, :, 2:-2, 2:-2], torch.ones(1, 2, 8, 8))


def test_parameter_names_follow_rosinality():
    conv_keys = set(StyledConv(4, 4, 3, 8, upsample=True).state_dict())
    assert conv_keys == {
        "conv.weight", "conv.blur.kernel", "conv.modulation.weight", "conv.modulation.bias",
        "noise.weight", "activate.bias",
    }
    assert set(ToRGB(4, 8).state_dict()) == {
        "bias", "upsample.kernel", "conv.weight", "conv.modulation.weight", "conv.modulation.bias",
    }
    assert "upsample.kernel" not in ToRGB(4, 8, upsample=False).state_dict()
