"""The synthetic face renderer: determinism, labels that agree with the image, frontal
pairs, sketches, attributes and variety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2s.synthfaces import CLASSES, EYE_ROW, LABEL, frontal_params, generate, landmarks, render, sample_params
from p2s.synthfaces.generate import FOLDERS

N_FACES, SIZE, SEED = 20, 64, 3


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A small data set, written once."""
    out = tmp_path_factory.mktemp("synthfaces")
    generate(out, N_FACES, size=SIZE, seed=SEED, workers=1)
    return out


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def _attrs(faces: Path, sid: str) -> dict:
    return json.loads((faces / "attributes" / f"{sid}.json").read_text())


def _ids(faces: Path) -> list[str]:
    return sorted(p.stem for p in (faces / "images").glob("*.png"))


def _interior(label: np.ndarray, cls: int) -> np.ndarray:
    """Pixels of class ``cls`` whose 8 neighbours are of the same class."""
    mask = label == cls
    inner = mask.copy()
    inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    inner[1:-1, 1:-1] &= mask[:-2, :-2] & mask[:-2, 2:] & mask[2:, :-2] & mask[2:, 2:]
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    return inner


def test_layout_ids_and_modes(faces):
    ids = _ids(faces)
    assert ids == [f"{i:06d}" for i in range(N_FACES)]
    for folder in FOLDERS[:-1]:
        assert sorted(p.stem for p in (faces / folder).glob("*.png")) == ids
    assert sorted(p.stem for p in (faces / "attributes").glob("*.json")) == ids
    with Image.open(faces / "images" / "000000.png") as im, Image.open(faces / "labels" / "000000.png") as lab, \
            Image.open(faces / "sketches" / "000000.png") as sk, Image.open(faces / "frontal" / "000000.png") as fr:
        assert (im.mode, im.size) == ("RGB", (SIZE, SIZE)) and (fr.mode, fr.size) == ("RGB", (SIZE, SIZE))
        assert (lab.mode, sk.mode) == ("L", "L")
    meta = json.loads((faces / "synthfaces.json").read_text())
    assert meta["classes"] == list(CLASSES) and meta["count"] == N_FACES and meta["seed"] == SEED


def test_class_list_is_celebamask_hq_order():
    assert len(CLASSES) == 19 and CLASSES[0] == "background"
    assert CLASSES[1:] == ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                           "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")


def test_same_seed_same_bytes_whatever_the_workers(faces, tmp_path):
    again = tmp_path / "again"
    generate(again, 6, size=SIZE, seed=SEED, workers=2)
    for folder, suffix in [(f, ".png") for f in FOLDERS[:-1]] + [("attributes", ".json")]:
        for i in range(6):
            name = f"{i:06d}{suffix}"
            assert (again / folder / name).read_bytes() == (faces / folder / name).read_bytes(), (folder, name)


def test_different_seeds_differ():
    a = render(sample_params(np.random.default_rng([1, 0])), 32).image
    b = render(sample_params(np.random.default_rng([2, 0])), 32).image
    assert np.abs(a.astype(int) - b).mean() > 5


def test_labels_are_classes_and_match_the_image(faces):
    seen = set()
    for sid in _ids(faces):
        label, image = _read(faces / "labels" / f"{sid}.png"), _read(faces / "images" / f"{sid}.png").astype(float)
        params = _attrs(faces, sid)["params"]
        assert label.dtype == np.uint8 and label.max() <= 18
        assert LABEL["hat"] not in label
        seen |= set(np.unique(label).tolist())
        # background: the gradient's colour range
        bg = params["background"]
        low = np.minimum(bg["colour_a"], bg["colour_b"]) - 2
        high = np.maximum(bg["colour_a"], bg["colour_b"]) + 2
        inner = _interior(label, LABEL["background"])
        assert inner.sum() > 50
        ok = np.all((image[inner] >= low) & (image[inner] <= high), axis=1)
        assert ok.mean() > 0.99, sid
        # skin: the skin colour times a grey shading factor (same ratio in every channel)
        skin = _interior(label, LABEL["skin"])
        assert skin.sum() > 100
        ratio = image[skin] / np.maximum(params["skin"]["colour"], 1)
        if not params["beard"]["present"]:
            assert (ratio.std(axis=1) < 0.12).mean() > 0.8, sid
        # every labelled region is drawn: its mean colour is not the background's
        for cls in (LABEL["skin"], LABEL["hair"], LABEL["cloth"]):
            region = _interior(label, cls)
            if region.sum() > 20:
                gradient = (np.asarray(bg["colour_a"]) + np.asarray(bg["colour_b"])) / 2
                assert np.abs(image[region].mean(0) - gradient).max() > 1 or cls == LABEL["cloth"]
    assert {0, 1, 2, 4, 5, 6, 7, 11, 12, 13, 17, 18} <= seen


