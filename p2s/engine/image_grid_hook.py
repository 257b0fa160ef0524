"""``ImageGridHook``: ``source | output | target`` grids for the visualizer (TensorBoard
when ``TensorboardVisBackend`` is configured) and as PNG files under
``{runner.log_dir}/grids/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from p2s.engine.visual_grid import IMAGE_RANGE, make_visual_grid
from p2s.registry import HOOKS
from p2s.utils.atomic import save_png


@HOOKS.register_module()
class ImageGridHook(Hook):
    """Write ``source | output | target`` image grids during training and validation.

    Model contract: the model (``runner.model``, unwrapped from DDP) keeps an attribute
    ``last_visuals = dict(source=[N, C, H, W], output=[N, 3, H, W], target=[N, 3, H, W])``
    that it sets, detached and with at most a few samples, in ``loss`` mode (and, for
    validation grids, in ``predict`` mode).  ``output`` and ``target`` are in
    ``[-1, 1]``; the source is in ``model.source_value_range`` (default ``(-1, 1)``;
    ``(0, 1)`` for sketches).  Sources with 1 channel are drawn gray, with a channel
    count other than 1 or 3 as an argmax label map in a fixed palette.

    Every ``interval`` training iterations, and after the first batch of each
    validation when the model refreshed ``last_visuals`` there, the grid goes to
    ``runner.visualizer.add_image`` (``train_grid`` / ``val_grid``) and, if ``save_png``,
    to ``{runner.log_dir}/{out_dir}/iter_{n:06d}.png`` (``val_iter_...`` for validation;
    ``n`` counts finished training iterations).

    Args:
        interval: training iterations between grids; ``<= 0`` disables training grids.
        max_samples: rows at most.
        tile_size: longest side of each tile in pixels; ``None`` keeps the output size.
        padding: pixels between tiles.
        out_dir: folder under ``runner.log_dir`` for the PNG files.
        save_png: also write PNG files (the visualizer always gets the grid).
        on_val: draw a grid for each validation.

    Config::

        custom_hooks = [dict(type='ImageGridHook', interval=1000)]
    """

    priority = "LOW"

    def __init__(
        self,
        interval: int = 1000,
        max_samples: int = 4,
        tile_size: int | None = 256,
        padding: int = 2,
        out_dir: str = "grids",
        save_png: bool = True,
        on_val: bool = True,
    ) -> None:
        _check_grid_option("interval", interval, None)
        _check_grid_option("max_samples", max_samples, 1)
        if tile_size is not None:
            _check_grid_option("tile_size", tile_size, 1, " or None")
        _check_grid_option("padding", padding, 0)
        self.interval = interval
        self.max_samples = max_samples
        self.tile_size = tile_size
        self.padding = padding
        self.out_dir = out_dir
        self.save_png = save_png
        self.on_val = on_val
        self._warned = False
        self._before_val: Any = None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def _visuals(self, runner) -> dict | None:
        visuals = getattr(self._model(runner), "last_visuals", None)
        if visuals is None and not self._warned:
            self._warned = True
            runner.logger.warning(
                f"ImageGridHook: {type(self._model(runner)).__name__} sets no 'last_visuals' "
                f"(dict of source/output/target tensors), so no image grids are written."
            )
        return visuals

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.interval > 0 and self.every_n_train_iters(runner, self.interval):
            visuals = self._visuals(runner)
            if visuals is not None:
                self.write_grid(runner, visuals, "train", runner.iter + 1)

    def before_val_epoch(self, runner) -> None:
        self._before_val = getattr(self._model(runner), "last_visuals", None)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.on_val or batch_idx != 0:
            return
        visuals = getattr(self._model(runner), "last_visuals", None)
        if visuals is not None and visuals is not self._before_val:
            self.write_grid(runner, visuals, "val", runner.iter)

    def write_grid(self, runner, visuals: dict, phase: str, step: int) -> None:
        """Draw ``visuals`` and send the grid to the visualizer and, maybe, a PNG file."""
        source_range = getattr(self._model(runner), "source_value_range", IMAGE_RANGE)
        grid = make_visual_grid(
            visuals,
            source_range=source_range,
            max_samples=self.max_samples,
            tile_size=self.tile_size,
            padding=self.padding,
        )
        runner.visualizer.add_image(f"{phase}_grid", grid, step=step)
        if self.save_png and is_main_process():
            prefix = "" if phase == "train" else f"{phase}_"
            path = Path(runner.log_dir) / self.out_dir / f"{prefix}iter_{step:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_png(grid, path)  # atomic: a grid being written is never seen half-written


def _check_grid_option(name: str, value: Any, minimum: int | None, alternative: str = "") -> None:
    """A grid option of the wrong kind would fail only at the first grid, ``interval``
    iterations into the run: at construction (start-up) instead."""
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        wanted = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ValueError(f"ImageGridHook: {name} must be {wanted}{alternative}, got {value!r}.")
