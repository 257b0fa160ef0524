"""Every official pSp layout in shared/formats maps key-for-key onto a p2s model.

Models are built on the meta device (no memory, no init cost) from the configs that
the checkpoint reader derives from each layout's ``opts``; the state-dict keys and
shapes must equal the manifest exactly.  Values are exercised by the psp256 parity
test; real values at full size go through tests/parity.
"""

from __future__ import annotations

import json

import pytest
import torch

from p2s.apis.checkpoint import psp_opts_to_config
from p2s.registry import MODELS
from p2s.testing.official_layout import read_manifest
from p2s.testing.shared import shared_dir_for_tests
from p2s.utils.build import build

LAYOUTS = {
    "encode-1024": "psp_encode_1024.tsv",
    "frontalize-1024": "psp_frontalize_1024.tsv",
    "sketch-1024": "psp_sketch_1024.tsv",
    "seg-1024": "psp_seg_1024.tsv",
    "superres-1024": "psp_superres_1024.tsv",
    "toonify-1024": "psp_toonify_1024.tsv",
    "w-1024": "psp_ablation_w_1024.tsv",
    "wplus-1024": "psp_ablation_wplus_1024.tsv",
    "encode-256": "psp_encode_256.tsv",
}
EXPECTED_TASK = {
    "encode": "Inversion", "toonify": "Inversion", "frontalize": "Frontalization",
    "sketch": "Sketch2Face", "seg": "Seg2Face", "superres": "SuperResolution",
    "w": "Inversion", "wplus": "Inversion",
}


def _opts_entries():
    formats = shared_dir_for_tests("formats")
    return json.loads((formats / "psp_checkpoint_opts.json").read_text())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layout_keys_and_shapes(layout):
    entries = _opts_entries()
    if layout not in entries:
        pytest.fail(f"{layout} missing from psp_checkpoint_opts.json")
    model_cfg, task_cfg = psp_opts_to_config(entries[layout]["opts"])
    assert task_cfg["type"] == EXPECTED_TASK[layout.split("-")[0]]
    with torch.device("meta"):
        model = build(MODELS, model_cfg)
    rows = read_manifest(shared_dir_for_tests("formats", LAYOUTS[layout]))
    want = {r.key: tuple(r.shape) for r in rows}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "latent_avg"}
    assert got == want
    assert model.num_ws == {"1024": 18, "256": 14}[layout.split("-")[1]]
    assert list(model.latent_avg.shape) == [model.num_ws, 512]


def test_missing_output_size_means_1024():
    model_cfg, _ = psp_opts_to_config({"encoder_type": "GradualStyleEncoder", "dataset_type": "ffhq_encode"})
    assert model_cfg["generator"]["resolution"] == 1024
