"""``p2s evaluate`` end to end on small image folders."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from p2s.cli.evaluate import evaluate


def run(*args):
    app = typer.Typer()
    app.command()(evaluate)
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return flat(result.output[result.output.index("error:"):])


def picture(seed: int, size=(48, 40)) -> np.ndarray:
    rng = np.random.RandomState(seed)
    low = Image.fromarray(rng.randint(0, 256, (4, 4, 3)).astype(np.uint8))
    return np.asarray(low.resize(size, Image.BILINEAR))


@pytest.fixture
def same_folders(tmp_path):
    """Identical PNG folders a/b/c, plus an orphan on each side."""
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    for k, stem in enumerate("abc"):
        Image.fromarray(picture(k)).save(pred / f"{stem}.png")
        Image.fromarray(picture(k)).save(target / f"{stem}.png")
    Image.fromarray(picture(9)).save(pred / "extra.png")
    Image.fromarray(picture(9)).save(target / "lonely.png")
    return pred, target


def test_identical_folders(same_folders, tmp_path):
    pred, target = same_folders
    report = tmp_path / "report" / "metrics.json"
    result = run("--pred", pred, "--target", target, "--metrics", "mse,psnr,ssim", "--json", report, "--device", "cpu")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "1 pred image(s) without a partner, left out: extra" in text
    assert "1 target image(s) without a partner, left out: lonely" in text
    assert "3 pair(s)" in text and "inf" in text
    data = json.loads(report.read_text())
    assert data["pairs"] == 3 and list(data) == ["mse", "psnr", "ssim", "pairs"]
    assert data["mse"] == {"mean": 0.0, "std": 0.0, "per_image": {"a": 0.0, "b": 0.0, "c": 0.0}}
    assert data["psnr"]["mean"] is None and data["psnr"]["per_image"] == {"a": None, "b": None, "c": None}
    assert data["ssim"]["mean"] == pytest.approx(1.0, abs=1e-9)
    assert [p.name for p in report.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_sizes_differ_and_values_are_per_image(tmp_path):
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    Image.fromarray(picture(1, size=(24, 20))).save(pred / "x.jpg")
    Image.fromarray(picture(1, size=(48, 40))).save(target / "x.png")
    Image.fromarray(picture(2)).save(pred / "y.png")
    Image.fromarray(picture(3)).save(target / "y.png")
    report = tmp_path / "m.json"
    result = run("--pred", pred, "--target", target, "--metrics", "psnr,mse", "--json", report)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    mse_x, mse_y = data["mse"]["per_image"]["x"], data["mse"]["per_image"]["y"]
    assert 0 < mse_x < mse_y  # upscaled copy of x is close; y differs
    assert data["psnr"]["per_image"]["x"] == pytest.approx(-10 * math.log10(mse_x))
    assert data["mse"]["mean"] == pytest.approx((mse_x + mse_y) / 2)
    assert data["mse"]["std"] == pytest.approx(abs(mse_x - mse_y) / 2)


def test_size_resizes_both_and_l2_is_psps(tmp_path):
    """--size 16: both images bilinear to 16x16 first (pSp's calc_losses_on_images.py does
    so at 256); l2 is the mse of [-1, 1] images, 4x mse; the JSON records the size."""
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    Image.fromarray(picture(1, size=(24, 20))).save(pred / "x.png")
    Image.fromarray(picture(2, size=(48, 40))).save(target / "x.png")
    report = tmp_path / "m.json"
    result = run("--pred", pred, "--target", target, "--metrics", "l2,mse", "--size", "16", "--json", report)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    a, b = (np.asarray(Image.open(folder / "x.png").resize((16, 16), Image.BILINEAR), dtype=np.float32) / 255
            for folder in (pred, target))
    expected = float(np.mean(((2 * a - 1) - (2 * b - 1)) ** 2))
    assert data["l2"]["per_image"]["x"] == pytest.approx(expected, rel=1e-5)
    assert data["l2"]["mean"] == pytest.approx(4 * data["mse"]["mean"])
    assert data["size"] == 16 and data["pairs"] == 1
    assert run("--pred", pred, "--target", target, "--metrics", "mse", "--size", "0").exit_code == 2


def test_unknown_metric_and_nothing_pairing(same_folders, tmp_path):
    pred, target = same_folders
    assert "unknown metric 'fid'" in one_line_error(run("--pred", pred, "--target", target, "--metrics", "mse,fid"))
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(picture(0)).save(other / "zzz.png")
    assert "no image stem is in both" in one_line_error(run("--pred", pred, "--target", other))


def test_lpips_without_weights_is_a_one_line_error(same_folders, empty_hub):
    pred, target = same_folders
    error = one_line_error(run("--pred", pred, "--target", target))  # lpips is a default metric
    assert "alexnet-owt-7be5be79.pth" in error and "not found" in error
    assert "or pass --lpips-weights PATH; or leave LPIPS out: --metrics mse,psnr,ssim." in error
    error = one_line_error(run("--pred", pred, "--target", target, "--metrics", "mse,lpips",
                               "--lpips-weights", "nope.pth"))
    assert "Looked only at --lpips-weights nope.pth" in error and error.endswith("--metrics mse.")


def test_id_without_weights_is_a_one_line_error(same_folders):
    pred, target = same_folders
    assert "--id-weights" in one_line_error(run("--pred", pred, "--target", target, "--metrics", "id"))


def test_lpips_and_id_with_weight_files(tmp_path, alexnet_weights, irse50_weights, empty_hub):
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    face = picture(5, size=(256, 256))
    Image.fromarray(face).save(pred / "f.png")
    Image.fromarray(face).save(target / "f.png")
    report = tmp_path / "m.json"
    result = run(
        "--pred", pred, "--target", target, "--metrics", "lpips,id", "--json", report,
        "--lpips-weights", alexnet_weights, "--id-weights", irse50_weights, "--device", "cpu",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["lpips"]["per_image"]["f"] == pytest.approx(0.0, abs=1e-6)
    assert data["id"]["per_image"]["f"] == pytest.approx(1.0, abs=1e-5)


def test_unreadable_image_is_reported_and_exit_1(same_folders):
    pred, target = same_folders
    (pred / "b.png").write_bytes(b"broken")
    result = run("--pred", pred, "--target", target, "--metrics", "mse")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "skipped pred b.png: not a readable image" in text and "1 pair(s) could not be read or measured: b" in text
    assert "2 pair(s)" in text
    (target / "c.png").write_bytes(b"broken")  # the same name on the other side says which
    assert "skipped target c.png: not a readable image" in flat(run("--pred", pred, "--target", target, "--metrics", "mse").output)


def test_nothing_readable_is_an_error_and_writes_no_json(same_folders, tmp_path):
    pred, target = same_folders
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in pred.iterdir():
        (broken / path.name).write_bytes(b"not an image")
    out = tmp_path / "m.json"
    line = one_line_error(run("--pred", broken, "--target", target, "--metrics", "mse", "--json", out))
    assert "could be read" in line and "nothing to report" in line
    assert not out.exists()


def test_id_weights_that_are_not_a_state_dict_are_one_line(same_folders, tmp_path):
    import torch

    pred, target = same_folders
    torch.save([1, 2], tmp_path / "list.pt")
    line = one_line_error(run("--pred", pred, "--target", target, "--metrics", "id", "--id-weights", tmp_path / "list.pt"))
    assert "hold a list, not a state dict" in line


def test_a_json_path_that_is_a_folder_is_refused_before_computing(same_folders, tmp_path):
    pred, target = same_folders
    line = one_line_error(run("--pred", pred, "--target", target, "--metrics", "psnr", "--json", tmp_path))
    assert line == f"error: --json '{tmp_path}' is a folder; give a file name"


def test_a_pair_too_small_for_ssim_is_skipped_and_the_rest_reported(same_folders, tmp_path):
    pred, target = same_folders
    for folder in (pred, target):
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "tiny.png")
    out = tmp_path / "m.json"
    result = run("--pred", pred, "--target", target, "--metrics", "mse,ssim", "--json", out)
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "skipped tiny.png: ssim needs images of at least 11x11, got (1, 1)" in text
    data = json.loads(out.read_text())
    assert "tiny" not in data["mse"]["per_image"] and "tiny" not in data["ssim"]["per_image"]
    assert data["mse"]["per_image"].keys() == data["ssim"]["per_image"].keys() and data["pairs"] >= 1
