"""``p2s align`` end to end (landmarks files, detector errors) and :func:`align_paths`."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from p2s.alignment import DEFAULT_DETECTOR_DIR, DETECTOR_FILE, FaceDetector, align_paths, aligned_points, ffhq_quad
from p2s.cli.align import align
from p2s.utils.errors import P2SError

CANONICAL = np.array([[160.0, 180.0], [240.0, 180.0], [200.0, 220.0], [170.0, 260.0], [230.0, 260.0]])
#: hand-placed 5-point landmarks of two faces in insightface's bundled t1.jpg (1280x886)
T1_FACES = [
    [[492, 320], [538, 332], [513, 360], [493, 375], [532, 382]],
    [[1152, 325], [1192, 323], [1170, 350], [1155, 367], [1195, 365]],
]


def run(*args):
    app = typer.Typer()
    app.command()(align)
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(text: str) -> str:
    return " ".join(text.split())


def one_line_error(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return flat(result.output[result.output.index("error:"):])


def face_image(path: Path, points: np.ndarray, size=(400, 400)) -> Path:
    """Grey background, a bright disc behind the face, a dark dot at each landmark."""
    image = Image.new("RGB", size, (90, 90, 90))
    draw = ImageDraw.Draw(image)
    centre = points[:2].mean(axis=0)
    draw.ellipse([centre[0] - 90, centre[1] - 80, centre[0] + 90, centre[1] + 140], fill=(220, 180, 150))
    for x, y in points:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(20, 20, 20))
    image.save(path)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp"))


@pytest.fixture
def photos(tmp_path):
    """a.png (one face), b.jpg (two faces), c.png (no landmarks entry) and landmarks.json."""
    folder = tmp_path / "in"
    folder.mkdir()
    second = CANONICAL * 0.5 + [260, 40]
    face_image(folder / "a.png", CANONICAL)
    face_image(folder / "b.jpg", np.concatenate([CANONICAL, second]), size=(480, 400))
    face_image(folder / "c.png", CANONICAL)
    table = {"a.png": [CANONICAL.tolist()], "b.jpg": [CANONICAL.tolist(), second.tolist()]}
    landmarks = tmp_path / "landmarks.json"
    landmarks.write_text(json.dumps(table))
    return folder, landmarks


# --- landmarks files -----------------------------------------------------------------
def test_landmarks_end_to_end(photos, tmp_path):
    folder, landmarks = photos
    out = tmp_path / "out"
    result = run("--input", folder, "--output", out, "--landmarks", landmarks, "--size", 128)
    assert result.exit_code == 1, result.output  # c.png has no entry
    text = flat(result.output)
    assert "skipped c.png: no entry in landmarks file" in text
    assert "wrote 3 face(s) from 2 of 3 image(s)" in text
    assert "1 image(s) gave no aligned face: c.png" in text
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b_face0.png", "b_face1.png"]
    assert leftovers(out) == []
    # the dark landmark dots sit where the transform says they should
    expected = aligned_points(CANONICAL, ffhq_quad(CANONICAL), 128)
    for name in ("a.png", "b_face0.png", "b_face1.png"):
        with Image.open(out / name) as handle:
            assert handle.format == "PNG" and handle.size == (128, 128)
            pixels = np.asarray(handle.convert("L"), dtype=np.float64)
        for x, y in expected:
            patch = pixels[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2]
            assert patch.mean() < 80, (name, x, y, patch.mean())


def test_one_image_and_size_1024(photos, tmp_path):
    folder, landmarks = photos
    out = tmp_path / "out"
    result = run("--input", folder / "a.png", "--output", out, "--landmarks", landmarks, "--size", 1024)
    assert result.exit_code == 0, result.output
    with Image.open(out / "a.png") as handle:
        assert handle.size == (1024, 1024)


@pytest.mark.parametrize(
    "content, words",
    [
        ("{oops", "is not valid JSON"),
        ('{"a.png": [[[1, 2], [3, 4]]]}', "face 0 has 2 points"),
    ],
)
def test_bad_landmarks_json_is_a_one_line_error(photos, tmp_path, content, words):
    folder, _ = photos
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out"
    error = one_line_error(run("--input", folder, "--output", out, "--landmarks", bad))
    assert words in error and str(bad) in error
    assert not out.exists()  # nothing was started


def test_landmarks_and_detector_dir_exclude_each_other(photos, tmp_path):
    folder, landmarks = photos
    error = one_line_error(
        run("--input", folder, "--output", tmp_path / "o", "--landmarks", landmarks, "--detector-dir", tmp_path)
    )
    assert "exclude each other" in error


def test_unreadable_image_and_degenerate_face_are_reported(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    face_image(folder / "flat.png", CANONICAL)
    face_image(folder / "good.png", CANONICAL)
    landmarks = tmp_path / "lm.json"
    landmarks.write_text(
        json.dumps({"broken.png": [CANONICAL.tolist()], "flat.png": [[[5, 5]] * 5], "good": [CANONICAL.tolist()]})
    )
    result = run("--input", folder, "--output", tmp_path / "out", "--landmarks", landmarks, "--size", 64)
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert "broken.png: not a readable image" in text and "flat.png: landmarks are degenerate" in text
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]


def test_no_aligned_face_at_all_leaves_no_output_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    face_image(folder / "flat.png", CANONICAL)
    landmarks = tmp_path / "lm.json"
    landmarks.write_text(json.dumps({"broken.png": [CANONICAL.tolist()], "flat.png": [[[5, 5]] * 5]}))
    result = run("--input", folder, "--output", tmp_path / "out", "--landmarks", landmarks, "--size", 64)
    assert result.exit_code == 1, result.output
    assert "wrote 0 face(s)" in flat(result.output)
    assert not (tmp_path / "out").exists()


def test_align_paths_returns_sources_and_outputs(photos, tmp_path):
    folder, landmarks = photos
    errors = []
    pairs = align_paths(
        sorted(folder.iterdir()), tmp_path / "out", size=64, landmarks=landmarks,
        on_error=lambda path, message: errors.append(path.name),
    )
    assert [(s.name, o.name) for s, o in pairs] == [
        ("a.png", "a.png"), ("b.jpg", "b_face0.png"), ("b.jpg", "b_face1.png"),
    ]
    assert errors == ["c.png"]
    with pytest.raises(P2SError, match="exactly one of"):
        align_paths([], tmp_path, landmarks=landmarks, detector=lambda image, path: [])


# --- detectors -----------------------------------------------------------------------
class FakeSCRFD:
    """Stands in for insightface's SCRFD: two faces, the small one first."""

    def __init__(self) -> None:
        self.seen = None

    def detect(self, bgr, input_size=None):
        self.seen = (bgr.copy(), input_size)
        small = CANONICAL * 0.5 + [260, 40]
        boxes = np.array([[250, 30, 330, 150, 0.99], [120, 120, 280, 320, 0.90]], dtype=np.float32)
        return boxes, np.stack([small, CANONICAL]).astype(np.float32)


