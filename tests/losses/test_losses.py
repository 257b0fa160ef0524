"""Training losses: official maths, weight files, frozen networks, names."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from p2s.losses import (
    FACE_CROP,
    BaseLoss,
    FrozenNetworkMixin,
    IDLoss,
    L2Loss,
    LPIPSLoss,
    MoCoLoss,
    WNormLoss,
    freeze,
)
from p2s.registry import LOSSES
from p2s.testing.official_layout import random_state_dict_like, read_manifest
from p2s.testing.shared import shared_dir_for_tests
from p2s.utils.build import registered_names
from p2s.utils.errors import CheckpointMismatchError, MissingWeightsError, P2SError

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def _images(n: int = 2, seed: int = 0, size: int = 256) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A private, empty torch hub dir (via TORCH_HOME), so no real cache interferes."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # undo any earlier set_dir
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    """torchvision's AlexNet (random weights, full state dict) saved as its hub file."""
    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None).eval()
    path = tmp_path_factory.mktemp("alexnet") / ALEXNET_FILE
    torch.save(net.state_dict(), path)
    return path, net


@pytest.fixture(scope="module")
def irse50_file(tmp_path_factory):
    """A random IR-SE50 file in the official ``model_ir_se50.pth`` layout.

    Scaled so that activations neither vanish nor explode through the 24 units: with all
    weights tiny, every image gets the same embedding (and CPU time goes to denormals).
    """
    rows = read_manifest(shared_dir_for_tests("formats", "ir_se50_model_ir_se50.tsv"))
    state = random_state_dict_like(rows, materialize=True)
    g = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        noise = torch.randn(value.shape, generator=g)
        if key.endswith(".running_var"):
            value.copy_(1 + 0.05 * noise.abs())  # keep variances positive
        elif value.ndim == 1 and key.endswith(".weight") and bool(value[0] == 1):
            value.copy_(1 + 0.05 * noise)  # BatchNorm scales (the placeholder put 1 there)
        elif value.ndim == 1 and key.endswith(".weight"):
            value.copy_(0.25 + 0.05 * noise)  # PReLU slopes
        elif value.ndim >= 2:
            value.copy_(noise / math.sqrt(math.prod(value.shape[1:])))  # conv / linear
        else:
            value.copy_(0.05 * noise)  # biases, running means
    path = tmp_path_factory.mktemp("irse") / "model_ir_se50.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def id_loss(irse50_file):
    return IDLoss(weights=str(irse50_file))


@pytest.fixture(scope="module")
def moco_file(tmp_path_factory):
    """A MoCo-v2 style training checkpoint around a random torchvision ResNet-50."""
    torch.manual_seed(2)
    resnet = torchvision.models.resnet50(weights=None)
    state = {
        f"module.encoder_q.{k}": v
        for k, v in resnet.state_dict().items()
        if not k.startswith("fc.")
    }
    state["module.encoder_q.fc.0.weight"] = torch.randn(2048, 2048) * 0.01  # MoCo-v2 MLP head
    state["module.encoder_q.fc.0.bias"] = torch.zeros(2048)
    state["module.encoder_q.fc.2.weight"] = torch.randn(128, 2048) * 0.01
    state["module.encoder_q.fc.2.bias"] = torch.zeros(128)
    state["module.queue"] = torch.randn(128, 16)
    state["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    path = tmp_path_factory.mktemp("moco") / "moco_v2_800ep_pretrain.pth.tar"
    torch.save({"state_dict": state, "epoch": 1, "arch": "resnet50"}, path)
    return path, state


# --- base contract --------------------------------------------------------------------


def test_every_registered_loss_has_a_loss_name():
    names = registered_names(LOSSES)
    assert set(names) >= {"L2Loss", "LPIPSLoss", "IDLoss", "WNormLoss", "MoCoLoss"}
    for name in names:
        cls = LOSSES.get(name)
        assert issubclass(cls, BaseLoss), name
        default = inspect.signature(cls).parameters["loss_name"].default
        assert isinstance(default, str) and default.startswith("loss_"), name
        weight = inspect.signature(cls).parameters["loss_weight"].default
        assert isinstance(weight, float), name


@pytest.mark.parametrize("bad", ["l2", "loss", "my_loss_l2", "", None])
def test_bad_loss_name_is_refused(bad):
    with pytest.raises(P2SError, match="loss_name must start with 'loss_'"):
        L2Loss(loss_name=bad)


def test_registry_builds_from_config():
    cfg = dict(type="L2Loss", loss_weight=2.0, crop=FACE_CROP, loss_name="loss_l2_crop")
    loss = LOSSES.build(cfg)
    assert isinstance(loss, L2Loss) and loss.crop == FACE_CROP and loss.loss_weight == 2.0


def test_freeze_and_mixin_keep_networks_frozen():
    class Holder(FrozenNetworkMixin, BaseLoss):
        def __init__(self):
            super().__init__(loss_name="loss_holder")
            self.add_frozen("net", nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)))
            self.trainable = nn.Linear(3, 3)

        def forward(self, pred, target, **kwargs):
            return F.mse_loss(self.net(pred), target)

    net = freeze(nn.Linear(2, 2).train())
    assert not net.training and not any(p.requires_grad for p in net.parameters())

    parent = nn.ModuleDict({"holder": Holder()})
    parent.train()
    holder = parent["holder"]
    assert holder.training and holder.trainable.training
    assert not holder.net.training and not holder.net[1].training
    assert not any(p.requires_grad for p in holder.net.parameters())
    # frozen networks come from their own files: not saved, not required on load
    keys = set(parent.state_dict())
    assert keys == {"holder.trainable.weight", "holder.trainable.bias"}
    before = holder.net[0].weight.clone()
    parent.load_state_dict({k: torch.zeros_like(v) for k, v in parent.state_dict().items()})
    assert torch.equal(holder.net[0].weight, before)
    assert torch.count_nonzero(holder.trainable.weight) == 0


