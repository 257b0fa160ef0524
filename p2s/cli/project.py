"""``p2s project``: optimisation-based inversion (no encoder), the encoders' baseline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from p2s.cli.common import err_console, print_skipped, progress_bar, require_checkpoint, user_errors
from p2s.utils.errors import P2SError




@user_errors
def project(
    checkpoint: Annotated[Path, typer.Option(help="pSp or p2s checkpoint: its generator and latent_avg are used")],
    input: Annotated[Path, typer.Option("--input", help="an image, or a folder of images (sorted by name)")],
    output: Annotated[Path, typer.Option(help="folder for <stem>.png and latents/<stem>.npy")],
    steps: Annotated[int, typer.Option(min=1, help="optimisation steps per image")] = 300,
    lr: Annotated[float, typer.Option(help="Adam learning rate on W+")] = 0.05,
    lpips_weights: Annotated[Optional[Path], typer.Option(help="AlexNet weights for LPIPS (default: hub cache)")] = None,
    no_lpips: Annotated[bool, typer.Option("--no-lpips", help="L2 only (no LPIPS weights needed)")] = False,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda")] = None,
) -> None:
    """Fit W+ codes to images by gradient descent (L2 + LPIPS), from the mean latent."""
    require_checkpoint(checkpoint)  # before seconds of imports
    import numpy as np
    import torch

    from p2s.apis.projector import Projector, check_lr
    from p2s.apis.translator import Translator
    from p2s.datasets.folders import open_rgb
    from p2s.datasets.transforms.official import normalize, pil_resize, to_tensor, tensors_to_uint8
    from p2s.utils.atomic import save_npy, save_png
    from p2s.utils.paths import (
        check_output_folder, list_inputs, make_output_folder, refuse_overwriting_inputs, removed_when_empty,
        warn_replaced,
    )

    check_output_folder(output)  # before any work
    inputs = list_inputs(input)
    planned = [output / f"{p.stem}.png" for p in inputs] + [output / "latents" / f"{p.stem}.npy" for p in inputs]
    replaced = refuse_overwriting_inputs(inputs, planned, warn=False)
    check_lr(lr, "--lr")  # before the LPIPS weights and the model load
    if no_lpips and lpips_weights is not None:
        raise P2SError("--lpips-weights is for the LPIPS term, which --no-lpips leaves out: give one of the two")
    if not no_lpips:
        from p2s.losses.lpips import resolve_trunk_weights

        lpips_weights = resolve_trunk_weights("alex", lpips_weights, option="--lpips-weights",
                                              instead="or project with L2 only: --no-lpips")
    translator = Translator.from_checkpoint(checkpoint, device=device)
    lpips = None
    if not no_lpips:
        from p2s.losses import LPIPSLoss

        lpips = LPIPSLoss(loss_weight=1.0, backbone_weights=str(lpips_weights)).to(translator.device)
    projector = Projector(translator.model, lpips=lpips, steps=steps, lr=lr)
    warn_replaced(replaced)  # only now: a refused run replaces nothing
    with removed_when_empty(output, output / "latents"):  # every input failed: no empty folders left
        make_output_folder(output)
        failed = []
        start = time.perf_counter()
        with progress_bar() as bar:
            job = bar.add_task("project", total=len(inputs) * steps)
            for path in inputs:
                try:
                    image = open_rgb(path)
                except P2SError as err:
                    failed.append(path)
                    print_skipped(str(err))
                    bar.advance(job, steps)  # its share of the bar, which would otherwise end short
                    continue
                target = normalize(to_tensor(pil_resize(image, translator.model.pooled_size))).unsqueeze(0).to(translator.device)
                result = projector.project(target, on_step=lambda *_: bar.advance(job))
                if not bool(torch.isfinite(result.latents).all()):
                    failed.append(path)
                    print_skipped(f"{path.name}: the projection diverged (NaN or infinite codes); lower --lr "
                                  f"(now {lr:g})")
                    continue
                save_png(tensors_to_uint8(result.images)[0], output / f"{path.stem}.png")
                save_npy(result.latents[0].cpu().numpy().astype(np.float32), output / "latents" / f"{path.stem}.npy")
        done = len(inputs) - len(failed)
        seconds = (time.perf_counter() - start) / max(done, 1)
        err_console.print(f"projected {done} image(s) into {escape(str(output))} ({seconds:.2f} s/image)", highlight=False)
        if failed:
            raise typer.Exit(code=1)