def test_detector_orders_faces_largest_first_and_feeds_bgr(photos, tmp_path):
    folder, _ = photos
    model = FakeSCRFD()
    detector = FaceDetector(model, det_size=320)
    image = Image.new("RGB", (8, 6), (10, 20, 30))
    faces = detector(image)
    np.testing.assert_allclose(faces[0], CANONICAL)  # the larger box first
    assert model.seen[1] == (320, 320)
    assert tuple(model.seen[0][0, 0]) == (30, 20, 10)  # BGR, as insightface expects
    pairs = align_paths([folder / "b.jpg"], tmp_path / "out", size=64, detector=detector)
    assert [o.name for _, o in pairs] == ["b_face0.png", "b_face1.png"]


def test_no_face_found_is_reported(photos, tmp_path):
    folder, _ = photos
    errors = []
    pairs = align_paths(
        [folder / "a.png"], tmp_path / "out", detector=lambda image, path: [],
        on_error=lambda path, message: errors.append(message),
    )
    assert pairs == [] and errors == ["a.png: no face found"]


def test_missing_detector_folder_names_it(photos, tmp_path):
    folder, _ = photos
    missing = tmp_path / "models" / "buffalo_l"
    error = one_line_error(run("--input", folder, "--output", tmp_path / "out", "--detector-dir", missing))
    assert f"face detector folder '{missing}' does not exist" in error
    assert f"put the buffalo_l pack ({DETECTOR_FILE}) there, or pass --landmarks FILE" in error


def test_default_detector_folder_is_under_home(photos, tmp_path, monkeypatch):
    folder, _ = photos
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    error = one_line_error(run("--input", folder, "--output", tmp_path / "out"))
    assert str(tmp_path / "home" / ".insightface" / "models" / "buffalo_l") in error