# --- L2 -------------------------------------------------------------------------------


def test_l2_equals_mse_and_weight_multiplies():
    pred, target = _images(2, 0), _images(2, 1)
    assert torch.allclose(L2Loss()(pred, target), F.mse_loss(pred, target))
    assert torch.allclose(L2Loss(loss_weight=3.0)(pred, target), 3 * F.mse_loss(pred, target))
    crop = L2Loss(crop=FACE_CROP, loss_name="loss_l2_crop")(pred, target)
    rows, cols = slice(35, 223), slice(32, 220)
    assert torch.allclose(crop, F.mse_loss(pred[:, :, rows, cols], target[:, :, rows, cols]))


def test_l2_crop_is_rows_35_223_cols_32_220():
    assert FACE_CROP == (35, 223, 32, 220)
    pred, target = _images(1, 0), _images(1, 1)
    full, crop = L2Loss(), L2Loss(crop=FACE_CROP, loss_name="loss_l2_crop")
    base_full, base_crop = full(pred, target), crop(pred, target)
    outside = [(34, 100), (223, 100), (100, 31), (100, 220), (0, 0), (255, 255)]
    inside = [(35, 32), (222, 219), (35, 219), (222, 32)]
    for row, col in outside + inside:
        changed = pred.clone()
        changed[0, 1, row, col] += 0.5
        assert not torch.equal(full(changed, target), base_full)
        same = torch.equal(crop(changed, target), base_crop)
        assert same == ((row, col) in outside), (row, col)


def test_bad_crop_is_refused():
    with pytest.raises(P2SError, match="top, bottom, left, right"):
        L2Loss(crop=(223, 35, 32, 220))


# --- LPIPS ----------------------------------------------------------------------------


def test_lpips_random_backbone_builds_offline(empty_hub, recwarn, capsys):
    loss = LPIPSLoss(random_backbone=True)
    assert not [w for w in recwarn if "pretrained" in str(w.message)]
    assert capsys.readouterr().out == ""
    a, b = _images(2, 0, size=64), _images(2, 1, size=64)
    assert loss(a, a.clone()).item() == pytest.approx(0.0, abs=1e-7)
    pred = a.clone().requires_grad_(True)
    value = loss(pred, b)
    assert value.ndim == 0 and value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    loss.train()
    assert loss.training and not loss.lpips.training and not loss.lpips.net.training
    assert loss.state_dict() == {}


def test_lpips_weight_crop_and_input_range(alexnet_file, empty_hub):
    loss = LPIPSLoss(
        backbone_weights=str(alexnet_file[0]), crop=FACE_CROP, loss_name="loss_lpips_crop"
    )
    assert loss.loss_weight == 0.8 and loss.crop == FACE_CROP
    a, b = _images(1, 0), _images(1, 1)
    with torch.no_grad():
        # the [-1, 1] inputs go in as they are (normalize=False), cropped to rows 35:223,
        # columns 32:220, and the distance is weighted
        rows, cols = slice(35, 223), slice(32, 220)
        expected = loss.lpips(a[:, :, rows, cols], b[:, :, rows, cols], normalize=False).mean()
        assert torch.allclose(loss(a, b), 0.8 * expected)


