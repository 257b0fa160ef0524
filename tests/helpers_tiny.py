"""Tiny pSp checkpoints and image files for the CLI and API tests (fast on CPU).

Loaded by ``tests/cli/conftest.py`` and ``tests/apis/conftest.py`` under one module
name, so the session cache below is shared and every checkpoint is written once.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: channels of the encoder input per task type
TASK_CHANNELS = {"Inversion": 3, "Frontalization": 3, "SuperResolution": 3, "Sketch2Face": 1, "Seg2Face": 19}
#: W+ rows and width of the tiny generator (resolution 16 -> 6 rows of 8)
NUM_WS, W_DIM, RESOLUTION = 6, 8, 16


def tiny_model_cfg(in_channels: int = 3) -> dict:
    return dict(
        type="PSP",
        encoder=dict(
            type="GradualStyleEncoder",
            backbone=dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16), in_channels=in_channels),
        ),
        generator=dict(
            type="StyleGAN2Generator", resolution=RESOLUTION, w_dim=W_DIM, n_mlp=2, channel_max=16, channel_multiplier=1
        ),
        start_from_latent_avg=True,
    )


def build_tiny_model(in_channels: int = 3, seed: int = 0, noise_weight: float | None = None):
    """A randomly initialised tiny PSP with a non-trivial ``latent_avg``."""
    from p2s.registry import MODELS
    from p2s.utils.build import build

    torch.manual_seed(seed)
    model = build(MODELS, tiny_model_cfg(in_channels))
    with torch.no_grad():
        model.latent_avg.normal_()
        if noise_weight is not None:
            for name, param in model.decoder.named_parameters():
                if name.endswith("noise.weight"):
                    param.fill_(noise_weight)
    return model.eval()


def write_tiny_checkpoint(path: Path, task: dict, seed: int = 0, noise_weight: float | None = None) -> Path:
    from p2s.apis.checkpoint import save_translation_checkpoint

    channels = TASK_CHANNELS[task["type"]]
    model = build_tiny_model(channels, seed=seed, noise_weight=noise_weight)
    save_translation_checkpoint(path, model, tiny_model_cfg(channels), copy.deepcopy(task))
    return path


#: name -> (task config, seed, noise weight)
CHECKPOINTS = {
    "inversion": (dict(type="Inversion"), 0, None),
    "noisy": (dict(type="Inversion"), 1, 1.0),
    "sketch": (dict(type="Sketch2Face"), 2, None),
    "seg": (dict(type="Seg2Face"), 3, None),
    "superres": (dict(type="SuperResolution"), 4, None),
}
_CACHE: dict[str, Path] = {}


def checkpoint(tmp_path_factory, name: str) -> Path:
    """The tiny checkpoint ``name`` (written on first use in this session)."""
    if name not in _CACHE:
        task, seed, noise = CHECKPOINTS[name]
        folder = tmp_path_factory.mktemp(f"ckpt_{name}")
        _CACHE[name] = write_tiny_checkpoint(folder / f"{name}.pt", task, seed, noise)
    return _CACHE[name]


# --- images ----------------------------------------------------------------------
#: (stem, suffix, (height, width)) of the mixed RGB folder
RGB_FILES = [
    ("a_face", ".png", (40, 52)),
    ("b_face", ".jpg", (64, 64)),
    ("c_face", ".bmp", (33, 47)),
    ("d_face", ".webp", (80, 60)),
    ("e_face", ".png", (24, 30)),
]


def rgb_array(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A smooth random RGB picture (survives JPEG / WebP without turning into noise)."""
    rng = np.random.RandomState(seed)
    low = rng.randint(0, 256, (4, 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(low).resize((size[1], size[0]), Image.BILINEAR))


def write_rgb(path: Path, seed: int = 0, size: tuple[int, int] = (48, 48)) -> Path:
    Image.fromarray(rgb_array(seed, size)).save(path)
    return path


def write_rgb_folder(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_rgb(folder / f"{stem}{suffix}", k, size) for k, (stem, suffix, size) in enumerate(RGB_FILES)]


def write_label_map(path: Path, seed: int = 0, size: int = 32, top: int = 18) -> Path:
    """An 'L' label map with values 0..``top`` (``top`` appears at least once)."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, min(top, 18) + 1, (size, size)).astype(np.uint8)
    labels[0, 0] = top
    Image.fromarray(labels, mode="L").save(path)
    return path


def write_sketch(path: Path, seed: int = 0, size: int = 40) -> Path:
    rng = np.random.RandomState(seed)
    sketch = np.full((size, size), 255, np.uint8)
    for _ in range(6):
        row, col = rng.randint(0, size, 2)
        sketch[row, :] = 0
        sketch[:, col] = 0
    Image.fromarray(sketch, mode="L").save(path)
    return path


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path.name} is {image.format}, not PNG"
        return np.asarray(image.copy())


def leftovers(folder: Path) -> list[str]:
    """Temporary or hidden files an interrupted or failed write would leave behind."""
    if not folder.exists():
        return []
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")
    )


def invoke(*args: str):
    """Run ``p2s <args>`` in-process; returns the Click result (``output`` has stderr too)."""
    from typer.testing import CliRunner

    from p2s.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def one_line_error(result) -> str:
    """The single ``error: ...`` line of a failed command (checked to be the only one)."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1, result.output
    return lines[0]
