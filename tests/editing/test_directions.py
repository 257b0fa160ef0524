"""Direction files, ``apply_direction`` and edits through a Translator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2s.editing.directions import apply_direction, load_direction
from p2s.editing.ganspace import GanSpace, save_ganspace
from p2s.utils.errors import P2SError

NUM_WS, W_DIM = 6, 8


def _npy(tmp_path, array, name="d.npy"):
    path = tmp_path / name
    np.save(path, np.asarray(array))
    return path


@pytest.mark.parametrize("shape", [(W_DIM,), (1, W_DIM), (NUM_WS, W_DIM)], ids=str)
def test_accepted_shapes(tmp_path, shape):
    array = np.random.default_rng(0).standard_normal(shape)
    direction = load_direction(_npy(tmp_path, array), NUM_WS, W_DIM)
    assert direction.shape == (NUM_WS, W_DIM) and direction.dtype == torch.float32
    expected = np.broadcast_to(array.reshape(-1, W_DIM), (NUM_WS, W_DIM)).astype("float32")
    np.testing.assert_array_equal(direction.numpy(), expected)


@pytest.mark.parametrize("shape", [(W_DIM + 1,), (2, W_DIM), (NUM_WS + 1, W_DIM), (NUM_WS, W_DIM, 1), ()], ids=str)
def test_bad_shape_is_one_line_error(tmp_path, shape):
    with pytest.raises(P2SError) as err:
        load_direction(_npy(tmp_path, np.zeros(shape)), NUM_WS, W_DIM)
    message = str(err.value)
    assert "\n" not in message and f"[{W_DIM}], [1, {W_DIM}] or [{NUM_WS}, {W_DIM}]" in message


@pytest.mark.parametrize("make, expected", [
    (lambda p: p / "missing.npy", "does not exist"),
    (lambda p: p, "is a folder, not a file"),
    (lambda p: (p / "junk.npy").write_bytes(b"not numpy") and p / "junk.npy", "not a readable .npy"),
    (lambda p: _npy(p, np.full(W_DIM, np.nan)), "NaN or infinite"),
    (lambda p: _npy(p, np.array(["a"] * W_DIM)), "not real numbers"),
])
def test_unusable_files(tmp_path, make, expected):
    with pytest.raises(P2SError, match=expected) as err:
        load_direction(make(tmp_path), NUM_WS, W_DIM)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content, reason", [
    (b"\x89PNG\r\n\x1a\n....", "(it is a PNG image)"),
    (b"0.1, 0.2, 0.3\n", "(it is text)"),
    (b"\x80\x04K\x01.", "(it is a Python pickle, which p2s never loads)"),
])
def test_a_file_that_is_no_numpy_file_says_what_it_is(tmp_path, content, reason):
    """NumPy's own message told a user with a PNG or a text file that it held pickled data
    and how to load it unsafely."""
    path = tmp_path / "d.npy"
    path.write_bytes(content)
    with pytest.raises(P2SError) as err:
        load_direction(path, NUM_WS, W_DIM)
    assert str(err.value) == f"direction file '{path}' is not a readable .npy array {reason}"
    assert "allow_pickle" not in str(err.value)


def test_ganspace_names(tmp_path):
    space = GanSpace(torch.eye(W_DIM)[:3], torch.tensor([3.0, 2.0, 0.5]), torch.zeros(W_DIM))
    npz = save_ganspace(tmp_path / "g.npz", space)
    direction = load_direction("ganspace:1", NUM_WS, W_DIM, npz)
    assert torch.equal(direction, (2.0 * torch.eye(W_DIM)[1]).expand(NUM_WS, W_DIM))
    with pytest.raises(P2SError, match="holds 3 components"):
        load_direction("ganspace:3", NUM_WS, W_DIM, npz)
    with pytest.raises(P2SError, match="needs --directions-file"):
        load_direction("ganspace:0", NUM_WS, W_DIM)
    with pytest.raises(P2SError, match="ganspace:K"):
        load_direction("ganspace:x", NUM_WS, W_DIM, npz)
    with pytest.raises(P2SError, match="is an .npz archive"):
        load_direction(npz, NUM_WS, W_DIM)
    with pytest.raises(P2SError, match="--directions-file goes with --direction ganspace:K"):
        load_direction(_npy(tmp_path, np.ones(W_DIM)), NUM_WS, W_DIM, npz)  # the file would be ignored
    with pytest.raises(P2SError, match="is a folder, not a file"):
        load_direction("ganspace:0", NUM_WS, W_DIM, tmp_path)


def test_apply_direction_on_selected_layers():
    codes = torch.randn(2, NUM_WS, W_DIM)
    before = codes.clone()
    direction = torch.randn(NUM_WS, W_DIM)
    edited = apply_direction(codes, direction, 2.5, layers=[1, 3])
    assert torch.equal(codes, before), "codes were modified in place"
    for row in range(NUM_WS):
        if row in (1, 3):
            torch.testing.assert_close(edited[:, row], codes[:, row] + 2.5 * direction[row])
        else:
            assert torch.equal(edited[:, row], codes[:, row])
    torch.testing.assert_close(apply_direction(codes, direction, -1.0), codes - direction)
    assert torch.equal(apply_direction(codes, direction, 0.0), codes)
    # a [w_dim] direction broadcasts to every row
    torch.testing.assert_close(apply_direction(codes, direction[0], 1.0), codes + direction[0])


def test_apply_direction_errors():
    codes = torch.randn(1, NUM_WS, W_DIM)
    with pytest.raises(P2SError, match="outside 0..5"):
        apply_direction(codes, torch.zeros(W_DIM), 1.0, layers=[2, 6])
    for layers in ([True], [0.7], "01"):  # int() quietly made them rows 1, 0 and 0-1
        with pytest.raises(P2SError, match=r"^layers must be (integer W\+ row indices|a sequence of W\+ row)"):
            apply_direction(codes, torch.zeros(W_DIM), 1.0, layers=layers)
    with pytest.raises(P2SError, match="finite"):
        apply_direction(codes, torch.zeros(W_DIM), float("inf"))
    with pytest.raises(P2SError, match=rf"^direction of shape \[3, {W_DIM}\] does not fit"):
        apply_direction(codes, torch.zeros(3, W_DIM), 1.0)
    with pytest.raises(P2SError, match=rf"^direction of shape \[{W_DIM + 1}\] does not fit"):  # as given
        apply_direction(codes, torch.zeros(W_DIM + 1), 1.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: edits ran the model in fp32 whatever was asked
def test_strength_zero_is_the_plain_translation(tiny, ckpt, tmp_path, precision):
    import warnings

    from p2s.apis.translator import Translator
    from p2s.editing.editor import edit_sources

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 on a CPU without bf16 kernels: slow, said in a warning
        translator = Translator.from_checkpoint(ckpt("inversion"), device="cpu", precision=precision)
    images = [tiny.rgb_array(seed, (40, 36)) for seed in range(3)]
    from PIL import Image

    sources = translator.prepare([Image.fromarray(a) for a in images])
    plain = translator.translate(sources)
    direction = torch.randn(NUM_WS, W_DIM)
    zero, moved = edit_sources(translator, sources, direction, [0.0, 3.0])
    assert torch.equal(zero.images, plain.images) and torch.equal(zero.latents, plain.latents)
    assert not torch.equal(moved.images, plain.images)
    torch.testing.assert_close(moved.latents, plain.latents + 3.0 * direction)