def test_lpips_loads_torchvision_alexnet_features(alexnet_file, empty_hub):
    path, tv_net = alexnet_file
    loss = LPIPSLoss(backbone_weights=str(path))
    trunk = loss.lpips.net
    # every lpips trunk tensor equals torchvision's features.N tensor of the same index
    own = trunk.state_dict()
    tv_state = tv_net.state_dict()
    assert len(own) == 10
    for key, value in own.items():
        index, param = key.split(".", 2)[1:]
        assert torch.equal(value, tv_state[f"features.{index}.{param}"]), key
    # and the slice outputs equal torchvision's feature layers at the slice ends
    x = torch.randn(2, 3, 64, 64)
    outs = trunk(x)
    expected, h = [], x
    with torch.no_grad():
        for index, layer in enumerate(tv_net.features):
            h = layer(h)
            if index in (1, 4, 7, 9, 11):
                expected.append(h)
    assert len(outs) == len(expected) == 5
    for got, want in zip(outs, expected):
        assert torch.allclose(got, want, atol=1e-5)


def test_lpips_finds_the_file_in_the_hub_dir(alexnet_file, empty_hub):
    path, tv_net = alexnet_file
    empty_hub.mkdir(parents=True)
    (empty_hub / ALEXNET_FILE).symlink_to(path)
    loss = LPIPSLoss()
    assert loss.weights_path == str(empty_hub / ALEXNET_FILE)
    assert torch.equal(loss.lpips.net.slice1[0].weight, tv_net.features[0].weight)


def test_lpips_missing_file_says_where_and_how(empty_hub):
    with pytest.raises(MissingWeightsError) as info:
        LPIPSLoss()
    message = str(info.value)
    assert "\n" not in message
    assert ALEXNET_FILE in message
    assert str(empty_hub) in message
    assert "torchvision.models.alexnet(weights='DEFAULT')" in message
    assert "backbone_weights" in message


def test_lpips_missing_explicit_file(tmp_path, empty_hub):
    missing = tmp_path / "nowhere" / ALEXNET_FILE
    with pytest.raises(MissingWeightsError) as info:
        LPIPSLoss(backbone_weights=str(missing))
    message = str(info.value)
    assert "\n" not in message and str(missing) in message and ALEXNET_FILE in message


def test_lpips_wrong_trunk_file(tmp_path, empty_hub):
    state = {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}
    path = tmp_path / ALEXNET_FILE
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as info:
        LPIPSLoss(backbone_weights=str(path))
    assert "\n" not in str(info.value) and "features.0.weight" in str(info.value)


@pytest.mark.parametrize("state", [{0: torch.zeros(1)}, [torch.zeros(1)]])
def test_lpips_non_state_dict_file_is_one_line(tmp_path, empty_hub, state):
    path = tmp_path / ALEXNET_FILE
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as info:
        LPIPSLoss(backbone_weights=str(path))
    message = str(info.value)
    assert "\n" not in message and f"'{path}'" in message and "not a state dict" in message


def test_lpips_vgg_builds_with_random_backbone(empty_hub):
    loss = LPIPSLoss(net="vgg", random_backbone=True)
    a = _images(1, 0, size=64)
    assert loss(a, a.clone()).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(a, _images(1, 1, size=64)).item() > 0


def test_lpips_unknown_net():
    with pytest.raises(P2SError, match="net must be one of"):
        LPIPSLoss(net="squeeze", random_backbone=True)


# --- ID -------------------------------------------------------------------------------


def test_id_loss_of_identical_images_is_zero(id_loss):
    a = _images(2, 0)  # two different samples: a wrong pred/target pairing would show
    with torch.no_grad():
        assert abs(id_loss(a, a.clone()).item()) < 1e-5


def test_id_loss_matches_independent_computation(id_loss, irse50_file):
    # the loss loaded the file exactly (head included) ...
    file_state = torch.load(irse50_file, weights_only=True)
    own = id_loss.facenet.state_dict()
    assert set(own) == set(file_state)
    assert all(torch.equal(own[k], file_state[k]) for k in file_state)
    # ... and equals crop + pool + embed done one image at a time
    a, b = _images(2, 2), _images(2, 3)
    expected = 0.0
    with torch.no_grad():
        for i in range(2):
            e_pred, e_target = (
                id_loss.facenet.embed(
                    F.adaptive_avg_pool2d(x[i : i + 1, :, 35:223, 32:220], (112, 112))
                )[0]
                for x in (a, b)
            )
            expected += 1 - torch.dot(e_pred, e_target).item()
    expected = 0.1 * expected / 2
    assert id_loss.loss_weight == 0.1 and expected > 1e-3
    pred = a.clone().requires_grad_(True)
    value = id_loss(pred, b)
    assert value.item() == pytest.approx(expected, abs=1e-6)
    value.backward()  # gradients reach pred, never the frozen network
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in id_loss.parameters())


