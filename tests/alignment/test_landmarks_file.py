"""Landmarks JSON files: accepted layouts, lookups and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from p2s.alignment import LandmarkTable, load_landmarks
from p2s.utils.errors import P2SError

FIVE = [[160, 180], [240, 180], [200, 220], [170, 260], [230, 260]]


def write(tmp_path, data, name="lm.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_layouts_and_lookup(tmp_path):
    rng = np.random.RandomState(0)
    sixty_eight = rng.uniform(0, 100, (68, 2)).round(2).tolist()
    table = load_landmarks(
        write(tmp_path, {"a.jpg": [FIVE], "b.png": [FIVE, sixty_eight], "c": FIVE, "empty.png": []})
    )
    assert isinstance(table, LandmarkTable) and len(table) == 4
    (a,) = table.lookup(tmp_path / "a.jpg")
    np.testing.assert_array_equal(a, np.array(FIVE, dtype=np.float64))
    b0, b1 = table.lookup("x/b.png")
    assert b1.shape == (5, 2)
    np.testing.assert_allclose(b1[0], np.mean(sixty_eight[36:42], axis=0))
    assert len(table.lookup("c.webp")) == 1  # by stem; one face without the outer list
    assert table.lookup("empty.png") == []
    with pytest.raises(P2SError, match=r"^d\.png: no entry in landmarks file"):
        table.lookup("d.png")
    # lookups hand out copies
    table.lookup("a.jpg")[0][0, 0] = -1
    assert table.lookup("a.jpg")[0][0, 0] == 160


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a list, not an object"),
        ({"a.png": "x"}, "entry 'a.png' is a str"),
        ({"a.png": [[[1, 2]] * 4]}, "face 0 has 4 points"),
        ({"a.png": [FIVE, [[1, 2, 3]] * 5]}, "face 1 is not a list of \\[x, y\\] number pairs"),
        ({"a.png": [[[1, True]] * 5]}, "face 0 is not a list"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, words):
    path = write(tmp_path, content)
    with pytest.raises(P2SError, match=words) as info:
        load_landmarks(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(P2SError, match="does not exist"):
        load_landmarks(tmp_path / "nope.json")
