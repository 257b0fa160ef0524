"""The models p2s ships: they load by name, run, reproduce their recorded held-out
figures, and drive ``p2s demo`` and the synthetic-face training configs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from typer.testing import CliRunner

from p2s import zoo
from p2s.cli.main import app
from p2s.evaluation.heldout import evaluate_translation
from p2s.zoo.pack import sha256

ROOT = Path(__file__).resolve().parents[2]
SYNTHFACES_CONFIGS = sorted((ROOT / "configs" / "synthfaces").glob("*.py"))
TRANSLATION = zoo.names("translation")
TORCH_THREADS = None  # several models: use every core the machine has


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> Path:
    """The first faces of the held-out set (renderer seed 1), as the figures were measured."""
    from p2s.synthfaces.generate import generate

    folder = tmp_path_factory.mktemp("heldout")
    generate(folder, 4, size=64, seed=1, workers=1)
    return folder


@pytest.fixture(scope="module")
def heldout_figures(heldout):
    """``heldout_figures(name)``: evaluate_translation of the shipped model ``name`` on the first
    four held-out faces (its catalogue source and target), computed once per module."""
    done = {}

    def figures_of(name: str):
        if name not in done:
            data = zoo.catalogue()[name].data
            done[name] = evaluate_translation(name, heldout, data["source"], data["target"], limit=4)
        return done[name]

    return figures_of


def test_the_catalogue_lists_a_generator_and_every_task():
    assert zoo.names("generator") == ["synthfaces-generator"]
    tasks = {zoo.catalogue()[n].task for n in TRANSLATION}
    assert tasks == {"Inversion", "Frontalization", "Sketch2Face", "Seg2Face", "SuperResolution", "Inpainting"}
    for entry in zoo.catalogue().values():
        assert entry.path.is_file(), entry.path
        assert entry.path.stat().st_size < 8 * 2**20, f"{entry.name} is not small"
        assert sha256(entry.path) == entry.sha256, f"{entry.name} changed without being re-recorded"


@pytest.mark.parametrize("name", TRANSLATION)
def test_shipped_model_reproduces_its_recorded_figures(name, heldout_figures):
    entry = zoo.catalogue()[name]
    recorded = entry.results["check"]
    assert recorded["seed"] == 1 and recorded["n"] == 4
    figures = heldout_figures(name)
    assert figures.mse == pytest.approx(recorded["mse"], rel=2e-3)
    # and the held-out figure over the whole set is in line with these four faces
    assert figures.mse < 3 * entry.results["held_out"]["mse"]


def test_outputs_depend_on_the_input(heldout):
    from p2s.apis.translator import Translator

    translator = Translator.from_checkpoint("synthfaces-seg2face", device="cpu")
    paths = sorted((heldout / "labels").glob("*.png"))
    images = translator.translate(translator.prepare([translator.task.load_source(p) for p in paths])).images
    assert images.shape == (4, 3, 64, 64)
    assert images.std(dim=(1, 2, 3)).min() > 0.1  # not flat
    assert (images[0] - images[1]).abs().mean() > 0.02  # not constant across inputs


def test_translate_cli_takes_a_shipped_name(heldout, tmp_path):
    result = _invoke("translate", "--checkpoint", "synthfaces-sketch2face", "--input", heldout / "sketches",
                     "--output", tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == sorted(
        p.name for p in (heldout / "sketches").glob("*.png"))


def test_demo_writes_a_grid_per_task(tmp_path):
    result = _invoke("demo", "--output", tmp_path / "demo", "--n", "2", "--mix", "2")
    assert result.exit_code == 0, result.output
    grids = sorted(p.name for p in (tmp_path / "demo").glob("*.png"))
    solo = [n for n in TRANSLATION if not zoo.catalogue()[n].data.get("compare_with")]
    assert grids == sorted([f"{n}.png" for n in solo] + ["synthfaces-inversion-ablation.png"])
    with Image.open(tmp_path / "demo" / "synthfaces-seg2face.png") as grid:
        width, height = grid.size
    # 2 rows; source | output | target | 2 mixes, 128 px tiles, 2 px padding
    assert (width, height) == (5 * 128 + 6 * 2, 2 * 128 + 3 * 2)
    with Image.open(tmp_path / "demo" / "synthfaces-inversion-ablation.png") as grid:
        assert grid.size[0] == 5 * 128 + 6 * 2  # source | pSp | naive W+ | W | target
    assert re.search(r"synthfaces-seg2face\W+\d\.\d{4}", result.output)  # its row of the MSE table


def test_demo_without_shipped_models_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "CATALOGUE", tmp_path / "none.json")
    zoo.catalogue.cache_clear()
    try:
        result = _invoke("demo", "--output", tmp_path / "demo")
    finally:
        zoo.catalogue.cache_clear()
    assert result.exit_code == 2 and "ships no demo models" in result.output
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("config", SYNTHFACES_CONFIGS, ids=lambda p: p.stem)
def test_synthfaces_config_trains_a_step_with_the_shipped_generator(config, heldout):
    from p2s.registry import DATASETS, MODELS
    from p2s.utils.build import build

    cfg = Config.fromfile(str(config))
    model = build(MODELS, cfg.model.to_dict()).train()
    assert model.decoder.weights_path == "synthfaces-generator"
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    for key in ("root", "source_root", "target_root"):
        if key in dataset_cfg:
            dataset_cfg[key] = str(heldout / Path(dataset_cfg[key]).name)
    dataset = build(DATASETS, dataset_cfg)
    batch = [dataset[i] for i in range(2)]
    inputs = torch.stack([b["inputs"] for b in batch])
    targets = torch.stack([b["data_samples"]["target"] for b in batch])
    assert inputs.shape[-1] == targets.shape[-1] == 64
    terms = model.loss(inputs, dict(target=targets))
    sum(terms.values()).backward()
    assert np.isfinite(float(sum(terms.values()).detach()))
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)


def test_encoders_beat_the_mean_face_baseline(heldout, heldout_figures):
    from p2s.evaluation.heldout import evaluate_mean_face

    floor = evaluate_mean_face("synthfaces-inversion", heldout, "images", limit=4)
    assert floor.n == 4 and floor.mse > 0.01  # a constant image is far from varied faces
    assert zoo.catalogue()["synthfaces-inversion"].data == dict(source="images", target="images")
    inversion = heldout_figures("synthfaces-inversion")  # the same translation the recorded-figures test scores
    assert inversion.n == 4 and inversion.mse < floor.mse / 3
    recorded = zoo.catalogue()["synthfaces-inversion"].results["mean_face_images"]
    assert floor.mse < 3 * recorded["mse"]