def test_id_loss_is_frozen(id_loss):
    id_loss.train()
    assert id_loss.training and not id_loss.facenet.training
    assert all(not m.training for m in id_loss.facenet.modules())
    assert not any(p.requires_grad for p in id_loss.parameters())
    assert id_loss.state_dict() == {}
    id_loss.eval()


def test_id_loss_weight_files(tmp_path):
    missing = tmp_path / "model_ir_se50.pth"
    with pytest.raises(MissingWeightsError) as info:
        IDLoss(weights=str(missing))
    assert "\n" not in str(info.value) and str(missing) in str(info.value)
    with pytest.raises(P2SError, match="model_ir_se50.pth"):
        IDLoss(weights=None)
    loss = IDLoss(weights=None, random_init=True, crop=None)
    assert loss.crop is None and not loss.facenet.training


# --- W norm ---------------------------------------------------------------------------


def test_w_norm_formula():
    codes, avg = torch.randn(3, 14, 512), torch.randn(14, 512)
    expected = sum(torch.linalg.matrix_norm(codes[i] - avg) for i in range(3)) / 3
    loss = WNormLoss()
    assert loss.loss_weight == 0.005
    got = loss(_images(3), _images(3), codes=codes, latent_avg=avg)
    assert torch.allclose(got, 0.005 * expected)
    raw_loss = WNormLoss(loss_weight=1.0, start_from_latent_avg=False)
    raw = raw_loss(None, None, codes=codes, latent_avg=avg)
    assert torch.allclose(raw, sum(torch.linalg.matrix_norm(codes[i]) for i in range(3)) / 3)
    assert WNormLoss()(None, None, codes=avg.expand(3, 14, 512), latent_avg=avg).item() == 0.0


def test_w_norm_needs_codes():
    with pytest.raises(P2SError, match="codes"):
        WNormLoss()(_images(1), _images(1))
    with pytest.raises(P2SError, match="latent_avg"):
        WNormLoss()(None, None, codes=torch.zeros(1, 14, 512))


# --- MoCo -----------------------------------------------------------------------------


def test_moco_loads_query_encoder(moco_file):
    path, state = moco_file
    loss = MoCoLoss(weights=str(path))
    loaded = loss.backbone.state_dict()
    # ResNet-50 without fc: conv1, bn1, relu, maxpool, layer1..4, avgpool -> indices 0..8
    encoder_q = [k for k in state if k.startswith("module.encoder_q.") and ".fc." not in k]
    assert len(loaded) == len(encoder_q) == 318
    assert torch.equal(loaded["0.weight"], state["module.encoder_q.conv1.weight"])
    last_bn = state["module.encoder_q.layer4.2.bn3.running_var"]
    assert torch.equal(loaded["7.2.bn3.running_var"], last_bn)
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert loss.training and not loss.backbone.training
    assert loss.state_dict() == {}
    a = _images(2, 0)  # two different samples: a wrong pred/target pairing would show
    value = loss(a.clone().requires_grad_(True), a)
    assert abs(value.item()) < 1e-5
    assert value.requires_grad and value.grad_fn is not None  # only pred can require grad


def test_moco_wrong_shape_is_one_line(moco_file, tmp_path):
    _, state = moco_file
    bad = dict(state)
    bad["module.encoder_q.conv1.weight"] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / "bad.pth.tar"
    torch.save({"state_dict": bad, "epoch": 1}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        MoCoLoss(weights=str(path))
    assert "\n" not in str(info.value) and "conv1.weight" in str(info.value)
    # a file without the query encoder at all
    torch.save({"state_dict": {"encoder.conv1.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointMismatchError, match="module.encoder_q"):
        MoCoLoss(weights=str(path))


def test_moco_weight_paths(tmp_path):
    with pytest.raises(MissingWeightsError):
        MoCoLoss(weights=str(tmp_path / "absent.pth.tar"))
    with pytest.raises(P2SError, match="moco"):
        MoCoLoss(weights=None)
