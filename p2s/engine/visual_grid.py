"""Image grids of ``source | output | target`` rows, as uint8 RGB arrays.

Used by :class:`p2s.engine.image_grid_hook.ImageGridHook`; plain functions so a visualizer or a
notebook can draw the same grids.  Sources may be RGB, gray (1 channel: sketches) or
label maps (any other channel count: one-hot or soft segmentation, shown as the argmax
in a fixed palette).
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

#: the columns of a grid, left to right
COLUMNS = ("source", "output", "target")
#: value range of generator outputs and targets
IMAGE_RANGE = (-1.0, 1.0)


def label_palette(num_classes: int) -> torch.Tensor:
    """A fixed ``[num_classes, 3]`` uint8 palette: class 0 black, then well-spread hues.

    Hues step by the golden ratio, so neighbouring class indices get distant colours and
    the first colours never change when ``num_classes`` grows.
    """
    colours = [(0, 0, 0)]
    for i in range(1, num_classes):
        hue = (i * 0.6180339887) % 1.0
        sat = 0.55 + 0.45 * ((i // 3) % 2)
        val = 1.0 - 0.25 * ((i // 2) % 2)
        colours.append(tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, sat, val)))
    return torch.tensor(colours[:num_classes], dtype=torch.uint8)


def to_rgb01(images: torch.Tensor, value_range: Sequence[float] = IMAGE_RANGE) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, 3, H, W]`` float RGB in ``[0, 1]``.

    3 channels are mapped from ``value_range`` and clamped; 1 channel is shown as gray;
    any other channel count is a label map shown as the argmax in :func:`label_palette`.
    """
    if images.dim() != 4:
        raise ValueError(f"expected images of shape [N, C, H, W], got {tuple(images.shape)}")
    images = images.detach().float().cpu()
    channels = images.shape[1]
    if channels in (1, 3):
        lo, hi = float(value_range[0]), float(value_range[1])
        if hi <= lo:
            raise ValueError(f"value_range must be increasing, got {tuple(value_range)}")
        rgb = ((images - lo) / (hi - lo)).clamp_(0.0, 1.0)
        return rgb.repeat(1, 3, 1, 1) if channels == 1 else rgb
    labels = images.argmax(dim=1)  # [N, H, W]
    colours = label_palette(channels)[labels]  # [N, H, W, 3]
    return colours.permute(0, 3, 1, 2).float() / 255.0


def _resize(tile: torch.Tensor, size: tuple[int, int], is_label_map: bool) -> torch.Tensor:
    if tuple(tile.shape[-2:]) == size:
        return tile
    if is_label_map:
        return F.interpolate(tile, size=size, mode="nearest")
    shrinking = size[0] < tile.shape[-2] or size[1] < tile.shape[-1]
    return F.interpolate(tile, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def make_visual_grid(
    visuals: Mapping[str, torch.Tensor],
    source_range: Sequence[float] = IMAGE_RANGE,
    max_samples: int = 4,
    tile_size: int | None = None,
    padding: int = 2,
    pad_value: int = 255,
    columns: Sequence[str] = COLUMNS,
) -> np.ndarray:
    """Draw ``visuals`` as a grid: one row per sample, columns ``source | output | target``
    (or ``columns``: any names; all but ``source`` are images in ``[-1, 1]``).

    Args:
        visuals: ``source`` ``[N, C, H, W]`` in ``source_range``; ``output`` and
            ``target`` ``[N, 3, H, W]`` in ``[-1, 1]``.  Missing columns are left out.
        source_range: value range of the source (e.g. ``(0, 1)`` for sketches).
        max_samples: rows at most.
        tile_size: longest side of each tile; ``None`` keeps the output's size.  Every
            tile is resized to the same size (nearest for label maps).
        padding: pixels between and around tiles.
        pad_value: gray level of the padding.

    Returns:
        ``[rows * h + (rows + 1) * padding, cols * w + (cols + 1) * padding, 3]`` uint8 RGB.
    """
    present = [name for name in columns if visuals.get(name) is not None]
    if not present:
        raise ValueError(f"visuals hold none of {tuple(columns)}; got keys {sorted(visuals)}")
    rows = min(int(max_samples), *(int(visuals[name].shape[0]) for name in present))
    if rows < 1:
        raise ValueError("visuals hold no samples")
    reference = visuals["output"] if "output" in present else visuals[present[0]]
    height, width = (int(s) for s in reference.shape[-2:])
    if tile_size is not None:
        scale = tile_size / max(height, width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))

    tiles = []
    for name in present:
        images = visuals[name][:rows]
        value_range = source_range if name == "source" else IMAGE_RANGE
        rgb = to_rgb01(images, value_range)
        tiles.append(_resize(rgb, (height, width), images.shape[1] not in (1, 3)).clamp(0.0, 1.0))

    cols = len(tiles)
    grid = torch.full(
        (3, rows * height + (rows + 1) * padding, cols * width + (cols + 1) * padding),
        float(pad_value) / 255.0,
    )
    for c, column in enumerate(tiles):
        x = padding + c * (width + padding)
        for r in range(rows):
            y = padding + r * (height + padding)
            grid[:, y : y + height, x : x + width] = column[r]
    return (grid * 255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
