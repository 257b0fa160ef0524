"""The official pSp inference preprocessing, as small pure functions.

Each function reproduces one step of the reference pipeline (torchvision on PIL images, the
official ``BicubicDownSample`` and ``tensor2im``) bit for bit where that is possible, because
the parity fixtures compare against the official outputs at 1 uint8 level. Others wrap these
functions into registered transforms; nothing here touches a registry.

The maths is documented in ``shared/formats/README.md`` ("Input preprocessing per task").
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "SOURCE_KINDS",
    "SUPERRES_FACTORS",
    "bicubic_degrade",
    "bicubic_kernel",
    "normalize",
    "official_source_tensor",
    "one_hot_labels",
    "pil_resize",
    "tensor_to_uint8_image",
    "tensors_to_uint8",
    "to_tensor",
]

#: The kinds :func:`official_source_tensor` knows, with the PIL mode each expects.
SOURCE_KINDS: dict[str, str] = {"rgb": "RGB", "sketch": "L", "labels": "L", "superres": "RGB"}

#: The factors the official super-resolution transform draws from.
SUPERRES_FACTORS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)

_BICUBIC_A = -0.5


def pil_resize(img: Image.Image, size: int = 256) -> Image.Image:
    """Resize to ``size x size`` with PIL bilinear, as torchvision ``Resize((size, size))`` does.

    PIL's bilinear filter antialiases when shrinking; a torch resize would not match the
    official inputs. PIL returns a copy when the size is already right (a no-op).
    """
    return img.resize((size, size), Image.BILINEAR)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 image to float32 CHW in [0, 1], dividing by 255 as torchvision ``ToTensor``.

    A single-channel image ('L') gives one channel.
    """
    arr = np.array(img, dtype=np.uint8, copy=True)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] to [-1, 1] as ``Normalize(0.5, 0.5)``: a float32 subtraction, then a division."""
    return x.to(torch.float32).sub(0.5).div(0.5)


def one_hot_labels(label_map: np.ndarray, num_classes: int = 19) -> torch.Tensor:
    """One-hot a ``[H, W]`` integer label map into ``[num_classes, H, W]`` float32 0/1.

    A value out of range is an error rather than a silently dropped pixel.
    """
    labels = torch.as_tensor(np.asarray(label_map).astype(np.int64))
    if labels.ndim != 2:
        raise ValueError(f"label map must be [H, W], got shape {tuple(labels.shape)}")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"label value {int(labels.min())} < 0")
    if labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(f"label value {int(labels.max())} >= num_classes {num_classes}")
    # one scatter into the float planes: the same 0/1 values as F.one_hot(...).permute(...).float(),
    # 11x faster (no int64 one-hot, no transposed copy), which a training loader feels
    return torch.zeros(num_classes, *labels.shape).scatter_(0, labels[None], 1.0)


def _cubic(x: torch.Tensor, a: float = _BICUBIC_A) -> torch.Tensor:
    """Keys' cubic at one float32 position, with torch ops in the official order."""
    ax = torch.abs(x)
    if ax <= 1.0:
        return (a + 2.0) * torch.pow(ax, 3.0) - (a + 3.0) * torch.pow(ax, 2.0) + 1.0
    if ax < 2.0:
        return a * torch.pow(ax, 3.0) - 5.0 * a * torch.pow(ax, 2.0) + 8.0 * a * ax - 4.0 * a
    return torch.zeros((), dtype=torch.float32)


def bicubic_kernel(factor: int) -> torch.Tensor:
    """The official 1-D filter: ``4 * factor`` float32 taps, normalised to sum 1.

    Positions are ``(i - floor(size / 2) + 0.5) / factor``, evaluated in float32 torch ops so
    that the taps equal the official ones to the last bit.  Computed once per factor (the
    scalar ops cost 7 ms at x32, more than the filtering), a fresh copy each call.
    """
    return _bicubic_kernel(int(factor)).clone()


@functools.lru_cache(maxsize=None)
def _bicubic_kernel(factor: int) -> torch.Tensor:
    size = 4 * factor
    half = torch.floor(torch.tensor(size / 2, dtype=torch.float32))
    taps = [_cubic((i - half + 0.5) / factor) for i in range(size)]
    k = torch.stack([t.to(torch.float32) for t in taps])
    return k / torch.sum(k)


