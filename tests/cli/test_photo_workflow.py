"""A real photo end to end: align -> translate -> edit -> evaluate (CPU, tiny model).

The photo is insightface's bundled sample ``t1.jpg``. Detection needs model files that
are not on this machine, so the faces come from hand-placed landmarks (``--landmarks``);
the crop itself is the real FFHQ alignment.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

T1_FACES = [
    [[492, 320], [538, 332], [513, 360], [493, 375], [532, 382]],
    [[1152, 325], [1192, 323], [1170, 350], [1155, 367], [1195, 365]],
]


def _sample_photo() -> Path:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("insightface (a dev dependency) is not installed: pip install -e '.[dev]'")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images" / "t1.jpg"


def test_align_translate_edit_evaluate(tiny, ckpt, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "t1.jpg").write_bytes(_sample_photo().read_bytes())
    marks = tmp_path / "marks.json"
    marks.write_text(json.dumps({"t1.jpg": T1_FACES}))

    aligned = tmp_path / "aligned"
    result = tiny.invoke("align", "--input", photos, "--output", aligned, "--landmarks", marks, "--size", "256")
    assert result.exit_code == 0, result.output
    faces = sorted(p.name for p in aligned.glob("*.png"))
    assert faces == ["t1_face0.png", "t1_face1.png"]
    assert all(Image.open(aligned / f).size == (256, 256) for f in faces)

    translated = tmp_path / "translated"
    result = tiny.invoke("translate", "--checkpoint", ckpt("inversion"), "--input", aligned, "--output", translated,
                         "--save-latents", "--resize-outputs", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in translated.glob("*.png")) == faces

    direction = tmp_path / "direction.npy"
    np.save(direction, np.random.default_rng(0).standard_normal(8).astype("float32"))
    edited = tmp_path / "edited"
    result = tiny.invoke("edit", "--checkpoint", ckpt("inversion"), "--input", aligned, "--direction", direction,
                         "--strength", "2", "--output", edited, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in edited.glob("*.png")) == ["t1_face0_edit.png", "t1_face1_edit.png"]

    report = tmp_path / "metrics.json"
    result = tiny.invoke("evaluate", "--pred", translated, "--target", aligned, "--metrics", "mse,psnr,ssim",
                         "--json", report)
    assert result.exit_code == 0, result.output
    metrics = json.loads(report.read_text())
    assert metrics["pairs"] == 2
    assert 0 < metrics["mse"]["mean"] < 1 and -1 <= metrics["ssim"]["mean"] <= 1
