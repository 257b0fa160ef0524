"""``p2s align``: FFHQ-aligned face crops from a detector or a landmarks file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from p2s.cli.common import err_console, print_skipped, progress_bar, user_errors
from p2s.utils.errors import P2SError


def face_source(detector_dir: Optional[Path], landmarks: Optional[Path]):
    """``(landmark table, None)`` for ``--landmarks``, else ``(None, detector)``."""
    from p2s.alignment import DEFAULT_DETECTOR_DIR, FaceDetector, load_landmarks

    if landmarks is not None and detector_dir is not None:
        raise P2SError("--landmarks and --detector-dir exclude each other: give one")
    if landmarks is not None:
        return load_landmarks(landmarks), None
    return None, FaceDetector.from_dir(detector_dir or DEFAULT_DETECTOR_DIR, device=None)


@user_errors
def align(
    input: Annotated[Path, typer.Option("--input", help="an image, or a folder of images (sorted by name)")],
    output: Annotated[Path, typer.Option(help="folder for <stem>.png / <stem>_face<k>.png (created)")],
    size: Annotated[int, typer.Option(min=16, max=4096, help="output side: 256 (pSp) or 1024 (FFHQ)")] = 256,
    detector_dir: Annotated[
        Optional[Path],
        typer.Option(help="folder with insightface's det_10g.onnx (default: ~/.insightface/models/buffalo_l)"),
    ] = None,
    landmarks: Annotated[
        Optional[Path],
        typer.Option(help="JSON: image file name -> list of faces, each a list of 5 (or 68) x,y points; no detector"),
    ] = None,
) -> None:
    """Crop and align faces as FFHQ does (eyes and mouth to fixed places), one PNG per face."""
    from p2s.alignment import align_paths
    from p2s.utils.paths import check_output_folder, list_inputs, make_output_folder, removed_when_empty

    check_output_folder(output)  # before any work
    inputs = list_inputs(input)
    table, detector = face_source(detector_dir, landmarks)
    with removed_when_empty(output):  # every input failed: no empty folders left
        make_output_folder(output)
        failed: list[Path] = []

        def report(path: Path, message: str) -> None:
            failed.append(path)
            print_skipped(message)

        with progress_bar() as bar:
            job = bar.add_task("align", total=len(inputs))
            written = align_paths(
                inputs,
                output,
                size=size,
                detector=detector,
                landmarks=table,
                on_error=report,
                on_image=lambda _: bar.advance(job),
            )
        sources = len({source for source, _ in written})
        err_console.print(
            f"wrote {len(written)} face(s) from {sources} of {len(inputs)} image(s) to {escape(str(output))}",
            highlight=False,
        )
        if failed:
            err_console.print(
                f"[red]{len(failed)} image(s) gave no aligned face:[/] " + escape(", ".join(p.name for p in failed)),
                highlight=False,
            )
            raise typer.Exit(code=1)
