"""StyleGAN2 residual discriminator with rosinality's parameter layout (``d`` entry).

Layout (``R`` = resolution, channels from :func:`~p2s.generators.stylegan2.channel_table`)::

    convs.0            ConvLayer(3, ch[R], 1): 1x1 EqualConv2d (``.0.weight``) + FusedLeakyReLU (``.1.bias``)
    convs.1 .. convs.k ResBlock per level R -> 4: conv1 (3x3), conv2 (blur ``.0.kernel``, 3x3
                       stride-2 conv ``.1.weight``, activation ``.2.bias``), skip (blur, 1x1
                       stride-2 conv without bias); output (conv2 + skip) / sqrt(2)
    (minibatch stddev: group 4, 1 feature -> one extra channel)
    final_conv         ConvLayer(ch[4] + 1, ch[4], 3)
    final_linear.0/1   EqualLinear(16 ch[4], ch[4], fused_lrelu), EqualLinear(ch[4], 1)

Blur-downsampling is the FIR ``[1, 3, 3, 1]`` low-pass (``upfirdn2d``) before each stride-2
convolution.  Only the layers the generator lacks live here (``EqualConv2d``,
``ConvLayer``, ``ResBlock``); ``EqualLinear``, ``FusedLeakyReLU``, ``Blur`` and the ops are
the generator's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from p2s.generators.base import check_shape
from p2s.generators.layers import DEFAULT_TAPS, Blur, EqualLinear, FusedLeakyReLU
from p2s.generators.stylegan2 import _check_positive, _check_resolution, channel_table
from p2s.registry import MODELS
from p2s.utils.checkpoint import load_checkpoint_file, load_state_dict_strict
from p2s.utils.errors import CheckpointMismatchError


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate: the weight is scaled by 1/sqrt(fan_in) at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride, self.padding = stride, padding
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        out_ch, in_ch, k, _ = self.weight.shape
        return f"{in_ch}, {out_ch}, kernel_size={k}, stride={self.stride}, padding={self.padding}"


class ConvLayer(nn.Sequential):
    """[blur] -> EqualConv2d -> [bias + leaky ReLU]; stride 2 after the blur when downsampling.

    The blur pads so that a ``k`` x ``k`` stride-2 convolution maps ``H`` to ``H / 2``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = DEFAULT_TAPS, bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = len(blur_kernel) - 2 + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 convolutions (the second downsamples) plus a 1x1 downsampling skip."""

    def __init__(self, in_channels: int, out_channels: int, blur_kernel: Sequence[float] = DEFAULT_TAPS) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel,
                              activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_features: int = 1) -> torch.Tensor:
    """Append ``num_features`` channels holding the feature std over groups of samples.

    The group is ``min(group_size, N)``, lowered to a divisor of ``N`` when needed (the
    official code requires divisibility); sample ``n`` is in group ``n % (N / G)``.
    """
    n, c, h, w = x.shape
    group = min(group_size, n)
    while n % group:
        group -= 1
    y = x.reshape(group, -1, num_features, c // num_features, h, w)
    y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # [N/G, F, C/F, H, W]
    y = y.mean(dim=(2, 3, 4)).reshape(-1, num_features, 1, 1)  # [N/G, F, 1, 1]
    return torch.cat([x, y.repeat(group, 1, h, w)], dim=1)


@MODELS.register_module()
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator: image ``[N, 3, R, R]`` -> logit ``[N, 1]``.

    Args:
        resolution: input side, a power of two in 8..1024.
        channel_multiplier: 2 for config-f (widens 64 px and up, as in the generator).
        channel_max: scales the channel table (512 = the released models).
        blur_kernel: FIR taps of the downsampling blur.
        stddev_group: minibatch-stddev group size.
        stddev_features: minibatch-stddev feature count (1 in the released models).
        weights: optional file loaded strictly (``weights_key`` entry, e.g. ``'d'`` of a
            rosinality ``convert_weight.py --disc`` file; constant FIR kernels may be absent).
    """

    def __init__(
        self,
        resolution: int = 1024,
        channel_multiplier: int = 2,
        channel_max: int = 512,
        blur_kernel: Sequence[float] = DEFAULT_TAPS,
        stddev_group: int = 4,
        stddev_features: int = 1,
        weights: str | os.PathLike | None = None,
        weights_key: str = "d",
    ) -> None:
        super().__init__()
        log_res = _check_resolution(resolution)
        _check_positive(channel_multiplier=channel_multiplier, channel_max=channel_max,
                        stddev_group=stddev_group, stddev_features=stddev_features)
        self.resolution = resolution
        self.stddev_group, self.stddev_features = stddev_group, stddev_features
        channels = channel_table(channel_multiplier, channel_max)
        if channels[4] % stddev_features:
            raise ValueError(f"stddev_features ({stddev_features}) must divide the 4x4 channels ({channels[4]})")
        in_ch = channels[resolution]
        convs: list[nn.Module] = [ConvLayer(3, in_ch, 1)]
        for level in range(log_res, 2, -1):
            out_ch = channels[2 ** (level - 1)]
            convs.append(ResBlock(in_ch, out_ch, blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.final_conv = ConvLayer(in_ch + stddev_features, channels[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, channels[4], activation="fused_lrelu"),
            EqualLinear(channels[4], 1),
        )
        if weights is not None:
            self.load_weights(weights, key=weights_key)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_shape(images, [None, 3, self.resolution, self.resolution], "StyleGAN2Discriminator images")
        out = self.convs(images)
        out = minibatch_stddev(out, self.stddev_group, self.stddev_features)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))

    def load_weights(self, path: str | os.PathLike, key: str = "d") -> None:
        """Load ``ckpt[key]`` (or a bare state dict) strictly; FIR kernels may be absent."""
        ckpt = load_checkpoint_file(path, what="StyleGAN2 discriminator weights")
        if not isinstance(ckpt, Mapping):
            raise CheckpointMismatchError(f"discriminator weights '{path}' hold a {type(ckpt).__name__}, not a dict")
        state = ckpt[key] if isinstance(ckpt.get(key), Mapping) else ckpt
        load_state_dict_strict(self, dict(state), source=f"discriminator weights '{path}'",
                               ignore_missing=(".kernel",))

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}"
