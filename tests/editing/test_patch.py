"""Local patch editing: paste, then re-encode (paper Appendix C.3)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from p2s.editing.patch import local_edit, parse_box, paste_patch
from p2s.utils.errors import P2SError


def test_paste_replaces_the_box_only():
    image = Image.new("RGB", (20, 10), (10, 20, 30))
    patch = Image.new("RGB", (4, 3), (200, 100, 0))
    out = np.asarray(paste_patch(image, patch, (5, 2)))
    assert (out[2:5, 5:9] == (200, 100, 0)).all()
    mask = np.ones(out.shape[:2], bool)
    mask[2:5, 5:9] = False
    assert (out[mask] == (10, 20, 30)).all()
    assert np.asarray(image).max() == 30, "the input was modified"
    resized = np.asarray(paste_patch(image, patch, (0, 0, 8, 6)))
    assert (resized[:6, :8] == (200, 100, 0)).all() and (resized[6:, :] == (10, 20, 30)).all()


def test_alpha_is_the_paste_mask():
    image = Image.new("RGB", (8, 8), (0, 0, 0))
    patch = Image.new("RGBA", (4, 4), (255, 255, 255, 0))
    patch.putpixel((1, 1), (255, 255, 255, 255))
    out = np.asarray(paste_patch(image, patch, (2, 2)))
    assert out.sum(axis=2).nonzero() == (np.array([3]), np.array([3]))


@pytest.mark.parametrize("box, expected", [((18, 0), "does not fit"), ((-1, 0), "does not fit"),
                                           ((4, 4, 4, 8), "is empty"), (("a", 2), r"integer pixels, got \('a', 2\)"),
                                           (None, "integer pixels, got None"), ("1,2,3", "is not like")])
def test_bad_boxes(box, expected):
    with pytest.raises(P2SError, match=expected):
        paste_patch(Image.new("RGB", (20, 10)), Image.new("RGB", (4, 3)), box)


def test_a_box_given_as_text_works_as_in_the_cli():
    image, patch = Image.new("RGB", (20, 10)), Image.new("RGB", (4, 3), (255, 0, 0))
    assert np.array_equal(np.asarray(paste_patch(image, patch, "2,3")), np.asarray(paste_patch(image, patch, (2, 3))))


def test_parse_box():
    assert parse_box("3,4") == (3, 4) and parse_box("1, 2, 30, 40") == (1, 2, 30, 40)
    for text in ("3", "a,b", "1,2,3"):
        with pytest.raises(P2SError, match="is not like"):
            parse_box(text)


@pytest.mark.parametrize("text, expected", [("-5,-5", "has a negative coordinate"), ("5,5,5,5", "is empty"),
                                             ("5,9,8,2", "is empty")])
def test_boxes_wrong_for_every_input_are_refused_when_parsed(text, expected):
    with pytest.raises(P2SError, match=expected):
        parse_box(text)


def test_a_16_bit_patch_is_refused_not_pasted_as_white(tmp_path):
    from p2s.editing.patch import open_patch

    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(P2SError, match=r"mode I;16 \(16-bit or float\) cannot be pasted as 8-bit"):
        open_patch(tmp_path / "deep.png")
    with pytest.raises(P2SError, match="is a folder, not an image file"):
        open_patch(tmp_path)
    Image.new("LA", (4, 4)).save(tmp_path / "la.png")
    assert open_patch(tmp_path / "la.png").mode == "LA"


def test_local_edit_reencodes_the_composite(tiny, ckpt):
    from p2s.apis.translator import Translator

    translator = Translator.from_checkpoint(ckpt("inversion"), device="cpu")
    image = Image.fromarray(tiny.rgb_array(0, (48, 48)))
    patch = Image.fromarray(tiny.rgb_array(9, (20, 24)))
    edited = local_edit(translator, image, patch, (10, 12))
    plain = translator.translate_images([image])[0]
    composite = translator.translate_images([paste_patch(image, patch, (10, 12))])[0]
    assert edited.size == (16, 16) and edited.mode == "RGB"
    assert np.array_equal(np.asarray(edited), np.asarray(composite))
    assert not np.array_equal(np.asarray(edited), np.asarray(plain))
