"""``p2s evaluate``: image-quality metrics of a folder of outputs against a folder of targets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from p2s.cli.common import err_console, print_skipped, progress_bar, user_errors
from p2s.utils.atomic import write_atomically
from p2s.utils.errors import P2SError

DEFAULT_METRICS = "mse,psnr,ssim,lpips"
_SHOWN_NAMES = 5


def _names(stems: list[str]) -> str:
    shown = ", ".join(stems[:_SHOWN_NAMES])
    return shown + (f", ... (+{len(stems) - _SHOWN_NAMES})" if len(stems) > _SHOWN_NAMES else "")


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4f}"


def _write_json(data: dict, path: Path) -> None:
    """Write ``data`` as JSON, atomically."""
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@user_errors
def evaluate(
    pred: Annotated[Path, typer.Option(help="folder of predictions (pairs with --target by file stem)")],
    target: Annotated[Path, typer.Option(help="folder of ground-truth images")],
    metrics: Annotated[str, typer.Option(
        help="comma list of mse, psnr, ssim, lpips, id, l2 (pSp's L2: mse of [-1, 1] images, 4x mse)")] = DEFAULT_METRICS,
    size: Annotated[Optional[int], typer.Option(
        help="resize both images to SIZE x SIZE (bilinear) first; 256 with --metrics l2,lpips is pSp's "
             "calc_losses_on_images.py", min=1)] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="also write {metric: {mean, std, per_image}, pairs} here")
    ] = None,
    lpips_weights: Annotated[
        Optional[Path], typer.Option(help="torchvision alexnet-owt-7be5be79.pth (default: looked up in <torch hub dir>/checkpoints)")
    ] = None,
    id_weights: Annotated[Optional[Path], typer.Option(help="model_ir_se50.pth (needed by the id metric)")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda if present)")] = None,
) -> None:
    """Compare predictions with targets: mean and std of each metric over the pairs.

    Images pair by file stem and are compared as RGB in [0, 1]; a prediction whose size differs from its target is resized (bicubic) to the target's size (with --size, both are resized bilinear to SIZE x SIZE). PSNR of identical images is inf (null in --json).
    """
    from p2s.apis.translator import resolve_device
    from p2s.losses.lpips import resolve_trunk_weights
    from p2s.evaluation.metrics import HIGHER_IS_BETTER, build_metrics, parse_metric_names
    from p2s.evaluation.pairs import evaluate_pairs, pair_by_stem, summary_json

    names = parse_metric_names(metrics)
    if json_path is not None:
        from p2s.utils.paths import check_output_file

        check_output_file(json_path, "--json")
    device = str(resolve_device(device))
    pairing = pair_by_stem(pred, target)
    for side, stems in (("pred", pairing.pred_only), ("target", pairing.target_only)):
        if stems:
            err_console.print(
                f"[yellow]{len(stems)} {side} image(s) without a partner, left out:[/] {escape(_names(stems))}",
                highlight=False,
            )
    if "lpips" in names:
        others = ",".join(n for n in names if n != "lpips") or "mse,psnr,ssim"
        lpips_weights = resolve_trunk_weights("alex", lpips_weights, option="--lpips-weights",
                                              instead=f"or leave LPIPS out: --metrics {others}")
    functions = build_metrics(names, lpips_weights=lpips_weights, id_weights=id_weights, device=device)
    failed: list[str] = []

    def report(stem: str, message: str) -> None:
        failed.append(stem)
        print_skipped(message)

    with progress_bar() as bar:
        job = bar.add_task("evaluate", total=len(pairing.pairs))
        results = evaluate_pairs(
            pairing.pairs, functions, device=device, on_error=report, on_pair=lambda _: bar.advance(job), size=size,
        )
    evaluated = len(pairing.pairs) - len(failed)
    if not evaluated:
        raise P2SError(f"none of the {len(pairing.pairs)} pair(s) could be read or measured ({_names(failed)}); "
                       "nothing to report")
    table = Table(title=f"{evaluated} pair(s): {escape(str(pred))} vs {escape(str(target))}")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    table.add_column("better", justify="center")
    for name, summary in results.items():
        table.add_row(name, _number(summary.mean), _number(summary.std), "higher" if HIGHER_IS_BETTER[name] else "lower")
    Console().print(table)
    if json_path is not None:
        _write_json(summary_json(results, evaluated, size), json_path)
        err_console.print(f"wrote {escape(str(json_path))}", highlight=False)
    if failed:
        err_console.print(f"[red]{len(failed)} pair(s) could not be read or measured:[/] {escape(_names(failed))}",
                          highlight=False)
        raise typer.Exit(code=1)
