"""``p2s data``: make data sets (synthetic faces) and export generators trained on them."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2s.cli.common import progress_bar, user_errors
from p2s.utils.errors import P2SError

data_app = typer.Typer(no_args_is_help=True, help="Make data sets; export generators trained on them.")


@data_app.command("synthfaces")
@user_errors
def synthfaces(
    n: Annotated[int, typer.Option("--n", help="number of faces")],
    out: Annotated[Path, typer.Option("--out", help="output folder")],
    size: Annotated[int, typer.Option("--size", help="image side in pixels")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="data set seed (face i uses default_rng(\\[seed, i]))")] = 0,
    workers: Annotated[Optional[int], typer.Option("--workers", help="processes (default: all CPUs)")] = None,
    start: Annotated[int, typer.Option("--start", help="first index (to extend a data set)")] = 0,
    supersample: Annotated[
        Optional[int], typer.Option("--supersample", help="colour supersampling (default 4 up to 64 px, else 2)")
    ] = None,
) -> None:
    """Render N aligned synthetic faces: images/, labels/ (CelebAMask-HQ classes),
    sketches/, frontal/ (yaw 0) and attributes/ (JSON), named by zero-padded index."""
    from p2s.synthfaces.generate import available_cpus, existing_set, generate

    if n < 1:
        raise P2SError(f"--n must be >= 1, got {n}")
    if not 16 <= size <= 4096:
        raise P2SError(f"--size must be 16 to 4096 pixels, got {size}")
    if seed < 0 or start < 0:
        raise P2SError(f"--seed and --start must be >= 0, got {seed} and {start}")
    if workers is not None and workers < 1:
        raise P2SError(f"--workers must be >= 1, got {workers}")
    if supersample is not None and not 1 <= supersample <= 8:
        raise P2SError(f"--supersample must be in 1..8, got {supersample}")
    if out.exists() and not out.is_dir():
        raise P2SError(f"--out '{out}' is a file, not a folder")
    existing_set(out, seed, size, supersample)  # another data set there is refused before the progress bar
    workers = min(workers or available_cpus(), n)
    with progress_bar() as bar:
        task = bar.add_task("synthfaces", total=n)
        stats = generate(out, n, size=size, seed=seed, workers=workers, supersample=supersample, start=start,
                         on_progress=lambda done: bar.update(task, completed=done))
    typer.echo(
        f"wrote {stats.count} faces ({size}x{size}) to {out} in {stats.seconds:.1f} s: "
        f"{stats.images_per_second:.1f} images/s with {stats.workers} worker(s)"
    )


@data_app.command("export-generator")
@user_errors
def export_generator_command(
    checkpoint: Annotated[Path, typer.Argument(help="a StyleGAN2GAN checkpoint written by p2s train")],
    out: Annotated[Path, typer.Argument(help="output .pt: {'g_ema', 'latent_avg', 'p2s_generator'}")],
    latent_samples: Annotated[int, typer.Option(help="z samples averaged into latent_avg")] = 10_000,
) -> None:
    """Export the EMA generator of CHECKPOINT as a rosinality-layout generator file."""
    from p2s.synthfaces.export import export_generator

    if latent_samples < 1:
        raise P2SError(f"--latent-samples must be >= 1, got {latent_samples}")
    cfg = export_generator(checkpoint, out, latent_samples=latent_samples)
    options = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
    typer.echo(f"wrote {out}: load it with StyleGAN2Generator({options}, weights='{out}')")


@data_app.command("cache")
@user_errors
def cache(
    config: Annotated[Path, typer.Argument(help="training config (.py) whose data sets to cache")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="KEY=VALUE config overrides (e.g. data roots)")] = None,
    output: Annotated[Path, typer.Option(help="cache folder (created; <split>/targets, <split>/sources)")] = ...,
    splits: Annotated[str, typer.Option(help="comma-separated dataloaders to cache")] = "train,val",
    workers: Annotated[int, typer.Option(min=1, help="threads that decode, resize and write")] = 8,
    check: Annotated[int, typer.Option(min=0, help="samples compared with the original per split")] = 16,
) -> None:
    """Resize a config's training images once to the task's size (lossless PNG), so the
    data loader stops decoding full-size files; prints the overrides that train from it."""
    from p2s.cli.train import load_config
    from p2s.datasets.cache import cache_dataset, check_cacheable

    cfg = load_config(config, overrides)
    names = [name.strip() for name in splits.split(",") if name.strip()]
    missing = [name for name in names if f"{name}_dataloader" not in cfg]
    if not names:
        raise P2SError(f"--splits names no dataloader: {splits!r}")
    if missing:
        raise P2SError(f"--splits names dataloaders the config does not have: {', '.join(missing)}")
    if output.exists():
        raise P2SError(f"--output '{output}' already exists; remove it or choose another folder")
    for name in names:  # before the progress bar
        check_cacheable(cfg[f"{name}_dataloader"]["dataset"].to_dict())
    lines = []
    try:
        with progress_bar() as bar:
            for name in names:
                dataset_cfg = cfg[f"{name}_dataloader"]["dataset"].to_dict()
                job = bar.add_task(f"cache {name}", total=None)
                # absolute paths: the printed overrides work from any folder
                cached = cache_dataset(dataset_cfg, output.resolve() / name, workers=workers, check=check,
                                       on_progress=lambda done, total, job=job: bar.update(job, completed=done,
                                                                                           total=total))
                lines += [f"{name}_dataloader.dataset.{key}={cached[key]}"
                          for key in ("root", "source_root", "target_root") if key in cached]
    except BaseException:
        shutil.rmtree(output, ignore_errors=True)  # no half-made cache, earlier splits included
        raise
    lines = _kept_overrides(overrides or [], lines) + lines
    (output / "overrides.txt").write_text("\n".join(lines) + "\n")
    typer.echo(f"cached {', '.join(names)} under {output}; the samples match the originals. Train from it with:")
    typer.echo(f"  p2s train {shlex.quote(str(config))} " + " ".join(shlex.quote(line) for line in lines))


def _kept_overrides(overrides: list[str], cache_lines: list[str]) -> list[str]:
    """The user's overrides the cache does not replace (``task.image_size=48`` made the
    cached samples, so training from them needs it too)."""
    replaced = {line.partition("=")[0] for line in cache_lines}
    return [item for item in overrides if item.partition("=")[0] not in replaced]

