"""p2s.generators.ops against references written from the definitions (numpy loops)."""

import math

import numpy as np
import pytest
import torch

from p2s.generators import ops
from p2s.generators.ops import fused_leaky_relu, make_fir_kernel, upfirdn2d


def upfirdn2d_reference(
    x: np.ndarray, k: np.ndarray, up: int, down: int, pad0: int, pad1: int
) -> np.ndarray:
    """Textbook upfirdn on [N, C, H, W]: zero-insert, pad/crop, full 2-D convolution, decimate."""
    n, c, h, w = x.shape
    ups = np.zeros((n, c, h * up, w * up))
    ups[:, :, ::up, ::up] = x
    size = h * up + pad0 + pad1
    padded = np.zeros((n, c, size, size))
    # index i of `padded` is index i - pad0 of `ups` (out-of-range = zero or cropped)
    for i in range(size):
        for j in range(size):
            si, sj = i - pad0, j - pad0
            if 0 <= si < h * up and 0 <= sj < w * up:
                padded[:, :, i, j] = ups[:, :, si, sj]
    kh, kw = k.shape
    out_size = size - kh + 1
    out = np.zeros((n, c, out_size, out_size))
    # convolution: y[i, j] = sum_{a, b} k[a, b] * p[i + kh - 1 - a, j + kw - 1 - b]
    for i in range(out_size):
        for j in range(out_size):
            acc = np.zeros((n, c))
            for a in range(kh):
                for b in range(kw):
                    acc += k[a, b] * padded[:, :, i + kh - 1 - a, j + kw - 1 - b]
            out[:, :, i, j] = acc
    return out[:, :, ::down, ::down]


CASES = [
    # (up, down, pad, kernel side) -- asymmetric random kernels catch a missing flip
    pytest.param(2, 1, (2, 1), 4, id="up2-pad21"),
    # up without down runs as a transposed conv where its crop and extension reach the pads
    pytest.param(2, 1, (1, 1), 3, id="up2-transposed-extend"),
    pytest.param(4, 1, (2, 0), 4, id="up4-transposed"),
    pytest.param(2, 1, (4, 0), 4, id="up2-pad0-beyond-kernel"),
    pytest.param(2, 1, (0, 3), 4, id="up2-pad1-beyond-extension"),
    pytest.param(1, 2, (1, 1), 4, id="down2"),
    pytest.param(1, 1, (1, 1), 4, id="blur-pad11"),
    pytest.param(2, 2, (1, 0), 3, id="up2-down2"),
    pytest.param(1, 1, (-1, 2), 3, id="crop-then-pad"),
]


@pytest.mark.parametrize("up,down,pad,ksize", CASES)
def test_upfirdn2d_matches_reference(up, down, pad, ksize):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    k = rng.standard_normal((ksize, ksize))
    expected = upfirdn2d_reference(x, k, up, down, *pad)
    got = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=1e-5)


def test_upfirdn2d_output_size_formula():
    x = torch.randn(1, 2, 8, 8)
    out = upfirdn2d(x, make_fir_kernel(gain=4), up=2, pad=(2, 1))
    assert out.shape[-1] == (8 * 2 + 2 + 1 - 4 + 1) // 1 == 16


def test_upfirdn2d_rejects_bad_input():
    with pytest.raises(ValueError, match="NCHW"):
        upfirdn2d(torch.randn(3, 8, 8), make_fir_kernel())
    with pytest.raises(ValueError, match=">= 1"):
        upfirdn2d(torch.randn(1, 1, 8, 8), make_fir_kernel(), up=0)


def test_make_fir_kernel_values():
    k = make_fir_kernel((1, 3, 3, 1), gain=4)
    expected = torch.tensor([1.0, 3, 3, 1])
    assert k.dtype == torch.float32 and k.shape == (4, 4)
    torch.testing.assert_close(k, torch.outer(expected, expected) / 16)
    assert math.isclose(float(make_fir_kernel().sum()), 1.0, rel_tol=1e-6)


def test_fused_leaky_relu_2d_and_4d():
    bias = torch.tensor([0.5, -1.0, 2.0])
    x2 = torch.randn(4, 3)
    ref2 = torch.where(x2 + bias > 0, x2 + bias, 0.2 * (x2 + bias)) * math.sqrt(2)
    torch.testing.assert_close(fused_leaky_relu(x2, bias), ref2)
    x4 = torch.randn(2, 3, 5, 5)
    b4 = bias.view(1, 3, 1, 1)
    ref4 = torch.where(x4 + b4 > 0, x4 + b4, 0.2 * (x4 + b4)) * math.sqrt(2)
    torch.testing.assert_close(fused_leaky_relu(x4, bias), ref4)


def test_noise_bias_leaky_relu_inplace_is_bit_identical():
    from p2s.generators.ops import noise_bias_leaky_relu_

    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 7)
    noise, weight, bias = torch.randn(1, 1, 7, 7), torch.randn(1), torch.randn(5)
    expected = fused_leaky_relu(x + weight * noise, bias)
    target = x.clone()
    out = noise_bias_leaky_relu_(target, noise, weight, bias)
    assert out.data_ptr() == target.data_ptr()  # no new full-size tensor
    assert torch.equal(out, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("noise_batch", [1, 3])
def test_noise_bias_leaky_relu_in_cpu_chunks_is_bit_identical(monkeypatch, dtype, channels_last, noise_batch):
    """Chunks of 2 rows and a remainder (7 rows), shared or per-sample noise."""
    from p2s.generators.ops import noise_bias_leaky_relu_

    torch.manual_seed(0)
    x = torch.randn(3, 5, 7, 6).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    noise, weight, bias = torch.randn(noise_batch, 1, 7, 6), torch.randn(1), torch.randn(5)
    whole = noise_bias_leaky_relu_(x.clone(), noise, weight, bias)
    monkeypatch.setattr(ops, "CPU_CHUNK_ELEMENTS", 2 * 5 * 6)  # 2 rows of one sample
    target = x.clone()
    chunked = noise_bias_leaky_relu_(target, noise, weight, bias)
    assert chunked.data_ptr() == target.data_ptr()
    assert torch.equal(chunked, whole)
    if dtype == torch.float32:
        assert torch.equal(chunked, fused_leaky_relu(x + weight * noise, bias))


@pytest.mark.parametrize("channels_last", [False, True])
def test_upfirdn2d_symmetric_pad_in_conv_equals_padded_copy(channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    k = torch.rand(4, 4)
    weight = torch.flip(k, [0, 1])[None, None].expand(4, 1, 4, 4)
    padded = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [1, 1, 1, 1]), weight, groups=4)
    assert torch.equal(upfirdn2d(x, k, pad=(1, 1)), padded)


@pytest.mark.parametrize("channels_last", [False, True])
def test_cpu_upsampling_transposed_route_equals_zero_insertion(monkeypatch, channels_last):
    """The ToRGB skip's upsampling on CPU (a transposed conv) against the zero-insertion
    route other devices take, on the same input."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    k = make_fir_kernel(gain=4)
    calls = []
    transposed = ops._upsample_transposed
    monkeypatch.setattr(ops, "_upsample_transposed", lambda *a: calls.append(1) or transposed(*a))
    fast = upfirdn2d(x, k, up=2, pad=(2, 1))
    assert calls, "the CPU did not take the transposed route"
    monkeypatch.setattr(ops, "_upsample_transposed", lambda *a: None)
    torch.testing.assert_close(fast, upfirdn2d(x, k, up=2, pad=(2, 1)), rtol=1e-6, atol=1e-6)
