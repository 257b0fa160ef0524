"""Image metrics against independent references, network metrics, pairing and loading."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.evaluation import (
    IDSimilarity,
    LossMetric,
    LPIPSMetric,
    MetricSummary,
    build_metrics,
    load_pair,
    mse,
    pair_by_stem,
    parse_metric_names,
    psnr,
    ssim,
    summary_json,
)
from p2s.evaluation.metrics import gaussian_window
from p2s.evaluation.pairs import list_images
from p2s.utils.errors import P2SError


def images(n=2, size=32, seed=0, channels=3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=gen)


def smooth_pair(seed=0, size=40):
    """A smooth image and a noisy, shifted copy (SSIM well inside (0, 1))."""
    rng = np.random.RandomState(seed)
    base = np.asarray(
        Image.fromarray((rng.rand(5, 5, 3) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR),
        dtype=np.float64,
    ) / 255
    other = np.clip(0.8 * base + 0.1 + 0.05 * rng.randn(*base.shape), 0, 1)
    return base, other


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1)[None].float()


def reference_ssim(x: np.ndarray, y: np.ndarray, data_range=1.0) -> float:
    """Float64 SSIM with a 2-D 11x11 Gaussian (sigma 1.5), valid windows, per channel."""
    taps = np.arange(11) - 5.0
    g = np.exp(-(taps**2) / (2 * 1.5**2))
    kernel = np.outer(g, g)
    kernel /= kernel.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    scores = []
    for ch in range(x.shape[2]):
        wx = np.lib.stride_tricks.sliding_window_view(x[:, :, ch].astype(np.float64), (11, 11))
        wy = np.lib.stride_tricks.sliding_window_view(y[:, :, ch].astype(np.float64), (11, 11))
        mx = (wx * kernel).sum(axis=(-1, -2))
        my = (wy * kernel).sum(axis=(-1, -2))
        vx = (wx * wx * kernel).sum(axis=(-1, -2)) - mx**2
        vy = (wy * wy * kernel).sum(axis=(-1, -2)) - my**2
        cxy = (wx * wy * kernel).sum(axis=(-1, -2)) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


# --- pixel metrics -------------------------------------------------------------------
def test_mse_and_psnr_known_values():
    pred = torch.full((1, 3, 8, 8), 0.5)
    target = torch.zeros(1, 3, 8, 8)
    assert mse(pred, target).item() == pytest.approx(0.25)
    assert psnr(pred, target).item() == pytest.approx(10 * math.log10(4))
    assert psnr(target, target).item() == math.inf
    assert mse(pred[0], target[0]).shape == (1,)  # [C, H, W] works too


@pytest.mark.parametrize("metric", ["mse", "psnr", "ssim"])
def test_integer_images_are_refused_not_scored_on_the_wrong_scale(metric):
    """uint8 images on the [0, 1] scale gave PSNR -26 dB and SSIM 0.42 without a word."""
    images = torch.full((1, 3, 16, 16), 128, dtype=torch.uint8)
    function = {"mse": mse, "psnr": psnr, "ssim": ssim}[metric]
    with pytest.raises(P2SError, match=r"metrics take float images in \[0, 1\], got pred of torch.uint8"):
        function(images, images.float() / 255)


def test_mse_and_psnr_match_numpy_per_image():
    a, b = images(3, seed=1), images(3, seed=2)
    expected_mse = ((a.double() - b.double()) ** 2).numpy().reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(mse(a, b).numpy(), expected_mse, rtol=1e-12)
    np.testing.assert_allclose(psnr(a, b).numpy(), 10 * np.log10(1 / expected_mse), rtol=1e-12)
    # [-1, 1] images with data_range 2 give the same PSNR
    np.testing.assert_allclose(psnr(a * 2 - 1, b * 2 - 1, data_range=2.0).numpy(), psnr(a, b).numpy(), rtol=1e-6)


def test_ssim_of_an_image_with_itself_is_one():
    a = images(2, seed=3)
    np.testing.assert_allclose(ssim(a, a).numpy(), [1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_a_numpy_reference(seed):
    x, y = smooth_pair(seed)
    value = ssim(to_tensor(x), to_tensor(y)).item()
    assert 0.05 < value < 0.99
    assert value == pytest.approx(reference_ssim(x, y), abs=1e-6)
    # noise: low but defined; symmetric; [-1, 1] with data_range 2 is the same number
    noise = images(1, size=40, seed=seed)
    assert ssim(noise, to_tensor(x)).item() == pytest.approx(reference_ssim(noise[0].permute(1, 2, 0).numpy(), x), abs=1e-6)
    assert ssim(to_tensor(y), to_tensor(x)).item() == pytest.approx(value, abs=1e-12)
    # the documented [0, 1] convention matters: SSIM is not shift-invariant
    shifted = ssim(to_tensor(x) * 2 - 1, to_tensor(y) * 2 - 1, data_range=2.0).item()
    assert shifted == pytest.approx(reference_ssim(x * 2 - 1, y * 2 - 1, data_range=2.0), abs=1e-6)
    assert abs(shifted - value) > 1e-3


def test_ssim_matches_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics")  # only a test-time cross-check
    for seed in (0, 1, 2):
        x, y = smooth_pair(seed, size=48)
        expected = metrics.structural_similarity(
            x, y, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert ssim(to_tensor(x), to_tensor(y)).item() == pytest.approx(expected, abs=1e-6)


def test_gaussian_window_and_small_images():
    window = gaussian_window()
    assert window.shape == (11,) and window.sum().item() == pytest.approx(1.0)
    assert window.argmax().item() == 5 and torch.allclose(window, window.flip(0))
    with pytest.raises(P2SError, match="at least 11x11"):
        ssim(images(1, size=8), images(1, size=8))
    with pytest.raises(P2SError, match="shapes differ"):
        mse(images(1, size=8), images(1, size=9))


# --- network metrics -----------------------------------------------------------------
def test_lpips_without_weights_is_a_one_line_error(empty_hub):
    with pytest.raises(P2SError) as info:
        LPIPSMetric()
    message = str(info.value)
    assert "\n" not in message and "alexnet-owt-7be5be79.pth" in message and str(empty_hub) in message


def test_lpips_with_an_alexnet_file(alexnet_weights, empty_hub):
    metric = LPIPSMetric(alexnet_weights)
    a, b = images(2, size=64, seed=4), images(2, size=64, seed=5)
    same = metric(a, a)
    assert same.shape == (2,) and torch.allclose(same, torch.zeros(2, dtype=torch.float64), atol=1e-7)
    different = metric(a, b)
    assert torch.isfinite(different).all() and (different > 0).all()
    # [-1, 1] input declared as such gives the same distances
    assert torch.allclose(metric(a * 2 - 1, b * 2 - 1, input_range=(-1, 1)), different, atol=1e-6)
    # AlexNet's pools need 31 px a side: a thinner image is a one-line error (a per-file
    # skip in p2s evaluate), not torch's max-pool RuntimeError
    assert torch.isfinite(metric(images(1, size=31, seed=6), images(1, size=31, seed=7))).all()
    with pytest.raises(P2SError, match=r"lpips needs images of at least 31x31, got \(30, 30\)"):
        metric(images(1, size=30, seed=6), images(1, size=30, seed=7))


def test_id_needs_weights():
    with pytest.raises(P2SError, match="--id-weights"):
        IDSimilarity(None)


def test_id_similarity_with_a_random_irse50(irse50_weights):
    metric = IDSimilarity(irse50_weights)
    a, b = images(1, size=256, seed=6), images(1, size=256, seed=7)
    same = metric(a, a)
    assert same.shape == (1,) and same.item() == pytest.approx(1.0, abs=1e-5)
    different = metric(a, b)
    assert math.isfinite(different.item()) and different.item() <= 1 + 1e-6
    # other sizes are pooled to 256 first, as pSp's identity loss does
    big = torch.nn.functional.interpolate(a, size=(512, 512), mode="nearest")
    assert torch.allclose(metric.embed(big * 2 - 1), metric.embed(a * 2 - 1), atol=1e-5)


def test_network_metrics_run_in_exact_float32(alexnet_weights, irse50_weights, empty_hub, monkeypatch):
    # on a GPU PyTorch's default lets cuDNN convolve float32 in TF32: metrics would differ by device
    lpips_metric, id_metric = LPIPSMetric(alexnet_weights), IDSimilarity(irse50_weights)
    seen = []

    def recording(run):
        def wrapped(*args, **kwargs):
            seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
            return run(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(lpips_metric.loss.lpips, "forward", recording(lpips_metric.loss.lpips.forward))
    monkeypatch.setattr(id_metric.loss, "embed", recording(id_metric.loss.embed))
    before = torch.backends.cudnn.allow_tf32
    a, b = images(1, size=64, seed=4), images(1, size=64, seed=5)
    lpips_metric(a, b)
    id_metric(a, b)
    assert seen == [(False, False), (False, False)]
    assert torch.backends.cudnn.allow_tf32 == before


# --- names, pairing, loading, summaries -----------------------------------------------
def test_metric_names():
    assert parse_metric_names(" MSE, ssim,mse,,psnr") == ["mse", "ssim", "psnr"]
    with pytest.raises(P2SError, match="unknown metric 'fid'"):
        parse_metric_names("mse,fid")
    with pytest.raises(P2SError, match="no metric"):
        parse_metric_names(" , ")
    assert list(build_metrics(["ssim", "mse"])) == ["ssim", "mse"]
    assert list(build_metrics("ssim,mse,l2")) == ["ssim", "mse", "l2"]  # it read "mse" as 'm', 's', 'e'
    assert LossMetric is not None  # the validation metric is still exported


def save(path, array):
    Image.fromarray(array).save(path)
    return path


def test_pairing_by_stem_reports_orphans(tmp_path):
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    rgb = np.zeros((16, 16, 3), np.uint8)
    for name in ("a.png", "b.png", "only_pred.png"):
        save(pred / name, rgb)
    for name in ("a.jpg", "b.bmp", "only_target.png"):
        save(target / name, rgb)
    (pred / "notes.txt").write_text("ignored")
    pairing = pair_by_stem(pred, target)
    assert [(s, p.name, t.name) for s, p, t in pairing.pairs] == [("a", "a.png", "a.jpg"), ("b", "b.png", "b.bmp")]
    assert pairing.pred_only == ["only_pred"] and pairing.target_only == ["only_target"]
    save(pred / "a.webp", rgb)
    with pytest.raises(P2SError, match="has both a.png and a.webp"):
        list_images(pred, "pred")


def test_nothing_pairs_or_missing_folder(tmp_path):
    (tmp_path / "p").mkdir(), (tmp_path / "t").mkdir()
    save(tmp_path / "p" / "x.png", np.zeros((4, 4, 3), np.uint8))
    save(tmp_path / "t" / "y.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(P2SError, match="no image stem is in both"):
        pair_by_stem(tmp_path / "p", tmp_path / "t")
    with pytest.raises(P2SError, match="target folder .* does not exist"):
        pair_by_stem(tmp_path / "p", tmp_path / "nope")


def test_load_pair_resizes_the_prediction_and_converts_to_rgb(tmp_path):
    rng = np.random.RandomState(0)
    grey = rng.randint(0, 256, (20, 30), dtype=np.uint8)
    pred = save(tmp_path / "p.png", grey)
    rgba = rng.randint(0, 256, (40, 60, 4), dtype=np.uint8)
    target = save(tmp_path / "t.png", rgba)
    p, t = load_pair(pred, target)
    assert p.shape == t.shape == (1, 3, 40, 60)
    expected = np.asarray(Image.fromarray(grey).convert("RGB").resize((60, 40), Image.BICUBIC), np.float32) / 255
    np.testing.assert_allclose(p[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), rgba[..., :3] / 255, atol=1e-6)
    assert 0 <= p.min() and p.max() <= 1


def test_summary_json_writes_non_finite_as_null():
    results = {
        "psnr": MetricSummary({"a": math.inf, "b": 30.0}),
        "mse": MetricSummary({"a": 0.0, "b": 0.002}),
        "ssim": MetricSummary({"a": 1.0, "b": 1.0}),
    }
    data = summary_json(results, 2)
    assert data["pairs"] == 2
    assert data["psnr"] == {"mean": None, "std": None, "per_image": {"a": None, "b": 30.0}}
    assert data["mse"]["mean"] == pytest.approx(0.001) and data["mse"]["std"] == pytest.approx(0.001)
    assert data["ssim"]["std"] == 0.0
    assert MetricSummary({"a": math.inf, "b": math.inf}).std == 0.0
