"""``p2s demo``: the shipped synthetic-face models on freshly rendered faces, as grids.

Nothing is downloaded: the faces come from the procedural renderer (a seed never used
in training), the models from :mod:`p2s.zoo`.  Each shipped translation model whose
catalogue entry has a ``data`` field gets one grid, ``source | output | target`` and
style-mixing variants; models whose ``data`` names ``compare_with`` are drawn side by
side with that model instead (the inversion ablation: pSp vs naive W+ vs W).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from p2s import zoo
from p2s.apis.translator import Translator, check_mixing_seed
from p2s.datasets.transforms.official import normalize, pil_resize, to_tensor
from p2s.engine.visual_grid import make_visual_grid
from p2s.utils.atomic import save_png
from p2s.utils.errors import P2SError
from p2s.utils.paths import check_output_folder, make_output_folder

#: renderer seed of the demo faces (training used 0, the held-out figures 1)
DEMO_SEED = 2
#: side of each grid tile (the models work at 64 px)
TILE = 128


@dataclass
class DemoResult:
    """Grids written and the mean squared error of each model on the demo faces."""

    grids: list[Path] = field(default_factory=list)
    mse: dict[str, float] = field(default_factory=dict)


def demo_entries() -> list[zoo.ZooEntry]:
    """Shipped translation models that take part in the demo."""
    entries = [e for e in zoo.catalogue().values() if e.kind == "translation" and e.data]
    if not entries:
        raise P2SError("this p2s installation ships no demo models (p2s/zoo/catalogue.json lists none)")
    return sorted(entries, key=lambda e: e.name)


def _render(folder: Path, n: int, size: int, seed: int) -> None:
    from p2s.synthfaces.generate import generate

    generate(folder, n, size=size, seed=seed, workers=1)


def _targets(folder: Path, size: int) -> torch.Tensor:
    from PIL import Image

    images = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as handle:
            images.append(normalize(to_tensor(pil_resize(handle.convert("RGB"), size))))
    return torch.stack(images)


def mixing_layers(num_ws: int) -> list[int]:
    """The finer half of the W+ rows: colour, light and texture, the face's layout kept."""
    return list(range(num_ws // 2, num_ws))


class _Run:
    """One model on the rendered faces: its sources, outputs and targets."""

    def __init__(self, entry: zoo.ZooEntry, device: str | None) -> None:
        self.entry = entry
        self.translator = Translator.from_checkpoint(entry.name, device=device)

    def translate(self, faces: Path) -> None:
        task = self.translator.task
        paths = sorted((faces / self.entry.data["source"]).glob("*.png"))
        self.sources = self.translator.prepare([task.load_source(p) for p in paths])
        self.outputs = self.translator.translate(self.sources).images.cpu()
        self.targets = _targets(faces / self.entry.data["target"], self.outputs.shape[-1])

    @property
    def mse(self) -> float:
        """Mean squared error against the targets, images in [0, 1]."""
        return float(((self.outputs.clamp(-1, 1) - self.targets) / 2).square().mean())

    def mixes(self, count: int, seed: int) -> list[torch.Tensor]:
        """``count`` style-mixing variants per sample: the same random styles for every row."""
        inject = self.translator.mixing_latents(count, np.random.RandomState(seed))
        layers = mixing_layers(self.translator.num_ws)
        per_sample = [self.translator.style_mix(s, inject, layers).images.cpu() for s in self.sources]
        return [torch.stack([variants[k] for variants in per_sample]) for k in range(count)]


def run_demo(
    output: str | Path,
    n: int = 4,
    seed: int = DEMO_SEED,
    mix: int = 3,
    device: str | None = "cpu",
    on_model: Callable[[str], None] | None = None,
) -> DemoResult:
    """Render ``n`` faces from renderer seed ``seed`` and write one grid per shipped task
    (plus the inversion ablation) into ``output``."""
    if n < 1 or mix < 0:
        raise P2SError(f"--n must be >= 1 and --mix >= 0 (got {n}, {mix})")
    check_mixing_seed(seed)  # it also seeds the mixes, drawn after every model has run
    entries = demo_entries()
    output = check_output_folder(output)
    result = DemoResult()
    with tempfile.TemporaryDirectory(prefix="p2s-demo-") as tmp:
        faces = Path(tmp)
        runs = {entry.name: _Run(entry, device) for entry in entries}
        _render(faces, n, max(run.translator.task.image_size for run in runs.values()), seed)
        for name, run in runs.items():
            if on_model:
                on_model(name)
            run.translate(faces)
            result.mse[name] = run.mse
        make_output_folder(output)
        for name, run in runs.items():
            if run.entry.data.get("compare_with"):
                continue
            visuals = dict(source=run.sources.cpu(), output=run.outputs, target=run.targets)
            columns = ["source", "output", "target"]
            for k, images in enumerate(run.mixes(mix, seed) if mix else []):
                visuals[f"mix{k}"] = images
                columns.append(f"mix{k}")
            result.grids.append(_write(output / f"{name}.png", visuals, columns, run))
            rivals = [r for r in runs.values() if r.entry.data.get("compare_with") == name]
            if rivals:
                visuals = dict(source=run.sources.cpu(), output=run.outputs, target=run.targets)
                visuals.update({r.entry.name: r.outputs for r in rivals})
                columns = ["source", "output", *[r.entry.name for r in rivals], "target"]
                result.grids.append(_write(output / f"{name}-ablation.png", visuals, columns, run))
    return result


def _write(path: Path, visuals: dict, columns: list[str], run: _Run) -> Path:
    grid = make_visual_grid(visuals, source_range=run.translator.model.source_value_range,
                            max_samples=len(run.sources), tile_size=TILE, columns=columns)
    save_png(grid, path)
    return path
