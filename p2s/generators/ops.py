"""Pure-PyTorch StyleGAN2 ops (no CUDA extensions), so the generator runs anywhere.

``upfirdn2d`` follows the semantics of the official op: upsample by zero insertion,
pad (negative pads crop), *true* 2-D convolution with a FIR kernel, then decimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
) -> torch.Tensor:
    """Add a per-channel ``bias`` (dim 1), leaky ReLU, then multiply by ``scale``.

    The sqrt(2) gain keeps activations at unit variance, as StyleGAN2 expects.
    Works for ``[N, C]`` and ``[N, C, H, W]`` (any rank >= 2) inputs.
    """
    if bias is not None:
        shape = [1, -1] + [1] * (x.ndim - 2)
        x = x + bias.view(shape).to(x.dtype)
    return F.leaky_relu(x, negative_slope) * scale


#: elements of one CPU chunk of :func:`noise_bias_leaky_relu_`: 1-2 MB, so the four
#: passes over a chunk run in the core's cache, not four times through memory
CPU_CHUNK_ELEMENTS = 512 * 1024


def noise_bias_leaky_relu_(
    x: torch.Tensor,
    noise: torch.Tensor,
    noise_weight: torch.Tensor,
    bias: torch.Tensor,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
) -> torch.Tensor:
    """In place on ``x``: ``fused_leaky_relu(x + noise_weight * noise, bias)``, bit for bit.

    For inference, where ``x`` is a fresh layer output nobody else holds: four passes
    over the activations and no new full-size tensors (allocating and first touching
    them cost more than the arithmetic at 1024 px).  The noise term takes ``x``'s dtype
    first: under bf16 autocast, a float32 operand made the in-place add a casting loop
    with a temporary copy of ``x`` (0.65 of 1.8 s in a 1024-px CPU forward).  On the CPU
    a large ``x`` goes through in chunks of rows of one sample (the same values: each
    element sees the same four operations), 1.5x (fp32) to 2x (bf16) faster at 1024 px.
    """
    noise = (noise_weight * noise).to(x.dtype)
    bias = bias.view([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
    if x.device.type != "cpu" or x.ndim != 4 or x.numel() <= 2 * CPU_CHUNK_ELEMENTS:
        return _noise_bias_leaky_relu_(x, noise, bias, negative_slope, scale)
    rows = max(1, CPU_CHUNK_ELEMENTS // (x.shape[1] * x.shape[3]))
    noise = noise.expand(x.shape[0], -1, x.shape[2], x.shape[3])  # a view: slicing per sample and rows
    for sample in range(x.shape[0]):
        for top in range(0, x.shape[2], rows):
            _noise_bias_leaky_relu_(x[sample:sample + 1, :, top:top + rows],
                                    noise[sample:sample + 1, :, top:top + rows], bias, negative_slope, scale)
    return x


def _noise_bias_leaky_relu_(
    x: torch.Tensor, noise: torch.Tensor, bias: torch.Tensor, negative_slope: float, scale: float
) -> torch.Tensor:
    x.add_(noise)
    x.add_(bias)
    F.leaky_relu_(x, negative_slope)
    return x.mul_(scale)


def demodulate_noise_bias_leaky_relu(
    out: torch.Tensor,
    demod: torch.Tensor,
    noise: torch.Tensor,
    noise_weight: torch.Tensor,
    bias: torch.Tensor,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
) -> torch.Tensor:
    """``fused_leaky_relu(out * demod + noise_weight * noise, bias)`` in two passes, not five.

    The batched (activation-modulated) route's epilogue: the demodulation, the noise, the
    bias and the gain would each be one full-size elementwise kernel, and on a GPU those
    moved twice the bytes the convolutions did (benchmarks/roofline.py, session 17).  The
    gain goes into the operands (leaky ReLU is positively homogeneous), the noise and bias
    into one ``[1|N, C, H, W]`` shift, so one ``addcmul`` and one leaky ReLU remain at full
    size.  Equal up to rounding, like the route itself; in place when nothing takes a
    gradient, else through :class:`_ScaleShiftLeakyReLU`'s lean backward.  Under
    torch.compile both run out of place: torch 2.11 (the GPU image's) breaks the graph at
    ``out=`` into a channels_last tensor, and its AOTAutograd gave the Function wrong
    gradients when the Function saved what ``leaky_relu_`` wrote in place.
    """
    # the operands first take out's dtype, so a full-size shift (per-sample noise in
    # training) is written once, in that dtype, not in float32 and then cast
    dtype = out.dtype
    bias = (bias.view([1, -1] + [1] * (out.ndim - 2)) * scale).to(dtype)
    shift = torch.addcmul(bias, noise.to(dtype), (noise_weight * scale).to(dtype))
    gain = (demod * scale).to(dtype)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (out, gain, shift)):
        return _ScaleShiftLeakyReLU.apply(out, gain, shift, negative_slope)
    if torch.compiler.is_compiling():  # out of place: inductor fuses the two anyway
        return F.leaky_relu(torch.addcmul(shift, out, gain), negative_slope)
    return F.leaky_relu_(torch.addcmul(shift, out, gain, out=out), negative_slope)


class _ScaleShiftLeakyReLU(torch.autograd.Function):
    """``leaky_relu(out * gain + shift)`` with the backward written out: autograd's
    ``addcmul`` formula scales a full-size copy of ``out`` by its ``value`` (1) before the
    product for ``gain``'s gradient, one more full-size pass per layer, and the leaky
    ReLU kept its input alive where its output (which the next layer holds) suffices."""

    @staticmethod
    def forward(ctx, out: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor, negative_slope: float) -> torch.Tensor:
        result = torch.addcmul(shift, out, gain)
        result = F.leaky_relu(result, negative_slope) if torch.compiler.is_compiling() else F.leaky_relu_(result, negative_slope)
        ctx.save_for_backward(out, gain, result)
        ctx.negative_slope = negative_slope
        ctx.shift_shape = shift.shape
        return result

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        out, gain, result = ctx.saved_tensors
        # the output's sign is the input's (slope >= 0), so the output is enough
        grad = torch.ops.aten.leaky_relu_backward(grad, result, ctx.negative_slope, True)
        grad_out = grad * gain if ctx.needs_input_grad[0] else None
        grad_gain = (grad * out).sum_to_size(gain.shape) if ctx.needs_input_grad[1] else None
        grad_shift = grad.sum_to_size(ctx.shift_shape) if ctx.needs_input_grad[2] else None
        return grad_out, grad_gain, grad_shift, None


def pointwise_conv_per_sample(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution with its own ``[O, C]`` weight per sample (``weight``: ``[N, O, C]``).

    One batched matrix product over the pixels: the batched route's ToRGB would otherwise
    scale all C input channels by the style in a full-size pass (the largest elementwise
    kernel at 1024 px after the epilogues) to make 3 output channels.  A channels-last
    ``x`` is already ``[N, H*W, C]`` in memory, so no copy is made either way.
    """
    n, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w, c), weight.transpose(1, 2))
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)
    return torch.bmm(weight, x.reshape(n, c, h * w)).view(n, -1, h, w)


