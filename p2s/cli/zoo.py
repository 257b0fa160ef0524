"""``p2s zoo``: the models shipped inside the package, and how new ones are packed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from p2s.cli.common import console, user_errors

zoo_app = typer.Typer(no_args_is_help=True, help="Shipped models: list them, pack new ones.")


def _figures(results: dict) -> str:
    """``MSE 0.0123  PSNR 19.1  SSIM 0.712`` on the held-out faces, or ``-``."""
    held_out = results.get("held_out")
    if not held_out:
        return "-"
    return f"MSE {held_out['mse']:.4f}  PSNR {held_out['psnr']:.1f}  SSIM {held_out['ssim']:.3f}  (n={held_out['n']})"


@zoo_app.command("list")
@user_errors
def list_models() -> None:
    """Shipped models; pass a name as --checkpoint (or as generator weights)."""
    from p2s import zoo

    table = Table("name", "kind", "task", "MB", "held-out figures", title="shipped models (p2s/zoo)")
    table.columns[0].no_wrap = True
    for name in zoo.names():
        entry = zoo.catalogue()[name]
        size = entry.path.stat().st_size / 2**20 if entry.path.is_file() else float("nan")
        table.add_row(name, entry.kind, entry.task or "-", f"{size:.1f}", _figures(entry.results))
    console.print(table)


@zoo_app.command("pack")
@user_errors
def pack(
    checkpoint: Annotated[Path, typer.Argument(help="p2s training checkpoint, or an exported generator (--kind generator)")],
    name: Annotated[str, typer.Option(help="catalogue name, e.g. synthfaces-seg2face")],
    kind: Annotated[str, typer.Option(help="translation or generator")] = "translation",
    generator: Annotated[Optional[str], typer.Option(help="shipped generator the encoder was trained with")] = None,
    description: Annotated[str, typer.Option(help="one line for the catalogue")] = "",
    source: Annotated[Optional[str], typer.Option(help="synthetic-face folder it reads (demo, held-out figures)")] = None,
    target: Annotated[Optional[str], typer.Option(help="synthetic-face folder it is scored against")] = None,
    compare_with: Annotated[Optional[str], typer.Option(help="ablation of this model: drawn beside it in the demo")] = None,
) -> None:
    """Copy trained weights into p2s/zoo/weights and list them in the catalogue."""
    from p2s.utils.errors import P2SError
    from p2s.zoo import WEIGHTS_DIR, catalogue
    from p2s.zoo.pack import pack_generator, pack_translation, register

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    out = WEIGHTS_DIR / f"{name}.pt"
    if kind == "generator":
        pack_generator(checkpoint, out)
        register(name, out.name, kind, description=description)
    elif kind == "translation":
        if not generator:
            raise P2SError("--generator is needed: the shipped generator this encoder was trained with")
        training = pack_translation(checkpoint, out, generator)
        from p2s.apis.checkpoint import read_translation_checkpoint

        task = read_translation_checkpoint(out).task.get("type")
        data = {k: v for k, v in dict(source=source, target=target, compare_with=compare_with).items() if v}
        if data and not (source and target):
            raise P2SError("--source and --target go together (the folders a demo or held-out score reads)")
        register(name, out.name, kind, task=task, description=description, training=training, data=data)
    else:
        raise P2SError(f"--kind must be translation or generator, got {kind!r}")
    console.print(f"packed {name}: {out} ({out.stat().st_size / 2**20:.1f} MB); {len(catalogue())} shipped models")
