"""``p2s edit`` (latent directions, local patches) and ``p2s directions ganspace``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from p2s.cli.common import (
    RESIZE_OUTPUTS_HELP, SEED_MAX, err_console, parse_layers, print_skipped, progress_bar, require_checkpoint, user_errors,
)
from p2s.utils.errors import P2SError
from p2s.utils.wplus import check_rows

#: what ``p2s edit`` writes per input: an earlier run's file this run does not rewrite is
#: named in one warning (a ``_strip`` left beside a new ``_edit``, from another model perhaps)
EDIT_SUFFIXES = ("_edit", "_strip", "_patched")

directions_app = typer.Typer(no_args_is_help=True, help="Make latent editing directions.")


def parse_strengths(text: str) -> list[float]:
    """``'-3,0,3'`` -> ``[-3.0, 0.0, 3.0]`` (finite numbers, in the given order)."""
    from p2s.editing.directions import check_strength

    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise P2SError("--strengths names no strength")
    values = []
    for part in parts:
        try:
            values.append(float(part))
        except ValueError:
            raise P2SError(f"--strengths '{text}' is not like '-3,0,3' (comma-separated numbers)") from None
    return [check_strength(v, "--strengths value") for v in values]


def _layers(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    try:
        return parse_layers(text)
    except P2SError as err:
        raise P2SError(str(err).replace("--mix-layers", "--layers")) from None


def _summarise(reports: list, total: int, output: Path, device) -> None:
    """One line for the passes over the inputs; exit code 1 when any input failed."""
    failed: dict[Path, str] = {}
    for report in reports:
        for path, message in report.failed:
            failed.setdefault(path, message)
    written = sum(len(report.written) for report in reports)
    seconds = sum(report.seconds for report in reports)
    done = total - len(failed)
    err_console.print(
        f"edited {done} of {total} image(s): {written} file(s) in {escape(str(output))} "
        f"({seconds / max(done, 1):.3f} s/image on {device})",
        highlight=False,
    )
    if failed:
        err_console.print(
            f"[red]{len(failed)} input(s) failed:[/] " + escape(", ".join(p.name for p in failed)),
            highlight=False,
        )
        raise typer.Exit(code=1)


@user_errors
def edit(
    checkpoint: Annotated[Path, typer.Option(help="pSp or p2s checkpoint (.pt) that encodes the inputs")],
    input: Annotated[Path, typer.Option("--input", help="an image, or a folder of images (sorted by name)")],
    output: Annotated[Path, typer.Option(help="folder for <stem>_edit.png / _strip.png / _patched.png")],
    direction: Annotated[Optional[str], typer.Option(
        help="W direction: a .npy of shape (w_dim,), (1, w_dim) or (n_styles, w_dim), or ganspace:K "
             "(w_dim: 512 for FFHQ models, 128 for the shipped 64-px ones)")] = None,
    strength: Annotated[Optional[float], typer.Option(
        help="step along --direction (default 1; about -3..3 keeps faces realistic)")] = None,
    strengths: Annotated[Optional[str], typer.Option(
        help="several strengths, e.g. -3,0,3: writes <stem>_strip.png, one frame per strength")] = None,
    layers: Annotated[Optional[str], typer.Option(help="W+ rows to edit, e.g. 0-7 (default: all)")] = None,
    directions_file: Annotated[Optional[Path], typer.Option(
        help="GANSpace .npz that ganspace:K reads ('p2s directions ganspace')")] = None,
    patch: Annotated[Optional[Path], typer.Option(
        help="local edit: paste this image at --box and re-encode (<stem>_patched.png)")] = None,
    box: Annotated[Optional[str], typer.Option(
        help="where --patch goes, in input pixels: x0,y0 (patch size) or x0,y0,x1,y1 (resized)")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda if present)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="images per forward pass")] = 4,
    workers: Annotated[Optional[int], typer.Option(
        min=0, help="threads that read and write files beside the model (default: one per core, at most 8; 0: inline)")
    ] = None,
    resize_outputs: Annotated[bool, typer.Option(help=RESIZE_OUTPUTS_HELP)] = False,
) -> None:
    """Edit images in W+: encode, move along a direction (InterFaceGAN .npy or GANSpace),
    decode; or paste a patch and re-encode it into a realistic face."""
    require_checkpoint(checkpoint)  # before seconds of imports
    from p2s.apis.files import default_io_workers
    from p2s.apis.translator import Translator
    from p2s.editing.directions import check_strength, load_direction
    from p2s.editing.editor import edit_files, patch_files
    from p2s.editing.patch import open_patch, parse_box
    from p2s.utils.paths import (
        check_output_folder, list_inputs, make_output_folder, refuse_overwriting_inputs, removed_when_empty,
        warn_replaced, warn_stale,
    )

    check_output_folder(output)  # before any work

    if direction is None and patch is None:
        raise P2SError("give --direction (latent edit) or --patch with --box (local edit)")
    if direction is None and (strength is not None or strengths is not None or layers is not None):
        raise P2SError("--strength, --strengths and --layers need --direction")
    if strength is not None and strengths is not None:
        raise P2SError("give --strength (one edit) or --strengths (a strip), not both")
    if (patch is None) != (box is None):
        raise P2SError("--patch and --box go together")
    # every option is checked before the checkpoint is read or anything is written
    values = parse_strengths(strengths) if strengths is not None else None
    if strength is not None:
        check_strength(strength, "--strength")
    rows = _layers(layers)
    where = parse_box(box) if box is not None else None
    patch_image = open_patch(patch) if patch is not None else None
    inputs = list_inputs(input)
    suffixes = (["_strip" if values is not None else "_edit"] if direction is not None else []) + (
        ["_patched"] if patch is not None else [])
    planned = [output / f"{p.stem}{suffix}.png" for p in inputs for suffix in suffixes]
    replaced = refuse_overwriting_inputs(inputs, planned, warn=False)
    translator = Translator.from_checkpoint(checkpoint, device=device, resize_outputs=resize_outputs)
    if patch is not None:  # before the direction pass writes anything
        translator.task.require_rgb_sources("--patch")
    vector = None
    if direction is not None:
        vector = load_direction(direction, translator.num_ws, translator.model.decoder.w_dim, directions_file)
        if directions_file is not None:
            from p2s.editing.ganspace import warn_if_other_mapping

            warn_if_other_mapping(directions_file, translator.model)
        if rows is not None:
            check_rows(rows, translator.num_ws, "--layers")
    warn_replaced(replaced)  # only now: a refused run replaces nothing
    warn_stale(output, (output / f"{p.stem}{suffix}.png" for p in inputs for suffix in EDIT_SUFFIXES), planned)
    with removed_when_empty(output):  # every input failed: no empty folders left
        make_output_folder(output)

        reported: set[Path] = set()

        def skipped(path: Path, message: str) -> None:
            if path in reported:  # the patch pass meets the same unreadable file again
                return
            reported.add(path)
            print_skipped(message)

        reports = []
        with progress_bar() as bar:
            if vector is not None:
                job = bar.add_task("edit", total=len(inputs))
                reports.append(edit_files(
                    translator, inputs, output, vector, strength=strength, strengths=values, layers=rows,
                    batch_size=batch_size, on_error=skipped, on_batch=lambda n: bar.advance(job, n),
                    workers=default_io_workers() if workers is None else workers,
                ))
            if patch_image is not None:
                job = bar.add_task("patch", total=len(inputs))
                reports.append(patch_files(
                    translator, inputs, output, patch_image, where, on_error=skipped,
                    on_batch=lambda n: bar.advance(job, n),
                ))
        _summarise(reports, len(inputs), output, translator.device)


def _generator_options(items: Optional[list[str]]) -> dict:
    from p2s.cli.overrides import parse_value

    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise P2SError(f"--generator-option '{item}' is not KEY=VALUE (e.g. resolution=256)")
        options[key.strip()] = parse_value(value.strip())
    return options


def _fingerprint(generator) -> dict:
    """The mapping network's fingerprint for the ``.npz``, so an edit with another
    generator's directions is warned about."""
    from p2s.editing.ganspace import MAPPING_KEY, mapping_fingerprint

    fingerprint = mapping_fingerprint(generator)
    return {MAPPING_KEY: fingerprint} if fingerprint else {}