def make_fir_kernel(taps: Sequence[float] = (1, 3, 3, 1), gain: float = 1.0) -> torch.Tensor:
    """Separable 2-D FIR kernel ``outer(k, k) / sum * gain`` as float32.

    ``gain = factor**2`` compensates the energy lost to zero-insertion upsampling.
    """
    k = torch.as_tensor(taps, dtype=torch.float32)
    if k.ndim != 1 or k.numel() == 0:
        raise ValueError(f"FIR taps must be a non-empty 1-D sequence, got {list(taps)!r}")
    k2d = torch.outer(k, k)
    return k2d / k2d.sum() * gain


def _zero_insert(x: torch.Tensor, up: int) -> torch.Tensor:
    """Put ``up - 1`` zeros after every sample along H and W (``[N,C,H,W] -> [N,C,H*up,W*up]``)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    return x.reshape(n, c, h * up, w * up)


def _pad_or_crop(x: torch.Tensor, pad0: int, pad1: int) -> torch.Tensor:
    """Zero-pad ``pad0`` before / ``pad1`` after on H and W; negative values crop."""
    x = F.pad(x, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    c0, c1 = max(-pad0, 0), max(-pad1, 0)
    if c0 or c1:
        x = x[:, :, c0 : x.shape[2] - c1, c0 : x.shape[3] - c1]
    return x


def _upsample_transposed(
    x: torch.Tensor, kernel: torch.Tensor, up: int, pad0: int, pad1: int
) -> torch.Tensor | None:
    """``upfirdn2d(x, kernel, up, pad=(pad0, pad1))`` as one strided transposed convolution.

    A transposed conv with stride ``up`` is the true convolution of the zero-inserted
    input, so the zeros are never written or multiplied: 4x fewer products at ``up=2``,
    and 5-40x faster than zero insertion on the 3-channel ToRGB skips on CPU (oneDNN;
    benchmarks/NOTES.md, session 14).  CPU only until measured on a GPU: grouped
    transposed convolutions have been far slower than dense ones in cuDNN (pytorch
    issue 47341), while the zero-inserted input meets PyTorch's own depthwise kernel.
    Its crop and trailing extension cover the pads where ``pad0 < k`` and
    ``0 <= pad1 - pad0 - 1 + up < up``; ``None`` otherwise.
    """
    if kernel.shape[0] != kernel.shape[1]:
        return None
    crop = kernel.shape[0] - 1 - pad0
    extend = pad1 - pad0 - 1 + up
    if crop < 0 or not 0 <= extend < up:
        return None
    c = x.shape[1]
    weight = kernel.to(device=x.device, dtype=x.dtype)[None, None].expand(c, 1, *kernel.shape)
    return F.conv_transpose2d(x, weight, stride=up, padding=crop, output_padding=extend, groups=c)


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Upsample, FIR-filter and downsample ``x`` (NCHW), like the official CUDA op.

    Output side: ``(size * up + pad0 + pad1 - k + down) // down``.  The kernel is
    flipped so the filtering is a true convolution (matters for asymmetric kernels).
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects an NCHW tensor, got shape {list(x.shape)}")
    if kernel.ndim != 2:
        raise ValueError(f"upfirdn2d expects a 2-D kernel, got shape {list(kernel.shape)}")
    if up < 1 or down < 1:
        raise ValueError(f"upfirdn2d factors must be >= 1, got up={up}, down={down}")
    c = x.shape[1]
    pad0, pad1 = int(pad[0]), int(pad[1])
    if up > 1 and down == 1 and x.device.type == "cpu":
        out = _upsample_transposed(x, kernel, up, pad0, pad1)
        if out is not None:
            return out
    if up > 1:
        x = _zero_insert(x, up)
    # Equal non-negative pads go to the convolution itself: the same zeros, no padded copy.
    conv_pad = pad0 if pad0 == pad1 and pad0 >= 0 else 0
    if not conv_pad:
        x = _pad_or_crop(x, pad0, pad1)
    # A depthwise convolution (groups=C) rather than folding channels into the batch: same
    # arithmetic, 3-13x faster on CPU (oneDNN) -- see benchmarks/NOTES.md.
    weight = torch.flip(kernel, [0, 1]).to(device=x.device, dtype=x.dtype)[None, None].expand(c, 1, *kernel.shape)
    out = F.conv2d(x, weight, groups=c, padding=conv_pad)
    if down > 1:
        out = out[:, :, ::down, ::down]
    return out
