"""The official pSp inference preprocessing, checked against torchvision and numpy restatements."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from p2s.datasets.transforms.official import (
    SUPERRES_FACTORS,
    bicubic_degrade,
    bicubic_kernel,
    normalize,
    official_source_tensor,
    one_hot_labels,
    pil_resize,
    tensor_to_uint8_image,
    tensors_to_uint8,
    to_tensor,
)
from p2s.testing.shared import shared_dir_for_tests


def _test_image(w: int = 256, h: int = 256, seed: int = 0) -> Image.Image:
    """Smooth gradients, hard black/white blocks (ringing past [0, 1]) and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 9.0 + yy / 13.0)], axis=-1)
    blocks = ((xx // 32 + yy // 32) % 2)[..., None] * np.ones(3)
    img = np.where((xx < w // 2)[..., None], base, blocks) * 255
    img = img + rng.normal(0, 12, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB")


# ---------------------------------------------------------------------------------------------
# Independent float64 numpy formulation of the official bicubic degradation.


def _np_cubic(pos: np.ndarray, a: float = -0.5) -> np.ndarray:
    ax = np.abs(pos)
    near = (a + 2) * ax**3 - (a + 3) * ax**2 + 1
    far = a * ax**3 - 5 * a * ax**2 + 8 * a * ax - 4 * a
    return np.where(ax <= 1, near, np.where(ax < 2, far, 0.0))


def _np_filter_axis0(x: np.ndarray, k: np.ndarray, f: int) -> np.ndarray:
    """Reflect-pad axis 0 by 3f (floor half first), then taps k at stride f."""
    before = (3 * f) // 2
    pad = [(before, 3 * f - before)] + [(0, 0)] * (x.ndim - 1)
    xp = np.pad(x, pad, mode="reflect")
    n_out = (xp.shape[0] - len(k)) // f + 1
    idx = np.arange(n_out)[:, None] * f + np.arange(len(k))[None, :]
    return np.tensordot(xp[idx], k, axes=([1], [0]))


def _np_bicubic_degrade(img: Image.Image, f: int) -> np.ndarray:
    x = np.asarray(img, dtype=np.float64) / 255.0
    k = _np_cubic((np.arange(4 * f) - 2 * f + 0.5) / f)
    k = k / k.sum()
    x = _np_filter_axis0(x, k, f)  # vertical
    x = _np_filter_axis0(x.transpose(1, 0, 2), k, f).transpose(1, 0, 2)  # horizontal
    return np.floor(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


class TestPilResize:
    def test_equals_pil_and_torchvision(self) -> None:
        img = _test_image(320, 288)
        got = np.asarray(pil_resize(img))
        assert got.shape == (256, 256, 3)
        assert np.array_equal(got, np.asarray(img.resize((256, 256), Image.BILINEAR)))
        assert np.array_equal(got, np.asarray(T.Resize((256, 256))(img)))

    def test_noop_at_target_size(self) -> None:
        img = _test_image()
        assert np.array_equal(np.asarray(pil_resize(img)), np.asarray(img))

    def test_grayscale(self) -> None:
        img = _test_image(384, 384).convert("L")
        assert np.array_equal(np.asarray(pil_resize(img)), np.asarray(T.Resize((256, 256))(img)))


class TestTensorConversion:
    @pytest.mark.parametrize("mode", ["RGB", "L"])
    def test_to_tensor_matches_torchvision(self, mode: str) -> None:
        img = _test_image(96, 80).convert(mode)
        got = to_tensor(img)
        assert got.dtype == torch.float32
        assert got.shape == (3 if mode == "RGB" else 1, 80, 96)
        assert torch.equal(got, T.ToTensor()(img))

    def test_normalize_matches_torchvision(self) -> None:
        x = T.ToTensor()(_test_image(64, 64))
        want = T.Normalize([0.5] * 3, [0.5] * 3)(x.clone())
        assert torch.equal(normalize(x), want)
        assert normalize(x).min() >= -1 and normalize(x).max() <= 1


class TestOneHot:
    def test_equals_numpy_eye(self) -> None:
        labels = np.random.default_rng(1).integers(0, 19, size=(40, 30)).astype(np.uint8)
        want = np.eye(19, dtype=np.float32)[labels].transpose(2, 0, 1)
        got = one_hot_labels(labels)
        assert got.dtype == torch.float32 and got.shape == (19, 40, 30)
        assert np.array_equal(got.numpy(), want)

    def test_value_out_of_range_raises(self) -> None:
        labels = np.zeros((4, 4), dtype=np.uint8)
        labels[2, 3] = 19
        with pytest.raises(ValueError, match="label value 19 >= num_classes 19"):
            one_hot_labels(labels)


class TestBicubicDegrade:
    def test_kernel_taps(self) -> None:
        assert torch.equal(bicubic_kernel(1), torch.tensor([-0.0625, 0.5625, 0.5625, -0.0625]))
        for f in SUPERRES_FACTORS:
            k = bicubic_kernel(f)
            assert k.dtype == torch.float32 and k.shape == (4 * f,)
            assert torch.equal(k, k.flip(0))
            assert abs(float(k.sum()) - 1.0) < 1e-6

    def test_kernel_is_computed_once_and_handed_out_as_a_copy(self) -> None:
        first = bicubic_kernel(8)
        first.fill_(0.0)  # a caller writing into its kernel must not change the next one
        assert abs(float(bicubic_kernel(8).sum()) - 1.0) < 1e-6

    @pytest.mark.parametrize("factor", SUPERRES_FACTORS)
    def test_matches_float64_numpy(self, factor: int) -> None:
        img = _test_image(seed=factor)
        got = bicubic_degrade(img, factor)
        assert got.mode == "RGB" and got.size == (256 // factor, 256 // factor)
        got_arr = np.asarray(got).astype(np.int16)
        want = _np_bicubic_degrade(img, factor).astype(np.int16)
        diff = np.abs(got_arr - want)
        assert (diff <= 1).mean() >= 0.999
        assert (diff == 0).mean() >= 0.99

    def test_truncates_not_rounds(self) -> None:
        # A flat image stays flat: v/255*255 in float32 lands on or just below v, and
        # truncation must not lose a level where the value is exactly representable.
        flat = Image.new("RGB", (64, 64), (0, 128, 255))
        assert np.array_equal(np.asarray(bicubic_degrade(flat, 4)).reshape(-1, 3)[0], [0, 128, 255])

    def test_rejects_bad_input(self) -> None:
        with pytest.raises(ValueError, match="divisible"):
            bicubic_degrade(_test_image(100, 100), 8)
        with pytest.raises(ValueError, match="RGB"):
            bicubic_degrade(_test_image().convert("L"), 2)


class TestOfficialSourceTensor:
    def test_kinds_shapes_and_ranges(self) -> None:
        img = _test_image(320, 288)
        rgb = official_source_tensor(img, "rgb")
        assert rgb.shape == (3, 256, 256) and rgb.min() >= -1 and rgb.max() <= 1
        assert torch.equal(rgb, normalize(to_tensor(pil_resize(img))))
        sketch = official_source_tensor(img.convert("L"), "sketch")
        assert sketch.shape == (1, 256, 256) and sketch.min() >= 0 and sketch.max() <= 1

    def test_labels_bilinear_in_between_values(self) -> None:
        labels = np.zeros((300, 300), dtype=np.uint8)
        labels[:, 150:] = 10
        x = official_source_tensor(Image.fromarray(labels, mode="L"), "labels")
        assert x.shape == (19, 256, 256)
        assert torch.equal(x.sum(0), torch.ones(256, 256))
        used = set(torch.nonzero(x.sum((1, 2))).flatten().tolist())
        assert {0, 10} < used  # the border gets in-between labels

    def test_superres_composition(self) -> None:
        img = _test_image()
        low = bicubic_degrade(img, 8)
        want = normalize(to_tensor(low.resize((256, 256), Image.BILINEAR)))
        assert torch.equal(official_source_tensor(img, "superres", resize_factor=8), want)

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="resize_factor"):
            official_source_tensor(_test_image(), "superres")
        with pytest.raises(ValueError, match="mode 'L'"):
            official_source_tensor(_test_image(), "sketch")
        with pytest.raises(ValueError, match="unknown source kind"):
            official_source_tensor(_test_image(), "depth")

    @pytest.mark.parametrize("stem", ["img_000", "img_001"])
    def test_superres_fixture_inputs_deterministic(self, stem: str) -> None:
        path = shared_dir_for_tests("fixtures", "psp256", "superres", "inputs", f"{stem}.png")
        with Image.open(path) as f:
            img = f.convert("RGB")
        low = bicubic_degrade(pil_resize(img), 8)
        assert low.size == (32, 32)
        assert np.array_equal(np.asarray(low), np.asarray(bicubic_degrade(pil_resize(img), 8)))
        a = official_source_tensor(img, "superres", resize_factor=8)
        b = official_source_tensor(img, "superres", resize_factor=8)
        assert a.shape == (3, 256, 256) and torch.equal(a, b)


class TestTensorToUint8:
    def test_truncates(self) -> None:
        x = torch.tensor(254.9 / 255 * 2 - 1, dtype=torch.float32)
        assert float(torch.clamp((x + 1) / 2, 0, 1) * 255) == pytest.approx(254.9, abs=1e-4)
        img = tensor_to_uint8_image(x.expand(3, 2, 2))
        assert img.dtype == np.uint8 and img.shape == (2, 2, 3)
        assert np.all(img == 254)

    def test_clamps(self) -> None:
        x = torch.tensor([-3.0, -1.0, 1.0, 2.5]).view(1, 1, 4).expand(3, 1, 4)
        assert tensor_to_uint8_image(x)[0, :, 0].tolist() == [0, 0, 255, 255]

    def test_equals_numpy_tensor2im_and_batched(self) -> None:
        x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.7
        arr = x.numpy().transpose(0, 2, 3, 1)
        want = np.clip((arr + 1) / 2, 0, 1) * 255
        want = want.astype(np.uint8)
        got = tensors_to_uint8(x)
        assert got.shape == (2, 8, 8, 3)
        assert np.array_equal(got, want)
        assert np.array_equal(got[1], tensor_to_uint8_image(x[1]))
