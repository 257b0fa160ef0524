"""Input and output paths of p2s's commands, checked before any work is done: a file
where a folder should be, an output that would replace an input, an earlier run's
outputs that this one replaces or leaves stale; and no empty output folders left
behind by a command that wrote nothing."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from p2s.datasets.folders import IMAGE_SUFFIXES
from p2s.utils.atomic import TMP_SUFFIX
from p2s.utils.errors import P2SError, P2SWarning


def check_output_folder(path: str | Path, option: str = "--output") -> Path:
    """Refuse, before any work, an output folder path that a file stands in the way of."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                what = f"'{path}'" if part == path else f"'{path}' is inside '{part}', which"
                raise P2SError(f"{option} {what} is a file, not a folder; give a folder")
            break
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """Refuse, before any work, an output file path where a folder stands or whose folder
    is a file (found only at the end of a long computation otherwise)."""
    path = Path(path)
    if path.is_dir():
        raise P2SError(f"{option} '{path}' is a folder; give a file name")
    check_output_folder(path.parent, option)
    return path


def missing_folders(path: str | Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, innermost first."""
    path = Path(path)
    return [part for part in (path, *path.parents) if not part.exists()]


@contextlib.contextmanager
def removed_when_empty(*paths: str | Path) -> Iterator[None]:
    """Folders among ``paths`` (and their parents) that do not exist on entry and are
    empty on exit are removed: a command whose every input failed, or that was stopped
    before its first output, leaves no empty output folders behind."""
    made = {folder for path in paths for folder in missing_folders(path)}
    try:
        yield
    finally:
        for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):  # innermost first
            with contextlib.suppress(OSError):  # not empty (or gone): kept
                folder.rmdir()


def make_output_folder(path: str | Path, option: str = "--output") -> Path:
    """Create the output folder (and its parents); a file in the way is one line of error."""
    path = check_output_folder(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise P2SError(f"could not create the {option} folder '{path}': {err.strerror or err}") from None
    probe = path / f".p2s-write-test-{os.getpid()}{TMP_SUFFIX}"
    try:  # a read-only folder is found now, not after the whole model run
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise P2SError(f"cannot write in the {option} folder '{path}': {err.strerror or err}") from None
    return path


def refuse_overwriting_inputs(inputs: Sequence[str | Path], outputs: Iterable[Path], warn: bool = True) -> list[Path]:
    """Refuse, before anything is written, an output that would replace one of the
    inputs (``--output`` the input folder): the input would be lost; and an output
    path where a folder stands, which would stop the run halfway.  Returns the outputs
    of an earlier run that will be replaced, named in one warning line unless ``warn``
    is False (a caller with checks still to make warns with :func:`warn_replaced` once
    they pass, so a refused run does not announce replacements it never makes)."""
    sources = {Path(p).resolve(): Path(p) for p in inputs}
    replaced = []
    for out in outputs:
        source = sources.get(Path(out).resolve())
        if source is not None:
            raise P2SError(
                f"writing {out} would replace the input '{source}'; give another --output folder"
            )
        if Path(out).is_dir():
            raise P2SError(f"output {out} is a folder; move it away or give another --output folder")
        if Path(out).is_file():
            replaced.append(Path(out))
    if warn:
        warn_replaced(replaced)
    return replaced


def warn_replaced(replaced: Sequence[Path], done: bool = False) -> None:
    """One warning line counting the outputs of an earlier run this one replaces
    (``done``: replaced already, as :func:`~p2s.alignment.align_paths` finds them)."""
    if replaced:
        verb = "were" if done else "will be"
        folder = Path(os.path.commonpath([p.parent for p in replaced]))
        warnings.warn(f"{_count_files(replaced, folder)} of an earlier run {verb} replaced in {folder}",
                      P2SWarning, stacklevel=3)


def _count_files(paths: Sequence[Path], folder: Path, shown: int = 3) -> str:
    """``N file(s) (a.png, latents/a.npy, ...)``: names relative to ``folder``."""
    names = ", ".join(str(p.relative_to(folder)) for p in paths[:shown]) + (", ..." if len(paths) > shown else "")
    return f"{len(paths)} file(s) ({names})"


def warn_stale(output: Path, found: Iterable[Path], planned: Iterable[Path]) -> None:
    """The files in ``found`` that exist but this run does not write (``planned``) are an
    earlier run's that no longer match its images: one warning line names them."""
    keep = set(planned)
    stale = [path for path in found if path not in keep and path.is_file()]
    if stale:
        warnings.warn(f"{_count_files(stale, output)} in {output} are an earlier run's and no longer match the new images "
                      "(remove them, or give another --output folder)", P2SWarning, stacklevel=3)


def check_input_file(path: str | Path, what: str) -> Path:
    """An input that must be one image file: a missing path or a folder is one line
    naming it, before the model loads."""
    path = Path(path)
    if path.is_dir():
        raise P2SError(f"{what} '{path}' is a folder; give one image file")
    if not path.is_file():
        raise P2SError(f"{what} '{path}' does not exist")
    return path


def list_inputs(path: str | Path) -> list[Path]:
    """One image, or the images directly in a folder sorted by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise P2SError(f"input '{path}' does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise P2SError(f"input folder '{path}' has no {', '.join(IMAGE_SUFFIXES)} images")
    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise P2SError(
                f"'{seen[file.stem].name}' and '{file.name}' would both be written as {file.stem}.png; rename one"
            )
        seen[file.stem] = file
    return files
