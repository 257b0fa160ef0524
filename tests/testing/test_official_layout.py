"""The psp256 checkpoint recipe: rule classifier and draws.

Bit-exact regeneration of each fixture's checkpoint (its ``weights_sha256``, ``latent_avg``
shape and encoder type) is asserted in ``tests/parity/test_psp256_fixtures.py``, which
builds that checkpoint anyway (about 230M values each) before translating with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from p2s.testing.official_layout import (
    RULES,
    ManifestRow,
    random_official_state_dict,
    random_state_dict_like,
    read_manifest,
    rule_counts,
    rule_for,
)
from p2s.testing.shared import shared_dir_for_tests

TASKS = ("encode", "sketch", "seg", "superres", "w", "wplus")
FORMATS_1024 = ("encode", "frontalize", "sketch", "seg", "superres", "toonify")


def _task_dir(task: str) -> Path:
    return shared_dir_for_tests("fixtures", "psp256", task)


def _meta(task: str) -> dict:
    return json.loads((_task_dir(task) / "fixture.json").read_text(encoding="utf-8"))


class TestReadManifest:
    def test_skips_comments_and_header(self, tmp_path: Path) -> None:
        path = tmp_path / "m.tsv"
        path.write_text(
            "# a comment\nkey\tshape\tdtype\tkind\n"
            "encoder.a.weight\t[2, 3]\tfloat32\tparam\n"
            "encoder.a.num_batches_tracked\t[]\tint64\tbuffer:bn-counter\n"
        )
        assert read_manifest(path) == [
            ManifestRow("encoder.a.weight", (2, 3), "float32", "param"),
            ManifestRow("encoder.a.num_batches_tracked", (), "int64", "buffer:bn-counter"),
        ]

    def test_rejects_bad_row(self, tmp_path: Path) -> None:
        path = tmp_path / "m.tsv"
        path.write_text("key\tshape\tdtype\tkind\nencoder.a.weight\t[2]\n")
        with pytest.raises(ValueError, match="4 tab-separated"):
            read_manifest(path)


class TestRuleFor:
    KEYS = {
        "encoder.body.0.res_layer.4.weight",
        "encoder.body.0.res_layer.4.running_mean",
        "encoder.body.0.res_layer.0.weight",
        "encoder.body.0.res_layer.0.running_mean",
        "encoder.body.0.res_layer.2.weight",
    }

    @pytest.mark.parametrize(
        ("key", "shape", "rule"),
        [
            ("encoder.body.0.res_layer.4.weight", (64,), "bn_res_weight"),
            ("encoder.body.0.res_layer.0.weight", (64,), "bn_weight"),
            ("encoder.body.0.res_layer.2.weight", (64,), "prelu"),
            ("encoder.styles.3.linear.weight", (512, 512), "enc_equal"),
            ("encoder.linear.weight", (512, 512), "enc_equal"),
            ("encoder.output_layer_2.3.weight", (512, 25088), "plain"),
            ("encoder.latlayer1.weight", (512, 256, 1, 1), "plain"),
            ("encoder.latlayer1.bias", (512,), "bias"),
            ("decoder.convs.0.conv.blur.kernel", (4, 4), "fir"),
            ("decoder.convs.0.conv.modulation.weight", (512, 512), "mod_weight"),
            ("decoder.convs.0.conv.modulation.bias", (512,), "mod_bias"),
            ("decoder.convs.0.activate.bias", (512,), "bias"),
            ("decoder.to_rgbs.2.bias", (1, 3, 1, 1), "bias"),
            ("decoder.noises.noise_3", (1, 1, 16, 16), "noise_buffer"),
            ("decoder.convs.0.noise.weight", (1,), "noise_strength"),
            ("decoder.to_rgb1.conv.weight", (1, 3, 512, 1, 1), "torgb"),
            ("decoder.to_rgbs.4.conv.weight", (1, 3, 128, 1, 1), "torgb"),
            ("decoder.convs.0.conv.weight", (1, 512, 512, 3, 3), "dec_unit"),
            ("decoder.input.input", (1, 512, 4, 4), "dec_unit"),
            ("decoder.style.1.weight", (512, 512), "dec_unit"),
        ],
    )
    def test_examples(self, key: str, shape: tuple[int, ...], rule: str) -> None:
        assert rule_for(key, self.KEYS, shape) == rule

    def test_unknown_prefix_raises(self) -> None:
        with pytest.raises(ValueError, match="no recipe rule"):
            rule_for("style.1.weight", set(), (512, 512))


@pytest.mark.parametrize("task", TASKS)
def test_rule_counts_match_fixture(task: str) -> None:
    rows = read_manifest(_task_dir(task) / "manifest.tsv")
    counts = rule_counts(rows)
    assert counts == _meta(task)["rule_counts"]
    assert set(counts) <= set(RULES)
    assert len(rows) == _meta(task)["n_entries"]


def test_draws_are_per_row_and_skip_fixed_rules() -> None:
    rows = [
        ManifestRow("encoder.a.num_batches_tracked", (), "int64", "buffer:bn-counter"),
        ManifestRow("decoder.convs.0.conv.blur.kernel", (4, 4), "float32", "buffer:fir-kernel"),
        ManifestRow("decoder.noises.noise_0", (1, 1, 4, 4), "float32", "buffer:noise"),
        ManifestRow("decoder.input.input", (1, 2, 4, 4), "float32", "param"),
    ]
    state, g = random_official_state_dict(rows, seed=7)
    ref = torch.Generator().manual_seed(7)
    assert state["encoder.a.num_batches_tracked"].dtype == torch.int64
    assert state["encoder.a.num_batches_tracked"].item() == 0
    assert torch.equal(state["decoder.noises.noise_0"], torch.randn((1, 1, 4, 4), generator=ref))
    assert torch.equal(state["decoder.input.input"], torch.randn((1, 2, 4, 4), generator=ref))
    assert torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=ref))
    kernel = state["decoder.convs.0.conv.blur.kernel"]
    assert kernel.sum().item() == 4.0 and kernel[1, 1].item() == 9 / 16


@pytest.mark.parametrize("task", FORMATS_1024)
def test_placeholder_state_dict_of_1024_layout(task: str) -> None:
    path = shared_dir_for_tests("formats", f"psp_{task}_1024.tsv")
    rows = read_manifest(path)
    state = random_state_dict_like(rows)
    assert list(state) == [r.key for r in rows]
    for row in rows:
        assert tuple(state[row.key].shape) == row.shape
        assert state[row.key].dtype == getattr(torch, row.dtype)
    var = next(k for k in state if k.endswith("running_var"))
    assert torch.all(state[var] == 1)


def test_placeholder_materialize_and_generic_layout() -> None:
    rows = read_manifest(shared_dir_for_tests("formats", "stylegan2_g_ema_256_config-f.tsv"))
    state = random_state_dict_like(rows, materialize=True)
    assert all(t.is_contiguous() for t in state.values())
    assert torch.all(state["conv1.conv.modulation.bias"] == 1)


def _tiny_task(folder: Path) -> Path:
    folder.mkdir()
    (folder / "manifest.tsv").write_text(
        "key\tshape\tdtype\tkind\n"
        "encoder.bn.weight\t[64]\tfloat32\tparam\n"
        "encoder.bn.running_mean\t[64]\tfloat32\tbuffer:bn-stat\n"
        "encoder.bn.running_var\t[64]\tfloat32\tbuffer:bn-stat\n"
        "encoder.bn.num_batches_tracked\t[]\tint64\tbuffer:bn-counter\n"
    )
    (folder / "opts.json").write_text(json.dumps({"encoder_type": "GradualStyleEncoder"}))
    (folder / "fixture.json").write_text(json.dumps({"generator_seed": 3, "latent_avg_shape": [2, 8]}))
    return folder


def test_saved_fixture_checkpoint_is_the_recipe_and_its_hash(tmp_path: Path) -> None:
    """Regenerated in a fresh interpreter (MKL_CBWR=COMPATIBLE): the file holds the
    recipe's entries, and the printed hash is the file's."""
    from p2s.testing.official_layout import fixture_checkpoint, save_fixture_checkpoint, weights_sha256

    task = _tiny_task(tmp_path / "tiny")
    digest = save_fixture_checkpoint(task, tmp_path / "tiny.pt")
    saved = torch.load(tmp_path / "tiny.pt", weights_only=True)
    assert digest == weights_sha256(saved["state_dict"], saved["latent_avg"])
    here = fixture_checkpoint(task)
    assert list(saved["state_dict"]) == list(here["state_dict"])
    assert saved["opts"] == here["opts"] and saved["latent_avg"].shape == (2, 8)
    for key, value in here["state_dict"].items():  # exp's last bit may differ from this process's MKL
        torch.testing.assert_close(saved["state_dict"][key], value, rtol=1e-6, atol=0)


def test_failed_regeneration_says_which_folder(tmp_path: Path) -> None:
    from p2s.testing.official_layout import save_fixture_checkpoint

    with pytest.raises(RuntimeError, match="regenerating .*missing failed"):
        save_fixture_checkpoint(tmp_path / "missing", tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
