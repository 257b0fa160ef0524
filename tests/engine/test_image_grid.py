"""ImageGridHook and the grid drawing: files, sizes, gray and label-map sources."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.engine import label_palette, make_visual_grid

SIZE, PAD = 16, 2


def _visuals(source: torch.Tensor, n: int) -> dict:
    return dict(source=source, output=torch.zeros(n, 3, SIZE, SIZE), target=torch.ones(n, 3, SIZE, SIZE))


def _tile(grid: np.ndarray, row: int, col: int, size: int = SIZE, pad: int = PAD) -> np.ndarray:
    y, x = pad + row * (size + pad), pad + col * (size + pad)
    return grid[y : y + size, x : x + size]


def test_training_writes_png_and_visualizer_grids_for_a_19_channel_source(make_runner, tmp_path):
    runner = make_runner(
        tmp_path,
        max_iters=4,
        channels=19,
        val=True,
        tensorboard=True,
        custom_hooks=[dict(type="SafeCheckpointHook"), dict(type="ImageGridHook", interval=2, tile_size=None)],
    )
    runner.train()

    log_dir = tmp_path / runner.timestamp
    grids = sorted(p.name for p in (log_dir / "grids").iterdir())
    assert grids == ["iter_000002.png", "iter_000004.png", "val_iter_000002.png", "val_iter_000004.png"]
    batch = 2
    for name in grids:
        image = np.asarray(Image.open(log_dir / "grids" / name))
        # rows: samples; columns: source | output | target
        assert image.shape == (batch * SIZE + (batch + 1) * PAD, 3 * SIZE + 4 * PAD, 3)
        source_colours = {tuple(c) for c in _tile(image, 0, 0).reshape(-1, 3)}
        assert source_colours <= {tuple(c) for c in label_palette(19).tolist()}
        assert len(source_colours) > 5  # a label map, not a flat tile
    vis_data = log_dir / "vis_data"
    assert (vis_data / "vis_image" / "train_grid_2.png").is_file()
    assert (vis_data / "vis_image" / "val_grid_4.png").is_file()
    assert list(vis_data.glob("events.out.tfevents.*"))  # TensorBoard got them too


def test_gray_sketch_source_uses_its_value_range():
    sketch = torch.zeros(3, 1, SIZE, SIZE)
    sketch[:, :, :, SIZE // 2 :] = 1.0
    grid = make_visual_grid(_visuals(sketch, 3), source_range=(0, 1), max_samples=2)
    assert grid.shape == (2 * SIZE + 3 * PAD, 3 * SIZE + 4 * PAD, 3) and grid.dtype == np.uint8
    source = _tile(grid, 1, 0)
    assert (source[:, : SIZE // 2] == 0).all() and (source[:, SIZE // 2 :] == 255).all()
    assert (_tile(grid, 0, 1) == 128).all()  # output 0.0 in [-1, 1] -> mid gray
    assert (_tile(grid, 0, 2) == 255).all()  # target 1.0 -> white


def test_rgb_values_are_clamped_and_label_maps_use_the_argmax():
    rgb = torch.full((1, 3, SIZE, SIZE), 5.0)
    assert (_tile(make_visual_grid(_visuals(rgb, 1)), 0, 0) == 255).all()
    onehot = torch.zeros(1, 19, SIZE, SIZE)
    onehot[:, 7] = 0.9
    onehot[:, 3] = 0.1
    tile = _tile(make_visual_grid(_visuals(onehot, 1)), 0, 0)
    assert (tile == label_palette(19)[7].numpy()).all()


def test_tiles_are_resized_to_tile_size_without_padding():
    low_res = torch.rand(2, 3, 4, 4) * 2 - 1  # e.g. a super-resolution source
    grid = make_visual_grid(_visuals(low_res, 2), tile_size=32, padding=0)
    assert grid.shape == (2 * 32, 3 * 32, 3)


def test_palette_is_fixed_and_distinct():
    palette = label_palette(19)
    assert palette.shape == (19, 3) and palette[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in palette.tolist()}) == 19
    assert torch.equal(label_palette(25)[:19], palette)


def test_bad_visuals_raise():
    with pytest.raises(ValueError, match="none of"):
        make_visual_grid({"other": torch.zeros(1, 3, 4, 4)})
    with pytest.raises(ValueError, match="N, C, H, W"):
        make_visual_grid({"output": torch.zeros(3, 4, 4)})


@pytest.mark.parametrize("option, expected", [
    (dict(tile_size="abc"), "tile_size must be an integer >= 1 or None, got 'abc'"),
    (dict(tile_size=0), "tile_size must be an integer >= 1 or None, got 0"),
    (dict(tile_size=12.5), "tile_size must be an integer >= 1 or None, got 12.5"),
    (dict(padding=-1), "padding must be an integer >= 0, got -1"),
    (dict(padding="2"), "padding must be an integer >= 0, got '2'"),
    (dict(max_samples="abc"), "max_samples must be an integer >= 1, got 'abc'"),
    (dict(max_samples=0), "max_samples must be an integer >= 1, got 0"),
    (dict(interval=None), "interval must be an integer, got None"),
])
def test_bad_hook_options_are_refused_at_construction(option, expected):
    """Not at the first grid, ``interval`` iterations into the run."""
    from p2s.engine.image_grid_hook import ImageGridHook

    with pytest.raises(ValueError, match=f"^ImageGridHook: {re.escape(expected)}.$"):
        ImageGridHook(**option)


def test_hook_options_in_range_are_kept():
    from p2s.engine.image_grid_hook import ImageGridHook

    hook = ImageGridHook(interval=0, max_samples=1, tile_size=None, padding=0)
    assert (hook.interval, hook.max_samples, hook.tile_size, hook.padding) == (0, 1, None, 0)


def test_extra_columns_are_images_in_their_given_order():
    sketch = torch.zeros(1, 1, SIZE, SIZE)  # 0 -> black in the (0, 1) source range
    visuals = dict(source=sketch, output=torch.ones(1, 3, SIZE, SIZE), mix0=-torch.ones(1, 3, SIZE, SIZE))
    grid = make_visual_grid(visuals, source_range=(0, 1), columns=("source", "mix0", "output"))
    assert grid.shape[1] == 3 * SIZE + 4 * 2
    assert (_tile(grid, 0, 0) == 0).all() and (_tile(grid, 0, 1) == 0).all() and (_tile(grid, 0, 2) == 255).all()
