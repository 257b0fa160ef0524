"""IR-SE / ResNet-34 backbones: weight-file layouts, stage contracts, load rules."""

from __future__ import annotations

import pytest
import torch
import torchvision

from p2s.backbones import IRSEBackbone, ResNet34Backbone
from p2s.testing.official_layout import random_state_dict_like, read_manifest
from p2s.testing.shared import shared_dir_for_tests
from p2s.utils.errors import CheckpointMismatchError, MissingWeightsError, P2SError


def _irse50_file(tmp_path, materialize=True):
    rows = read_manifest(shared_dir_for_tests("formats", "ir_se50_model_ir_se50.tsv"))
    state = random_state_dict_like(rows, materialize=materialize)
    for key, value in state.items():
        if value.is_floating_point() and not key.endswith((".running_var", ".kernel")):
            value.normal_(0, 0.05)
    path = tmp_path / "model_ir_se50.pth"
    torch.save(state, path)
    return path, state


def test_irse50_file_loads_strictly_with_head(tmp_path):
    path, state = _irse50_file(tmp_path)
    net = IRSEBackbone(depth=50, with_output_layer=True, weights=str(path))
    own = net.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in state)
    emb = net.eval().embed(torch.randn(2, 3, 112, 112))
    assert emb.shape == (2, 512)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_non_rgb_input_skips_input_layer(tmp_path):
    path, state = _irse50_file(tmp_path)
    net = IRSEBackbone(depth=50, in_channels=19, weights=str(path))
    assert net.input_layer[0].weight.shape == (64, 19, 3, 3)
    assert torch.equal(net.body[5].res_layer[1].weight, state["body.5.res_layer.1.weight"])
    assert not torch.equal(net.input_layer[1].weight, state["input_layer.1.weight"])


def test_stage_ends_follow_block_spec():
    assert IRSEBackbone(depth=50).stage_ends == (2, 6, 20, 23)  # pSp's taps 6/20/23
    assert IRSEBackbone(depth=100, widths=(8, 8, 8, 8)).stage_ends == (2, 15, 45, 48)
    assert IRSEBackbone(depth=152, widths=(8, 8, 8, 8)).stage_ends == (2, 10, 46, 49)


def test_named_features_and_channel_check():
    net = IRSEBackbone(units=(1, 1, 1, 1), widths=(8, 8, 16, 16), mode="ir")
    feats = net(torch.randn(2, 3, 64, 64))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "stage1": (2, 8, 32, 32), "stage2": (2, 8, 16, 16), "stage3": (2, 16, 8, 8), "stage4": (2, 16, 4, 4)
    }
    with pytest.raises(ValueError, match=r"expects \[N, 3, H, W\]"):
        net(torch.randn(1, 1, 64, 64))


def test_bad_depth_lists_choices():
    with pytest.raises(P2SError, match="50, 100, 152"):
        IRSEBackbone(depth=34)


def test_missing_and_mismatched_weight_files(tmp_path):
    with pytest.raises(MissingWeightsError, match="model_ir_se50.pth"):
        IRSEBackbone(weights=str(tmp_path / "model_ir_se50.pth"))
    torch.save({"body.0.res_layer.1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatchError) as err:
        IRSEBackbone(weights=str(tmp_path / "bad.pth"))
    assert "\n" not in str(err.value) and "body.0.res_layer.1.weight" in str(err.value)


def test_resnet34_matches_torchvision(tmp_path):
    reference = torchvision.models.resnet34().eval()
    torch.save(reference.state_dict(), tmp_path / "r34.pth")
    net = ResNet34Backbone(weights=str(tmp_path / "r34.pth")).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = reference.relu(reference.bn1(reference.conv1(x)))  # no max-pool in p2s
        for layer in (reference.layer1, reference.layer2, reference.layer3, reference.layer4):
            want = layer(want)
        got = net(x)["stage4"]
    assert torch.allclose(got, want, atol=1e-5)
    assert net.stage_strides == (2, 4, 8, 16)


# --- weight files that are not {name: tensor} dicts -----------------------------------
NOT_STATE_DICTS = {
    "tensor": torch.zeros(3),
    "list": [1, 2],
    "int keys": {1: torch.zeros(1)},
    "tuple keys": {("conv1", "weight"): torch.zeros(1)},
    "str value": {"conv1.weight": "zeros"},
}


def _assert_one_line_naming(err: pytest.ExceptionInfo, path, *words: str) -> None:
    text = str(err.value)
    assert "\n" not in text and f"'{path}'" in text, text
    assert all(word in text for word in words), text


@pytest.mark.parametrize("case", sorted(NOT_STATE_DICTS))
@pytest.mark.parametrize("backbone", ["resnet34", "irse"])
def test_non_state_dict_weight_files_are_one_line(tmp_path, backbone, case):
    path = tmp_path / "w.pth"
    torch.save(NOT_STATE_DICTS[case], path)
    build = {
        "resnet34": lambda: ResNet34Backbone(weights=str(path)),
        "irse": lambda: IRSEBackbone(units=(1, 1, 1, 1), widths=(8, 8, 8, 8), weights=str(path)),
    }[backbone]
    with pytest.raises(CheckpointMismatchError) as err:
        build()
    hint = "resnet34-b627a593.pth" if backbone == "resnet34" else "model_ir_se50.pth"
    _assert_one_line_naming(err, path, "not a state dict", hint)


@pytest.mark.parametrize("key", ["layer5.0.conv1.weight", "layerX.0.conv1.weight", "layer1.9.conv1.weight",
                                 "layer2.a.conv1.weight", "layer3"])
def test_resnet34_keys_outside_its_layout_are_named(tmp_path, key):
    state = torchvision.models.resnet34().state_dict()
    state[key] = torch.zeros(1)
    path = tmp_path / "r34.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as err:
        ResNet34Backbone(weights=str(path))
    _assert_one_line_naming(err, path, "1 unexpected", key)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("side", [7, 8])
def test_subsample_shortcut_is_the_official_one_pixel_max_pool(stride, side):
    """The identity units' shortcut is ``MaxPool2d(1, stride)`` in the official code: a
    view of every stride-th pixel gives the same tensor, odd sides and channels-last too."""
    from p2s.backbones.irse import Subsample

    x = torch.randn(2, 4, side, side).to(memory_format=torch.channels_last)
    assert torch.equal(Subsample(stride)(x), torch.nn.MaxPool2d(1, stride)(x))
