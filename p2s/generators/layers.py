"""StyleGAN2 building blocks whose parameter names match rosinality's ``model.py``.

The names matter: they let ``stylegan2-ffhq-config-f.pt`` (and the ``decoder.*`` part
of pSp checkpoints) load strictly.  Weights are stored unscaled and multiplied by
1/sqrt(fan_in) at run time (equalized learning rate), as in the official model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from p2s.generators.ops import (
    SQRT2,
    demodulate_noise_bias_leaky_relu,
    fused_leaky_relu,
    make_fir_kernel,
    noise_bias_leaky_relu_,
    pointwise_conv_per_sample,
    upfirdn2d,
)

DEFAULT_TAPS = (1, 3, 3, 1)
DEMOD_EPS = 1e-8


class PixelNorm(nn.Module):
    """Normalise each latent to unit RMS over channels, so z's scale does not matter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x.square(), dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (run-time weight scaling).

    ``weight`` starts at ``randn / lr_mul`` and is multiplied by
    ``lr_mul / sqrt(in_dim)`` when used; ``bias`` is multiplied by ``lr_mul``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in (None, "fused_lrelu"):
            raise ValueError(
                f"EqualLinear activation must be None or 'fused_lrelu', got {activation!r}"
            )
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        if bias:
            self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        else:
            self.register_parameter("bias", None)
        self.activation = activation
        self.scale = 1.0 / math.sqrt(in_dim) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, weight), bias)
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return (
            f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, "
            f"activation={self.activation}"
        )


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU(0.2) * sqrt(2); holds the ``activate.bias`` parameter."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ConstantInput(nn.Module):
    """The learned ``[1, C, size, size]`` tensor the synthesis network starts from."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.input.repeat(batch_size, 1, 1, 1)


class NoiseInjection(nn.Module):
    """Add per-pixel noise scaled by one learned ``weight`` (starts at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise`` broadcasts over ``image``; ``None`` draws fresh ``[N, 1, H, W]`` noise.

        The noise term takes the image's dtype: under bf16 autocast a float32 term would
        promote every activation after it to float32 (twice the memory traffic, and a
        cast back in front of each convolution)."""
        if noise is None:
            n, _, h, w = image.shape
            noise = image.new_empty(n, 1, h, w).normal_()
        return image + (self.weight * noise).to(image.dtype)


class Blur(nn.Module):
    """FIR low-pass filter (``upfirdn2d`` with padding) that removes upsampling aliasing."""

    def __init__(
        self, kernel_taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1
    ) -> None:
        super().__init__()
        self.register_buffer("kernel", make_fir_kernel(kernel_taps, gain=upsample_factor**2))
        self.pad = (int(pad[0]), int(pad[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class Upsample(nn.Module):
    """Zero-insertion upsampling by ``factor`` followed by FIR filtering (ToRGB skips)."""

    def __init__(self, kernel_taps: Sequence[float] = DEFAULT_TAPS, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_fir_kernel(kernel_taps, gain=factor**2))
        p = len(kernel_taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, pad={self.pad}"


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution, optionally demodulated and/or 2x upsampling.

    For a batch, instead of building one modulated weight per sample (a grouped conv
    over the batch, whose throughput collapses at large batches), the activations are
    scaled by the style, one shared-weight convolution runs for the whole batch, and
    the demodulation coefficients multiply the output.  This is exact because both
    modulation and demodulation are per-channel scalings (and the blur is linear per
    channel).  A single sample, and every sample on a CPU, takes the cheaper route of
    modulating the weight itself (no full-resolution multiplies), as the official code does.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_TAPS,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        if upsample:
            # Pads that bring the stride-2 transposed conv (2H + k - 2) back to 2H.
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        #: "auto" (see :meth:`_batched`), "batched" or "per_sample"
        self.modulation_mode = "auto"

    def scaled_weight(self) -> torch.Tensor:
        """The shared ``[out, in, k, k]`` weight with its equalized-lr scale applied."""
        return self.weight[0] * self.scale

    def demodulation(self, styles: torch.Tensor) -> torch.Tensor:
        """Per-(sample, out channel) ``1 / ||w_b||``: rsqrt((scale^2 sum_k w^2) @ s^2 + eps)."""
        energy = self.scaled_weight().square().sum(dim=(2, 3))  # [out, in]
        return torch.rsqrt(styles.square() @ energy.t() + DEMOD_EPS)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            return self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=0))
        return F.conv2d(x, weight, padding=self.padding)

    def _forward_one(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """One sample: modulate (and demodulate) the weight itself."""
        weight = self.scaled_weight() * styles.view(1, -1, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(1, 2, 3), keepdim=True) + DEMOD_EPS)
        return self._conv(x, weight)

    def modulates_per_sample(self, batch: int, device: torch.device) -> bool:
        """Whether a batch of ``batch`` on ``device`` takes the per-sample weight route.

        Activation modulation for batches on GPUs and for training; per-sample weights
        otherwise (in CPU inference the full-resolution style multiplies cost more than
        per-sample convs; with a backward pass the grouped-conv gradients cost more).
        """
        if batch == 1 or self.modulation_mode == "per_sample":
            return True
        if self.modulation_mode == "batched":
            return False
        return device.type == "cpu" and not torch.is_grad_enabled()

    def _batched(self, x: torch.Tensor) -> bool:
        return not self.modulates_per_sample(x.shape[0], x.device)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, defer_demodulation: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """The modulated convolution; with ``defer_demodulation``, the pair (convolution,
        the ``[N, out, 1, 1]`` demodulation it still owes, or ``None`` where there is none
        to apply: per-sample weights are demodulated already), so that a caller folds it
        into its own epilogue (:class:`StyledConv`)."""
        out, demod = self._convolve(x, style)
        if defer_demodulation or demod is None:
            return (out, demod) if defer_demodulation else out
        # inference: scale the fresh conv output in place (and keep its dtype under autocast)
        return out * demod if out.requires_grad else out.mul_(demod)

    def _convolve(self, x: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        styles = self.modulation(style)  # [N, in]
        if not self._batched(x):
            if x.shape[0] == 1:
                return self._forward_one(x, styles[0]), None
            return torch.cat([self._forward_one(x[i : i + 1], styles[i]) for i in range(x.shape[0])]), None
        if self.kernel_size == 1 and not self.upsample:  # ToRGB: per-sample weights are tiny
            weight = self.scaled_weight()[:, :, 0, 0] * styles[:, None, :]
            out = pointwise_conv_per_sample(x, weight.to(x.dtype))
        else:
            out = self._conv(x * styles[:, :, None, None], self.scaled_weight())
        if not self.demodulate:
            return out, None
        # CUDA autocast runs rsqrt in float32: cast, or a float32 demod would promote
        # the whole bf16 activation to float32 on the training route
        return out, self.demodulation(styles).to(out.dtype)[:, :, None, None]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"demodulate={self.demodulate}, upsample={self.upsample}"
        )


def set_modulation_mode(module: nn.Module, mode: str) -> None:
    """Set how every ModulatedConv2d in ``module`` modulates: auto, batched, per_sample."""
    if mode not in ("auto", "batched", "per_sample"):
        raise ValueError(f"modulation mode must be auto, batched or per_sample, got {mode!r}")
    for layer in module.modules():
        if isinstance(layer, ModulatedConv2d):
            layer.modulation_mode = mode


def modulated_conv2d_reference(
    conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor
) -> torch.Tensor:
    """Slow textbook ``conv(x, style)``: one modulated weight per sample (tests only)."""
    styles = conv.modulation(style)
    outputs = []
    for b in range(x.shape[0]):
        weight = conv.scaled_weight() * styles[b].view(1, -1, 1, 1)
        if conv.demodulate:
            energy = weight.square().sum(dim=(1, 2, 3), keepdim=True)
            weight = weight * torch.rsqrt(energy + DEMOD_EPS)
        sample = x[b : b + 1]
        if conv.upsample:
            out = conv.blur(F.conv_transpose2d(sample, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(sample, weight, padding=conv.padding)
        outputs.append(out)
    return torch.cat(outputs)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + leaky ReLU: one synthesis layer."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_TAPS,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            style_dim,
            demodulate=demodulate,
            upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        out, demod = self.conv(x, style, defer_demodulation=True)
        act = self.activate
        if demod is not None and noise is not None:  # the batched route: one fused epilogue
            return demodulate_noise_bias_leaky_relu(
                out, demod, noise, self.noise.weight, act.bias, act.negative_slope, act.scale
            )
        if demod is not None:
            out = out * demod if out.requires_grad else out.mul_(demod)
        if out.requires_grad or noise is None:
            return act(self.noise(out, noise))
        # inference: the conv output is ours, so the rest runs in place (same values)
        return noise_bias_leaky_relu_(out, noise, self.noise.weight, act.bias, act.negative_slope, act.scale)


def _add_to_fresh(out: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``out + other`` for a layer output nobody else holds: in place in inference, unless
    the dtypes differ (a bf16 output plus the float32 bias and skip image: the sum is
    float32, so the image keeps accumulating in float32).  A dtype comparison, not
    ``torch.result_type``, which would break a ``torch.compile`` graph here."""
    if out.requires_grad or other.dtype != out.dtype:
        return out + other
    return out.add_(other)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation), added to the upsampled skip image."""

    def __init__(
        self,
        in_channels: int,
        style_dim: int,
        upsample: bool = True,
        blur_kernel: Sequence[float] = DEFAULT_TAPS,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        if skip is not None and not hasattr(self, "upsample"):
            raise ValueError("this ToRGB has no upsample (4x4 level); it takes no skip input")
        out = _add_to_fresh(self.conv(x, style), self.bias)
        if skip is not None:
            out = _add_to_fresh(out, self.upsample(skip))
        return out
