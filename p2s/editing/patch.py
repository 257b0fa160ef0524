"""Local patch editing (pSp paper, Appendix C.3).

Paste a patch (e.g. a pair of eyes or a smile from another face) onto an input and
encode the composite: because pSp encodes into the face manifold of StyleGAN, the
translation blends the pasted region into a realistic face instead of keeping the seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from p2s.utils.errors import P2SError

if TYPE_CHECKING:
    from p2s.apis.translator import Translator


def parse_box(text: str) -> tuple[int, ...]:
    """``'x0,y0'`` or ``'x0,y0,x1,y1'`` (pixels of the input image) -> ints."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 4):
        raise P2SError(f"--box '{text}' is not like 'x0,y0' or 'x0,y0,x1,y1' (integer pixels)")
    if min(values) < 0:  # the same for every input: said once, before the model loads
        raise P2SError(f"--box '{text}' has a negative coordinate; pixels count from 0 at the top left")
    if len(values) == 4 and (values[2] <= values[0] or values[3] <= values[1]):
        raise P2SError(f"--box '{text}' is empty (x1 must exceed x0 and y1 exceed y0)")
    return values


def _target_box(image: Image.Image, patch: Image.Image, box: Sequence[int] | str) -> tuple[int, int, int, int]:
    if isinstance(box, str):  # 'x0,y0' as the CLI takes it
        box = parse_box(box)
    try:
        box = tuple(int(v) for v in box)
    except (TypeError, ValueError):
        raise P2SError(f"box must be (x0, y0) or (x0, y0, x1, y1) in integer pixels, got {box!r}") from None
    if len(box) == 2:
        box = (box[0], box[1], box[0] + patch.width, box[1] + patch.height)
    if len(box) != 4:
        raise P2SError(f"box must be (x0, y0) or (x0, y0, x1, y1), got {box}")
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise P2SError(f"box {box} is empty (x1 must exceed x0 and y1 exceed y0)")
    if x0 < 0 or y0 < 0 or x1 > image.width or y1 > image.height:
        raise P2SError(
            f"patch box {box} (x0, y0, x1, y1) does not fit in the {image.width}x{image.height} input"
        )
    return x0, y0, x1, y1


def paste_patch(image: Image.Image, patch: Image.Image, box: Sequence[int] | str) -> Image.Image:
    """A copy of ``image`` with ``patch`` pasted at ``box``.

    Args:
        image: the input picture (its mode is kept).
        patch: the picture to paste; an alpha channel (RGBA, LA, or a palette with
            transparency) is used as the paste mask.
        box: ``(x0, y0)`` pastes the patch at its own size with its top-left corner at
            ``(x0, y0)``; ``(x0, y0, x1, y1)`` resizes it to fill that box (a string
            ``'x0,y0'`` works too).  The box must lie inside ``image``.
    """
    x0, y0, x1, y1 = _target_box(image, patch, box)
    if patch.size != (x1 - x0, y1 - y0):
        patch = patch.resize((x1 - x0, y1 - y0), Image.BICUBIC)
    mask = None
    if patch.mode in ("RGBA", "LA") or (patch.mode == "P" and "transparency" in patch.info):
        patch = patch.convert("RGBA")
        mask = patch.getchannel("A")
    result = image.copy()
    result.paste(patch.convert(image.mode), (x0, y0), mask)
    return result


def local_edit(translator: Translator, image: Image.Image | str | Path, patch: Image.Image | str | Path,
               box: Sequence[int] | str) -> Image.Image:
    """Paste ``patch`` onto ``image`` at ``box`` and translate the composite with
    ``translator`` (a :class:`p2s.apis.translator.Translator`); returns the RGB output."""
    task = translator.task
    task.require_rgb_sources("local_edit()")
    image = task.load_source(image) if isinstance(image, (str, Path)) else task.check_source(image, "image")
    if isinstance(patch, (str, Path)):
        patch = open_patch(Path(patch))
    return translator.translate_images([paste_patch(image, patch, box)])[0]


def open_patch(path: Path) -> Image.Image:
    """Load a patch image (any 8-bit mode; alpha is kept for the paste mask).  16-bit and
    float images are refused: converting them to 8 bits saturates them to white."""
    from p2s.datasets.folders import RGB_CONVERTIBLE_MODES, UNREADABLE_IMAGE_ERRORS

    if not path.is_file():
        raise P2SError(f"patch '{path}' " + ("is a folder, not an image file" if path.is_dir() else "does not exist"))
    try:
        with Image.open(path) as handle:
            handle.load()
            patch = handle.copy()
    except UNREADABLE_IMAGE_ERRORS as err:
        raise P2SError(f"patch '{path}' is not a readable image ({err})") from None
    if patch.mode not in RGB_CONVERTIBLE_MODES:
        raise P2SError(f"patch '{path}': mode {patch.mode} (16-bit or float) cannot be pasted as 8-bit; "
                       "save it as an 8-bit image")
    return patch
