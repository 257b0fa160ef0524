"""``p2s zoo``: the models shipped inside the package, and how new ones are packed."""

from __future__ import annotations

import re
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

    table = Table("name", "kind", "task", "MiB", "held-out figures", title="shipped models (p2s/zoo)")
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
    replace: Annotated[bool, typer.Option(help="overwrite a catalogue entry of the same name")] = False,
) -> None:
    """Copy trained weights into p2s/zoo/weights and list them in the catalogue."""
    from p2s.zoo import WEIGHTS_DIR, catalogue
    from p2s.zoo.pack import pack_generator, pack_translation, register

    _check_pack_options(name, kind, generator, source, target, replace, compare_with)
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    out = WEIGHTS_DIR / f"{name}.pt"
    if kind == "generator":
        pack_generator(checkpoint, out)
        register(name, out.name, kind, description=description)
    else:
        training = pack_translation(checkpoint, out, generator)
        from p2s.apis.checkpoint import read_translation_checkpoint

        task = read_translation_checkpoint(out).task.get("type")
        data = {k: v for k, v in dict(source=source, target=target, compare_with=compare_with).items() if v}
        register(name, out.name, kind, task=task, description=description, training=training, data=data)
    console.print(f"packed {name}: {out} ({out.stat().st_size / 2**20:.1f} MiB); {len(catalogue())} shipped models")
    if kind == "generator":
        _warn_stale_users(name)


def _warn_stale_users(generator: str) -> None:
    """After a generator is replaced by other weights, name the encoders packed with the
    old one: they refuse to load until re-packed."""
    import warnings

    from p2s.utils.errors import P2SWarning
    from p2s.zoo import catalogue, file_sha256

    current = file_sha256(catalogue()[generator].path)
    sources = {n: _generator_of(n) or {} for n in catalogue()}
    stale = sorted(n for n, src in sources.items()
                   if src.get("file") == generator and src.get("sha256") not in (None, current))
    if stale:
        warnings.warn(f"{len(stale)} shipped encoders were packed with the earlier '{generator}' and now refuse "
                      f"to load until re-packed against it: {', '.join(stale)}", P2SWarning, stacklevel=2)


def _check_pack_options(name: str, kind: str, generator: Optional[str], source: Optional[str],
                        target: Optional[str], replace: bool, compare_with: Optional[str] = None) -> None:
    """Every refusal before anything is written."""
    from p2s.utils.errors import P2SError
    from p2s.zoo import catalogue

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
        raise P2SError(f"--name must be lower-case letters, digits, '.', '_' or '-' (e.g. synthfaces-seg2face), got {name!r}")
    if kind not in ("translation", "generator"):
        raise P2SError(f"--kind must be translation or generator, got {kind!r}")
    from p2s.synthfaces.generate import FOLDERS

    if kind == "generator":  # a generator has no encoder: these would be dropped
        given = [option for option, value in (("--generator", generator), ("--source", source), ("--target", target),
                                              ("--compare-with", compare_with)) if value is not None]
        if given:
            raise P2SError(f"{', '.join(given)} describe a translation model, not --kind generator")
    image_folders = [folder for folder in FOLDERS if folder != "attributes"]  # attributes/ holds JSON
    for option, folder in (("--source", source), ("--target", target)):
        if folder is not None and folder not in image_folders:
            raise P2SError(f"{option} names a synthetic-face image folder ({', '.join(image_folders)}), got {folder!r}")
    if kind == "translation" and not generator:
        raise P2SError("--generator is needed: the shipped generator this encoder was trained with")
    if kind == "translation" and bool(source) != bool(target):
        raise P2SError("--source and --target go together (the folders a demo or held-out score reads)")
    if compare_with is not None:  # the demo draws the pair side by side on the same data
        if not source:
            raise P2SError("--compare-with needs --source and --target (the data both models are drawn on)")
        rival = catalogue().get(compare_with)
        if rival is None or rival.kind != "translation" or compare_with == name:
            shipped = ", ".join(n for n, e in catalogue().items() if e.kind == "translation" and n != name) or "none"
            raise P2SError(f"--compare-with names another shipped translation model (shipped: {shipped}), "
                           f"got {compare_with!r}")
    shipped_generators = [n for n, e in catalogue().items() if e.kind == "generator"]
    if kind == "translation" and generator not in shipped_generators:  # a path would load from one machine only
        raise P2SError(f"--generator names a shipped generator (shipped: {', '.join(shipped_generators) or 'none'}; "
                       f"pack one first with --kind generator), got {generator!r}")
    if name in catalogue() and not replace:
        users = sorted(n for n in catalogue() if (_generator_of(n) or {}).get("file") == name)
        also = f"; {len(users)} shipped encoders use it ({', '.join(users)}) and would need re-packing" if users else ""
        raise P2SError(f"'{name}' is already shipped{also}; pass --replace to overwrite it, or choose another --name")


def _generator_of(name: str) -> Optional[dict]:
    """The ``shared_weights`` source (``file``, ``sha256``) of a shipped translation entry."""
    from p2s.utils.checkpoint import load_checkpoint_file
    from p2s.zoo import catalogue

    entry = catalogue()[name]
    if entry.kind != "translation" or not entry.path.is_file():
        return None
    config = load_checkpoint_file(entry.path, "shipped model").get("p2s") or {}
    return next(iter((config.get("shared_weights") or {}).values()), None)