@directions_app.command("ganspace")
@user_errors
def ganspace(
    output: Annotated[Path, typer.Option(help="the .npz to write (components, stds, mean)")],
    checkpoint: Annotated[Optional[Path], typer.Option(
        help="pSp or p2s checkpoint whose generator is analysed")] = None,
    generator: Annotated[Optional[Path], typer.Option(
        help="or: rosinality StyleGAN2 weights (e.g. stylegan2-ffhq-config-f.pt)")] = None,
    generator_option: Annotated[Optional[list[str]], typer.Option(
        help="StyleGAN2Generator KEY=VALUE for --generator (default: the options a p2s-written file records, else config-f 1024), e.g. resolution=256")] = None,
    components: Annotated[int, typer.Option(min=1, help="principal components to keep")] = 10,
    samples: Annotated[int, typer.Option(min=2, help="mapping-network samples of W")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="seed of the Gaussian z samples")] = 0,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda if present)")] = None,
) -> None:
    """GANSpace: principal components of the mapping network's W, for 'p2s edit
    --direction ganspace:K --directions-file OUTPUT'."""
    from p2s.apis.translator import resolve_device
    from p2s.editing.ganspace import (
        ganspace_directions,
        generator_from_checkpoint,
        generator_from_weights,
        save_ganspace,
    )

    if (checkpoint is None) == (generator is None):
        raise P2SError("give exactly one of --checkpoint and --generator")
    if generator_option and generator is None:
        raise P2SError("--generator-option applies to --generator only (a checkpoint carries its generator config)")
    options = _generator_options(generator_option)
    from p2s.utils.paths import check_output_file

    check_output_file(output, "--output")  # before minutes of sampling
    target = resolve_device(device)
    net = generator_from_checkpoint(checkpoint) if checkpoint else generator_from_weights(generator, **options)
    net = net.to(target)
    space = ganspace_directions(net, n_samples=samples, n_components=components, seed=seed)
    save_ganspace(output, space, n_samples=samples, seed=seed, **_fingerprint(net))
    top = ", ".join(f"{s:.3g}" for s in space.stds[:3].tolist())
    err_console.print(
        f"wrote {len(space.components)} components of {space.components.shape[1]}-d W to "
        f"{escape(str(output))} (stds {top}, ...; {samples:,} samples, seed {seed})",
        highlight=False,
    )
