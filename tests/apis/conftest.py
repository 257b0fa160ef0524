"""Fixtures of the Translator API tests: the tiny inversion translator and RGB input files."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2s.apis.translator import Translator


@pytest.fixture(scope="module")
def inversion(ckpt) -> Translator:
    return Translator.from_checkpoint(ckpt("inversion"), device="cpu")


@pytest.fixture(scope="module")
def rgb_files(tiny, tmp_path_factory) -> list[Path]:
    return tiny.write_rgb_folder(tmp_path_factory.mktemp("api_rgb"))