def test_eye_labels_sit_on_the_drawn_eyes(faces):
    checked = 0
    for sid in _ids(faces):
        attrs = _attrs(faces, sid)
        if abs(attrs["params"]["pose"]["yaw_deg"]) > 25:
            continue
        label = _read(faces / "labels" / f"{sid}.png")
        image = _read(faces / "images" / f"{sid}.png").astype(float)
        grey = image.mean(axis=2)
        skin_level = np.median(grey[label == LABEL["skin"]])
        for name in ("l_eye", "r_eye"):
            ys, xs = np.nonzero(label == LABEL[name])
            assert len(xs) >= 3, (sid, name)
            x, y = attrs["landmarks"][name]
            assert abs(xs.mean() + 0.5 - x) < 2.5 and abs(ys.mean() + 0.5 - y) < 2.5, (sid, name)
            # the drawn eye: bright sclera and dark iris/pupil (lower contrast behind tinted lenses)
            assert np.ptp(grey[ys, xs]) > 30 and np.abs(grey[ys, xs] - skin_level).max() > 15, (sid, name)
        # the subject's left eye is on the image's right
        assert attrs["landmarks"]["l_eye"][0] > attrs["landmarks"]["r_eye"][0]
        checked += 1
    assert checked >= 5


def test_frontal_pair_and_alignment(faces):
    for sid in _ids(faces)[:8]:
        attrs = _attrs(faces, sid)
        params, front = attrs["params"], attrs["frontal_params"]
        assert front["pose"]["yaw_deg"] == 0.0 and front["pose"]["roll_deg"] == 0.0
        assert front["pose"]["scale"] == params["pose"]["scale"]
        assert {k: v for k, v in front.items() if k != "pose"} == {k: v for k, v in params.items() if k != "pose"}
        assert front == frontal_params(params)
        frontal = render(front, SIZE, attrs["supersample"], label=False, sketch=False).image
        np.testing.assert_array_equal(frontal, _read(faces / "frontal" / f"{sid}.png"))
        # FFHQ-like alignment: eyes on a fixed row, symmetric about the centre
        (lx, ly), (rx, ry) = attrs["frontal_landmarks"]["l_eye"], attrs["frontal_landmarks"]["r_eye"]
        assert ly == pytest.approx(EYE_ROW * SIZE, abs=1e-3) and ry == pytest.approx(EYE_ROW * SIZE, abs=1e-3)
        assert (lx + rx) / 2 == pytest.approx(SIZE / 2, abs=1e-3)
        assert 0.2 * SIZE < lx - rx < 0.3 * SIZE


def test_yaw_shifts_features_and_hides_the_far_side():
    params = sample_params(np.random.default_rng([5, 1]))
    params["pose"].update(yaw_deg=0.0, roll_deg=0.0)
    turned = json.loads(json.dumps(params))
    turned["pose"]["yaw_deg"] = 40.0
    front, side = landmarks(params, 128), landmarks(turned, 128)
    assert side["nose_tip"][0] - front["nose_tip"][0] > 10  # turned towards image right
    near = side["r_eye"][0] - front["r_eye"][0]
    far_width = side["l_eye"][0] - side["nose_tip"][0]
    assert near > 10 and far_width < front["l_eye"][0] - front["nose_tip"][0]  # far side foreshortened
    label_front, label_side = render(params, 64).label, render(turned, 64).label
    assert (label_side == LABEL["l_ear"]).sum() < (label_front == LABEL["l_ear"]).sum() or \
        (label_front == LABEL["l_ear"]).sum() == 0


