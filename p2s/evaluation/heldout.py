"""Held-out figures of translation models on synthetic faces (and of the W+ projector).

A held-out set is a ``p2s data synthfaces`` folder rendered with a seed never used in
training (1 by convention).  Each model reads ``<faces>/<source>`` and is scored against
``<faces>/<target>`` (e.g. ``labels`` -> ``images``, ``images`` -> ``frontal``) on the
generator's own output size: MSE and PSNR with images in [0, 1], SSIM, and wall seconds
per image (model loading excluded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from p2s.apis.translator import Translator
from p2s.datasets.transforms.official import normalize, pil_resize, to_tensor
from p2s.evaluation.metrics import mse, psnr, ssim
from p2s.utils.errors import P2SError


@dataclass
class HeldOutScore:
    """Mean figures over ``n`` held-out images."""

    n: int
    mse: float
    psnr: float
    ssim: float
    seconds_per_image: float
    #: each image's MSE, in order, for paired comparisons of two models on the same faces
    per_image_mse: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        """The mean figures (``per_image_mse`` left out)."""
        return dict(n=self.n, mse=self.mse, psnr=self.psnr, ssim=self.ssim, seconds_per_image=self.seconds_per_image)


def _paths(folder: Path, limit: int | None) -> list[Path]:
    paths = sorted(folder.glob("*.png"))[:limit]
    if not paths:
        raise P2SError(f"no .png images in '{folder}' (render a held-out set with p2s data synthfaces --seed 1)")
    return paths


def _load_targets(paths: list[Path], size: int) -> torch.Tensor:
    images = []
    for path in paths:
        with Image.open(path) as handle:
            images.append(normalize(to_tensor(pil_resize(handle.convert("RGB"), size))))
    return torch.stack(images)


def score(outputs: torch.Tensor, targets: torch.Tensor, seconds: float) -> HeldOutScore:
    """Mean MSE / PSNR / SSIM of ``outputs`` against ``targets`` (both in [-1, 1])."""
    pred = ((outputs.float().cpu().clamp(-1, 1) + 1) / 2)
    true = (targets.float().cpu() + 1) / 2
    n = len(pred)
    per_image = mse(pred, true)
    return HeldOutScore(n, float(per_image.mean()), float(psnr(pred, true).mean()),
                        float(ssim(pred, true).mean()), seconds / n, per_image.tolist())


def evaluate_translation(
    checkpoint: str | Path,
    faces: str | Path,
    source: str,
    target: str,
    limit: int | None = None,
    batch_size: int = 32,
    device: str | None = "cpu",
    task_options: dict | None = None,
) -> HeldOutScore:
    """Translate ``faces/source`` with ``checkpoint`` (a path or a shipped name) and score
    the outputs against ``faces/target``."""
    faces = Path(faces)
    translator = Translator.from_checkpoint(checkpoint, device=device, **(task_options or {}))
    paths = _paths(faces / source, limit)
    targets = _paths(faces / target, limit)
    if [p.stem for p in paths] != [p.stem for p in targets]:
        raise P2SError(f"'{faces / source}' and '{faces / target}' do not hold the same image names")
    outputs, seconds = [], 0.0
    for start in range(0, len(paths), batch_size):
        batch = [translator.task.load_source(p) for p in paths[start : start + batch_size]]
        begin = time.perf_counter()
        outputs.append(translator.translate(translator.prepare(batch)).images.cpu())
        seconds += time.perf_counter() - begin
    images = torch.cat(outputs)
    return score(images, _load_targets(targets, images.shape[-1]), seconds)


def evaluate_mean_face(
    checkpoint: str | Path, faces: str | Path, target: str = "images", limit: int | None = None,
    device: str | None = "cpu",
) -> HeldOutScore:
    """The no-encoder baseline: the generator's image of ``latent_avg`` scored against every
    ``faces/target`` image (what an encoder that ignores its input would reach)."""
    translator = Translator.from_checkpoint(checkpoint, device=device)
    model = translator.model
    targets = _load_targets(_paths(Path(faces) / target, limit), model.decoder.resolution)
    begin = time.perf_counter()
    with torch.no_grad():
        image = model.decode(model.latent_avg.unsqueeze(0)).cpu()
    return score(image.expand(len(targets), -1, -1, -1), targets, time.perf_counter() - begin)


def evaluate_projection(
    checkpoint: str | Path,
    faces: str | Path,
    folder: str = "images",
    limit: int | None = 16,
    steps: int = 300,
    lr: float = 0.05,
    batch_size: int = 16,
    device: str | None = "cpu",
    on_step: Callable[[int], None] | None = None,
) -> HeldOutScore:
    """Optimisation-based W+ inversion (L2 only: no pretrained LPIPS here) of
    ``faces/folder`` with the generator and ``latent_avg`` of ``checkpoint``."""
    from p2s.apis.projector import Projector

    translator = Translator.from_checkpoint(checkpoint, device=device)
    paths = _paths(Path(faces) / folder, limit)
    targets = _load_targets(paths, translator.model.pooled_size)
    projector = Projector(translator.model, lpips=None, steps=steps, lr=lr)
    outputs, begin = [], time.perf_counter()
    for start in range(0, len(targets), batch_size):
        batch = targets[start : start + batch_size].to(translator.device)
        outputs.append(projector.project(batch, on_step=on_step).images.cpu())
    seconds = time.perf_counter() - begin
    images = torch.cat(outputs)
    return score(images, _load_targets(paths, images.shape[-1]), seconds)
