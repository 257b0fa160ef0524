"""Registry conformance: every registered component builds tiny, runs, round-trips,
and a bad config gives a one-line error."""

from __future__ import annotations

import pytest
import torch

from p2s.backbones import BaseBackbone
from p2s.encoders import BaseEncoder
from p2s.generators import BaseGenerator
from p2s.registry import BACKBONES, ENCODERS, GENERATORS, TASKS
from p2s.tasks import TaskAdapter
from p2s.utils.build import build, registered_names
from p2s.utils.errors import P2SError

TINY_BACKBONES = {
    "IRSEBackbone": dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16)),
    "ResNet34Backbone": dict(),
}
TINY_GENERATORS = {"StyleGAN2Generator": dict(resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)}
TINY_BACKBONE = dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))


def test_every_backbone_has_a_tiny_config():
    assert set(registered_names(BACKBONES)) == set(TINY_BACKBONES)


@pytest.mark.parametrize("name", sorted(TINY_BACKBONES))
def test_backbone_contract(name):
    net = build(BACKBONES, dict(type=name, **TINY_BACKBONES[name]), BaseBackbone)
    feats = net(torch.randn(2, 3, 32, 32))
    assert list(feats) == ["stage1", "stage2", "stage3", "stage4"]
    for feat, channels, stride in zip(feats.values(), net.stage_channels, net.stage_strides):
        assert feat.shape == (2, channels, 32 // stride, 32 // stride)


@pytest.mark.parametrize("name", sorted(registered_names(ENCODERS)))
def test_encoder_contract(name):
    enc = build(ENCODERS, dict(type=name, backbone=TINY_BACKBONE, num_ws=6, w_dim=8), BaseEncoder)
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    out = enc(x)
    assert out.shape == ((2, 8) if enc.learns_in_w else (2, 6, 8))
    out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    clone = build(ENCODERS, dict(type=name, backbone=TINY_BACKBONE, num_ws=6, w_dim=8), BaseEncoder)
    clone.load_state_dict(enc.state_dict())
    enc.eval(), clone.eval()
    torch.testing.assert_close(clone(x.detach()), enc(x.detach()))


@pytest.mark.parametrize("name", sorted(registered_names(GENERATORS)))
def test_generator_contract(name):
    gen = build(GENERATORS, dict(type=name, **TINY_GENERATORS[name]), BaseGenerator)
    ws = torch.randn(2, gen.num_ws, gen.w_dim)
    assert gen.synthesis(ws).shape == (2, 3, gen.resolution, gen.resolution)
    assert gen.mapping(torch.randn(2, gen.w_dim)).shape == (2, gen.w_dim)


@pytest.mark.parametrize("name", sorted(registered_names(TASKS)))
def test_task_contract(name):
    from PIL import Image

    task = build(TASKS, dict(type=name), TaskAdapter)
    image = Image.new(task.source_mode, (40, 30), color=1)
    source = task.prepare_source(image)
    assert source.shape == (task.source_channels, 256, 256)
    assert task.mix_layers(18) == list(range(8, 18))


def test_unknown_type_suggests_close_names():
    with pytest.raises(P2SError) as err:
        build(ENCODERS, dict(type="GradualStyleEncodr", backbone=TINY_BACKBONE, num_ws=6))
    message = str(err.value)
    assert "\n" not in message and "Did you mean 'GradualStyleEncoder'" in message


def test_unknown_option_is_named():
    with pytest.raises(P2SError, match="has no option 'depht'.*Did you mean 'depth'"):
        build(BACKBONES, dict(type="IRSEBackbone", depht=50))


def test_config_without_type():
    with pytest.raises(P2SError, match="'type' key"):
        build(GENERATORS, dict(resolution=16))


def test_build_never_imports_a_dotted_path_and_keeps_scoped_names():
    from p2s.registry import GENERATORS, HOOKS
    from p2s.utils.build import build, registered_class
    from p2s.utils.errors import P2SError

    with pytest.raises(P2SError, match="unknown generator type 'builtins.print'"):
        build(GENERATORS, dict(type="builtins.print"))
    assert registered_class(HOOKS, "CheckpointHook") is registered_class(HOOKS, "mmengine.CheckpointHook")
    assert registered_class(HOOKS, "CheckpointHook").__module__.startswith("mmengine")
    assert registered_class(HOOKS, "p2s.SafeCheckpointHook").__name__ == "SafeCheckpointHook"
    assert registered_class(HOOKS, "os.CheckpointHook") is None


def test_every_p2s_type_the_shipped_configs_name_is_listed():
    """``p2s registry list`` shows every group a config can name p2s types from."""
    from pathlib import Path

    from mmengine.config import Config

    from p2s.registry import ALL_REGISTRIES

    listed = {name for registry in ALL_REGISTRIES.values() for name in registered_names(registry)}

    def types(node):
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                yield node["type"]
            for value in node.values():
                yield from types(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from types(value)

    root = Path(__file__).resolve().parents[1] / "configs"
    named = {kind.split(".", 1)[-1] for path in sorted(root.rglob("*.py")) if "_base_" not in path.parts
             for kind in types(Config.fromfile(str(path)).to_dict())}
    import mmengine.registry.root as roots
    from mmengine.registry import Registry

    p2s_classes = set()  # every p2s class in any registry, listed group or not
    for root_registry in [r for r in vars(roots).values() if isinstance(r, Registry)]:
        for node in (root_registry, *root_registry._children.values()):
            node.import_from_location()
            p2s_classes |= {name for name, cls in node.module_dict.items() if cls.__module__.startswith("p2s.")}
    p2s_named = named & p2s_classes
    assert {"P2SLogProcessor", "P2SDistributedDataParallel", "PSP"} <= p2s_named
    assert sorted(p2s_named - listed) == []