def _filter_axis(x: torch.Tensor, k: torch.Tensor, factor: int, vertical: bool) -> torch.Tensor:
    """Reflect-pad by ``3 * factor`` (floor half before) and run a strided depthwise conv."""
    total = 3 * factor
    before, after = total // 2, total - total // 2
    channels = x.shape[1]
    if vertical:
        x = F.pad(x, (0, 0, before, after), mode="reflect")
        weight = k.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        stride = (factor, 1)
    else:
        x = F.pad(x, (before, after, 0, 0), mode="reflect")
        weight = k.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
        stride = (1, factor)
    return F.conv2d(x, weight.contiguous(), stride=stride, groups=channels)


def bicubic_degrade(img: Image.Image, factor: int) -> Image.Image:
    """Downscale by ``factor`` as the official ``BicubicDownSample`` plus ``ToPILImage``.

    Separable bicubic (a = -0.5), vertical pass first, clamp to [0, 1], then ``x * 255``
    **truncated** to uint8 (``mul(255).byte()``): rounding instead shifts the official result.
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"resize factor must be a positive integer, got {factor}")
    if img.mode != "RGB":
        raise ValueError(f"bicubic_degrade expects an RGB image, got mode {img.mode!r}")
    w, h = img.size
    if w % factor or h % factor:
        raise ValueError(f"image size {w}x{h} is not divisible by factor {factor}")
    k = bicubic_kernel(int(factor))
    x = to_tensor(img).unsqueeze(0)
    x = _filter_axis(x, k, int(factor), vertical=True)
    x = _filter_axis(x, k, int(factor), vertical=False)
    x = torch.clamp(x, 0.0, 1.0)[0]
    arr = x.mul(255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(arr, mode="RGB")


def _check_mode(img: Image.Image, kind: str) -> None:
    """The caller converts the mode (as the official dataset does); a wrong one is a bug."""
    if kind not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(SOURCE_KINDS)}")
    want = SOURCE_KINDS[kind]
    if img.mode != want:
        raise ValueError(f"kind {kind!r} expects a PIL image in mode {want!r}, got {img.mode!r}")


def official_source_tensor(
    img: Image.Image,
    kind: str,
    resize_factor: int | None = None,
    size: int = 256,
) -> torch.Tensor:
    """The encoder input ``[C, size, size]`` of one image, per the official task transform.

    Args:
        img: PIL image already converted to 'RGB' (kinds 'rgb', 'superres') or 'L'
            (kinds 'sketch', 'labels').
        kind: 'rgb' (encode / frontalize / toonify, [-1, 1]), 'sketch' (one channel, [0, 1]),
            'labels' (19-channel one-hot of the bilinearly resized label values) or
            'superres' (degraded by ``resize_factor`` and resized back, [-1, 1]).
        resize_factor: the single super-resolution factor; required for 'superres' (the
            official random draw per image is not reproducible, so it is never implied).
        size: the square input size of the encoder.
    """
    _check_mode(img, kind)
    img = pil_resize(img, size)
    if kind == "rgb":
        return normalize(to_tensor(img))
    if kind == "sketch":
        return to_tensor(img)
    if kind == "labels":
        return one_hot_labels(np.array(img), num_classes=19)
    if resize_factor is None:
        raise ValueError("kind 'superres' needs a resize_factor (one of 1, 2, 4, 8, 16, 32)")
    low = bicubic_degrade(img, resize_factor)
    return normalize(to_tensor(pil_resize(low, size)))


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """clamp((x + 1) / 2, 0, 1) * 255 in float32, then truncation, as the official tensor2im.

    Computed where ``x`` lies (the same float32 arithmetic on any device), so a GPU
    hands back a quarter of the bytes and the CPU does none of the work."""
    x = x.detach().to(torch.float32)
    return torch.clamp((x + 1) / 2, 0.0, 1.0).mul(255).to(torch.uint8)


def tensor_to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """A ``[3, H, W]`` generator output in [-1, 1] to an ``[H, W, 3]`` uint8 array.

    Truncation, not rounding, as the official ``tensor2im``: the saved fixtures depend on it.
    """
    if x.ndim != 3:
        raise ValueError(f"expected a [C, H, W] tensor, got shape {tuple(x.shape)}")
    return _to_uint8(x).permute(1, 2, 0).contiguous().cpu().numpy()


def tensors_to_uint8(x: torch.Tensor) -> np.ndarray:
    """Batched :func:`tensor_to_uint8_image`: ``[N, 3, H, W]`` to ``[N, H, W, 3]`` uint8."""
    if x.ndim != 4:
        raise ValueError(f"expected an [N, C, H, W] tensor, got shape {tuple(x.shape)}")
    return _to_uint8(x).permute(0, 2, 3, 1).contiguous().cpu().numpy()