def test_folder_without_the_model_file(photos, tmp_path):
    folder, _ = photos
    empty = tmp_path / "buffalo_l"
    empty.mkdir()
    (empty / "w600k_r50.onnx").write_bytes(b"")
    error = one_line_error(run("--input", folder, "--output", tmp_path / "out", "--detector-dir", empty))
    assert f"has no {DETECTOR_FILE}" in error and str(empty) in error


def test_missing_insightface_says_how_to_install(photos, tmp_path, monkeypatch):
    folder, _ = photos
    models = tmp_path / "buffalo_l"
    models.mkdir()
    (models / DETECTOR_FILE).write_bytes(b"placeholder")
    monkeypatch.setitem(sys.modules, "insightface", None)
    monkeypatch.setitem(sys.modules, "insightface.model_zoo", None)
    error = one_line_error(run("--input", folder, "--output", tmp_path / "out", "--detector-dir", models))
    assert "pip install 'p2s[align]'" in error


def test_alignment_does_not_import_insightface():
    code = (
        "import sys, p2s.alignment, p2s.cli.align; "
        "assert 'insightface' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


# --- insightface itself (optional extra) ---------------------------------------------
def _insightface_images() -> Path | None:
    spec = importlib.util.find_spec("insightface")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


needs_insightface = pytest.mark.skipif(_insightface_images() is None, reason="insightface is not installed")


@needs_insightface
def test_broken_model_file_is_a_one_line_error(photos, tmp_path):
    folder, _ = photos
    models = tmp_path / "buffalo_l"
    models.mkdir()
    (models / DETECTOR_FILE).write_bytes(b"this is not an onnx model")
    error = one_line_error(run("--input", folder, "--output", tmp_path / "out", "--detector-dir", models))
    assert "could not load face detector" in error and DETECTOR_FILE in error


@needs_insightface
def test_bundled_sample_with_hand_made_landmarks(tmp_path):
    sample = _insightface_images() / "t1.jpg"
    assert sample.is_file(), sample
    landmarks = tmp_path / "t1.json"
    landmarks.write_text(json.dumps({"t1.jpg": T1_FACES}))
    out = tmp_path / "out"
    result = run("--input", sample, "--output", out, "--landmarks", landmarks)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["t1_face0.png", "t1_face1.png"]
    for name in ("t1_face0.png", "t1_face1.png"):
        with Image.open(out / name) as handle:
            face = np.asarray(handle, dtype=np.float64)
        assert face.shape == (256, 256, 3)
        # skin in the middle of the crop (between eyes and mouth): reddish, not background
        centre = face[120:170, 100:156].mean(axis=(0, 1))
        assert centre[0] > centre[2] + 20, centre


@needs_insightface
def test_detection_on_the_bundled_sample(tmp_path):
    """With the buffalo_l pack installed: detection finds the faces of t1.jpg. Without it
    (as on CI, where nothing can be downloaded): the one-line missing-model error."""
    sample = _insightface_images() / "t1.jpg"
    out = tmp_path / "out"
    home_dir = DEFAULT_DETECTOR_DIR.expanduser()
    result = run("--input", sample, "--output", out)
    if (home_dir / DETECTOR_FILE).is_file():
        assert result.exit_code == 0, result.output
        faces = sorted(out.glob("t1_face*.png"))
        assert len(faces) >= 2, result.output
    else:
        error = one_line_error(result)
        assert str(home_dir) in error and "pass --landmarks FILE" in error


def test_output_into_the_input_folder_never_replaces_an_input(photos):
    folder, landmarks = photos
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = run("--input", folder, "--output", folder, "--landmarks", landmarks, "--size", "64")
    assert result.exit_code == 2, result.output
    assert "would replace the input" in " ".join(result.output.split())
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_rerun_counts_replaced_faces_in_one_warning(photos, tmp_path):
    """A second run into the same folder says once how many faces it replaced (was one line per face)."""
    folder, landmarks = photos
    out = tmp_path / "out"
    run("--input", folder, "--output", out, "--landmarks", landmarks, "--size", 32)
    result = run("--input", folder, "--output", out, "--landmarks", landmarks, "--size", 32)
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: 3 file(s) (a.png, b_face0.png, b_face1.png) of an earlier run were replaced in {out}"]