def test_sketches_are_dark_lines_on_white(faces):
    for sid in _ids(faces)[:6]:
        sketch = _read(faces / "sketches" / f"{sid}.png")
        label = _read(faces / "labels" / f"{sid}.png")
        assert (sketch > 200).mean() > 0.7
        dark = sketch < 128
        assert dark.mean() > 0.02
        # label boundaries are drawn
        edge = np.zeros_like(label, bool)
        edge[:, 1:] |= label[:, 1:] != label[:, :-1]
        near = dark.copy()
        near[:, 1:] |= dark[:, :-1]
        near[:, :-1] |= dark[:, 1:]
        near[1:] |= dark[:-1]
        near[:-1] |= dark[1:]
        assert near[edge].mean() > 0.8, sid


def test_attributes_round_trip_through_json(faces):
    sid = _ids(faces)[4]
    attrs = _attrs(faces, sid)
    again = render(json.loads(json.dumps(attrs["params"])), SIZE, attrs["supersample"])
    np.testing.assert_array_equal(again.image, _read(faces / "images" / f"{sid}.png"))
    np.testing.assert_array_equal(again.label, _read(faces / "labels" / f"{sid}.png"))
    np.testing.assert_array_equal(again.sketch, _read(faces / "sketches" / f"{sid}.png"))
    assert attrs["params"] == sample_params(np.random.default_rng([SEED, int(sid)]))


def test_variety(faces):
    """Over the 20 faces of the data set: hair styles, glasses, beards, open mouths and yaw spread."""
    params = [_attrs(faces, sid)["params"] for sid in _ids(faces)]
    styles = {p["hair"]["style"] for p in params}
    glasses = [p["glasses"]["present"] for p in params]
    yaws = np.array([p["pose"]["yaw_deg"] for p in params])
    assert len(styles) >= 4
    assert any(glasses) and not all(glasses)
    assert yaws.max() - yaws.min() > 30 and np.abs(yaws).max() <= 40
    assert len({tuple(p["skin"]["colour"]) for p in params}) == len(params)
    assert any(p["mouth"]["open"] for p in params) and any(p["beard"]["present"] for p in params)
    images = [_read(faces / "images" / f"{sid}.png").astype(int) for sid in _ids(faces)]
    assert min(np.abs(a - b).mean() for a, b in zip(images, images[1:])) > 5  # no two alike


def test_supersampling_antialiases_edges():
    params = sample_params(np.random.default_rng([0, 2]))
    sharp = render(params, 64, supersample=1).image
    smooth = render(params, 64, supersample=4).image
    levels = lambda im: len(np.unique(im.reshape(-1, 3), axis=0))  # noqa: E731
    assert levels(smooth) > levels(sharp)


def test_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        generate("/nonexistent-never-created", 1, size=8)
    with pytest.raises(ValueError, match="n must be"):
        generate("/nonexistent-never-created", 0)


def test_extending_a_set_records_its_ranges_and_another_set_is_refused(tmp_path):
    from p2s.utils.errors import P2SError

    out = tmp_path / "set"
    generate(out, 2, size=16, seed=3, workers=1)
    generate(out, 2, size=16, seed=3, workers=1, start=5)
    meta = json.loads((out / "synthfaces.json").read_text())
    assert (meta["ranges"], meta["count"], meta["seed"], meta["size"]) == ([[0, 2], [5, 7]], 4, 3, 16)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    for other in (dict(size=32, seed=3), dict(size=16, seed=4), dict(size=16, seed=3, supersample=1)):
        with pytest.raises(P2SError, match=r"holds a synthfaces set with .*use another --out"):
            generate(out, 1, workers=1, start=9, **other)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing of the refused runs
    generate(out, 1, size=16, seed=3, workers=1, start=2)
    assert json.loads((out / "synthfaces.json").read_text())["ranges"] == [[0, 3], [5, 7]]
