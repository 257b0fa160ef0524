"""``p2s translate`` and ``p2s interpolate``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape

from p2s.cli.common import (
    RESIZE_OUTPUTS_HELP, SEED_MAX, err_console, parse_layers, print_skipped, progress_bar, require_checkpoint, user_errors,
)
from p2s.utils.errors import P2SError


class Precision(str, Enum):
    fp32 = "fp32"
    tf32 = "tf32"
    bf16 = "bf16"


class CompileMode(str, Enum):
    none = "none"
    default = "default"
    reduce_overhead = "reduce-overhead"
    max_autotune = "max-autotune"


def _translator(checkpoint: Path, device: Optional[str], resize_outputs: bool, randomize_noise: bool,
                precision: str = "fp32", compile_mode: str = "none", cuda_graphs: bool = False, **task_options):
    from p2s.apis.translator import Translator

    return Translator.from_checkpoint(
        checkpoint, device=device, resize_outputs=resize_outputs, randomize_noise=randomize_noise,
        precision=precision, compile_mode=compile_mode, cuda_graphs=cuda_graphs, **task_options
    )


def _task_options(resize_factor: Optional[int]) -> dict:
    """Task settings given on the command line (only those the user set)."""
    return {} if resize_factor is None else {"resize_factor": resize_factor}


@user_errors
def translate(
    checkpoint: Annotated[Path, typer.Option(help="pSp or p2s checkpoint (.pt)")],
    input: Annotated[Path, typer.Option("--input", help="an image, or a folder of images (sorted by name)")],
    output: Annotated[Path, typer.Option(help="folder for <stem>.png (created)")],
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda (default: cuda if present)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="images per forward pass")] = 4,
    resize_outputs: Annotated[bool, typer.Option(help=RESIZE_OUTPUTS_HELP)] = False,
    save_latents: Annotated[bool, typer.Option(help="also write latents/<stem>.npy (n_styles, w_dim)")] = False,
    latents_only: Annotated[bool, typer.Option(
        help="run the encoder alone and write only latents/<stem>.npy (no generator, no images)")] = False,
    randomize_noise: Annotated[bool, typer.Option(help="fresh noise instead of the stored buffers")] = False,
    resize_factor: Annotated[Optional[int], typer.Option(
        help="super-resolution degradation factor (default: the checkpoint's, 16 for official pSp files)")] = None,
    mix: Annotated[int, typer.Option(min=0, help="style-mixing variants per input (<stem>_mix<k>.png)")] = 0,
    mix_layers: Annotated[Optional[str], typer.Option(help="W+ rows to inject, e.g. 8-17 (default: fine rows)")] = None,
    mix_alpha: Annotated[Optional[float], typer.Option(help="blend weight in [0, 1] of the injected rows (default 1: replace)")] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="seed of the random z used for --mix")] = 0,
    precision: Annotated[Precision, typer.Option(help="fp32 (exact: matches the official outputs), tf32 (fp32 with TF32 tensor cores on NVIDIA GPUs, PyTorch's default for convolutions) or bf16 (autocast; for GPUs, and CPUs with AVX-512-BF16 or AMX: elsewhere 15x slower, with a warning)")] = Precision.fp32,
    iterations: Annotated[Optional[int], typer.Option(min=1, help="refinement steps of iterative (ReStyle) checkpoints")] = None,
    compile: Annotated[CompileMode, typer.Option(
        "--compile", help="torch.compile the model (reduce-overhead adds CUDA graphs); pays off on large input sets")
    ] = CompileMode.none,
    cuda_graphs: Annotated[bool, typer.Option(
        help="replay the eager model from CUDA graphs, recorded once per batch size (GPU; seconds to record): "
             "for many small batches, where launching a thousand kernels per pass is the cost")] = False,
    workers: Annotated[Optional[int], typer.Option(
        min=0, help="threads that read and write files beside the model (default: one per core, at most 8; 0: inline)")
    ] = None,
    png_compression: Annotated[int, typer.Option(
        min=0, max=9, help="zlib level of the PNGs written: 1 is fast, 9 smallest (same pixels)")] = 1,
    align: Annotated[bool, typer.Option(help="FFHQ-align faces first (into OUTPUT/aligned/), as `p2s align`")] = False,
    detector_dir: Annotated[Optional[Path], typer.Option(help="with --align: insightface model folder")] = None,
    landmarks: Annotated[Optional[Path], typer.Option(help="with --align: landmarks JSON instead of a detector")] = None,
) -> None:
    """Translate images with a pSp / p2s checkpoint (official pre- and post-processing)."""
    if latents_only and mix:
        raise P2SError("--latents-only writes no images, so it cannot go with --mix")
    if not mix and (mix_layers is not None or mix_alpha is not None):
        raise P2SError("--mix-layers and --mix-alpha go with --mix N (the number of variants per input)")
    require_checkpoint(checkpoint)  # before the seconds of importing the models
    from p2s.apis.translator import check_mix_alpha

    check_mix_alpha(mix_alpha)
    from p2s.apis.files import MixSpec, default_io_workers, translate_files
    from p2s.utils.paths import check_output_folder, list_inputs, make_output_folder, removed_when_empty

    check_output_folder(output)  # before any work
    with removed_when_empty(output, output / "aligned", output / "latents"):  # every input failed: no empty folders left
        inputs = list_inputs(input)
        if not align and (detector_dir is not None or landmarks is not None):
            raise P2SError("--detector-dir and --landmarks go with --align")
        try:
            translator = _translator(checkpoint, device, resize_outputs, randomize_noise, precision.value,
                                     compile.value, cuda_graphs, **_task_options(resize_factor))
        except P2SError as err:
            if resize_factor is not None and "no option 'resize_factor'" in str(err):
                raise P2SError("--resize-factor applies to super-resolution checkpoints only") from None
            raise
        if iterations is not None:
            if not hasattr(translator.model, "iterations"):
                raise P2SError("--iterations applies to iterative (ReStyle) checkpoints only")
            translator.model.iterations = iterations
        spec = None
        if mix:
            layers = parse_layers(mix_layers) if mix_layers else translator.task.mix_layers(translator.num_ws)
            spec = MixSpec(count=mix, layers=layers, alpha=mix_alpha, seed=seed)
            spec.check(translator.num_ws)
        unaligned: list[Path] = []
        if align:  # only once every option is known to be good: a refused run leaves no aligned crops
            translator.task.require_rgb_sources("--align")
            inputs, unaligned = _align_first(inputs, output / "aligned", detector_dir, landmarks)
        make_output_folder(output)
        if save_latents or latents_only:
            make_output_folder(output / "latents", "--output latents")
        if compile is not CompileMode.none:
            err_console.print(f"--compile {compile.value}: the first batch of each size compiles the model first "
                              "(minutes on a CPU)", highlight=False)
        with progress_bar() as bar:
            job = bar.add_task("translate", total=len(inputs))
            report = translate_files(
                translator,
                inputs,
                output,
                batch_size=batch_size,
                save_latents=save_latents,
                mix=spec,
                on_error=lambda path, msg: print_skipped(msg),
                on_batch=lambda n: bar.advance(job, n),
                workers=default_io_workers() if workers is None else workers,
                compress_level=png_compression,
                latents_only=latents_only,
            )
        done = f"{report.images} of {len(inputs)}"
        head = (f"wrote latents of {done} input(s) to {escape(str(output / 'latents'))}" if latents_only
                else f"wrote {done} image(s) to {escape(str(output))}")
        err_console.print(f"{head} ({report.seconds_per_image:.3f} s/{'input' if latents_only else 'image'} "
                          f"on {translator.device})", highlight=False)
        if unaligned:
            err_console.print(f"[red]{len(unaligned)} input(s) gave no aligned face:[/] "
                              + escape(", ".join(p.name for p in unaligned)), highlight=False)
        if report.failed:
            err_console.print(
                f"[red]{len(report.failed)} input(s) failed:[/] " + escape(", ".join(p.name for p, _ in report.failed)),
                highlight=False,
            )
        if report.failed or unaligned:
            raise typer.Exit(code=1)


def _align_first(inputs, folder: Path, detector_dir, landmarks) -> tuple[list[Path], list[Path]]:
    """Align every input into ``folder``; returns the aligned paths and the failures."""
    from p2s.alignment import align_paths
    from p2s.cli.align import face_source

    table, detector = face_source(detector_dir, landmarks)
    failed: list[Path] = []

    def report(path: Path, message: str) -> None:
        failed.append(path)
        print_skipped(message, "not aligned")

    written = align_paths(inputs, folder, size=256, detector=detector, landmarks=table, on_error=report)
    if not written:
        raise P2SError("--align found no face in any input")
    return [aligned for _, aligned in written], failed


@user_errors
def interpolate(
    image_a: Annotated[Path, typer.Argument(metavar="A", help="first image")],
    image_b: Annotated[Path, typer.Argument(metavar="B", help="second image")],
    checkpoint: Annotated[Path, typer.Option(help="pSp or p2s checkpoint (.pt)")],
    output: Annotated[Path, typer.Option(help="folder for frame_<k>.png and strip.png")],
    steps: Annotated[int, typer.Option(min=2, help="frames, both ends included")] = 8,
    device: Annotated[Optional[str], typer.Option(help="cpu or cuda")] = None,
    resize_outputs: Annotated[bool, typer.Option(help=RESIZE_OUTPUTS_HELP.replace("outputs", "frames"))] = False,
) -> None:
    """Interpolate linearly in W+ between two encoded images."""
    require_checkpoint(checkpoint)
    from p2s.utils.atomic import save_png
    from p2s.utils.paths import (
        check_input_file, check_output_folder, make_output_folder, refuse_overwriting_inputs, warn_replaced,
        warn_stale,
    )

    check_output_folder(output)  # before any work
    check_input_file(image_a, "A")
    check_input_file(image_b, "B")
    names = [f"frame_{k:03d}.png" for k in range(steps)] + ["strip.png"]
    replaced = refuse_overwriting_inputs([image_a, image_b], (output / name for name in names), warn=False)
    translator = _translator(checkpoint, device, resize_outputs, False)
    sources = [translator.task.prepare_source(translator.task.load_source(p)) for p in (image_a, image_b)]
    frames = translator.interpolate(sources[0], sources[1], steps).to_uint8()
    warn_replaced(replaced)  # only now: a refused run replaces nothing
    warn_stale(output, sorted(output.glob("frame_*.png")), [output / name for name in names])  # a longer run's frames
    make_output_folder(output)
    for k, frame in enumerate(frames):
        save_png(frame, output / f"frame_{k:03d}.png")
    save_png(np.concatenate(list(frames), axis=1), output / "strip.png")
    err_console.print(f"wrote {steps} frames and strip.png to {escape(str(output))}", highlight=False)
