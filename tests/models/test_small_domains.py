"""Domains smaller than pSp's 256 px: tasks resize to ``image_size``, PSP pools to
``pooled_size``, map2style heads may be narrower -- and the defaults stay official."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from p2s.apis.checkpoint import build_task
from p2s.encoders.gradual import GradualStyleEncoder
from p2s.generators.layers import ModulatedConv2d
from p2s.registry import MODELS
from p2s.utils.build import build
from p2s.utils.errors import P2SError

FACE = Image.fromarray((np.random.default_rng(0).random((96, 96, 3)) * 255).astype("uint8"))
LABELS = Image.fromarray((np.arange(96 * 96).reshape(96, 96) % 19).astype("uint8"), mode="L")


@pytest.mark.parametrize(
    "task, image, channels",
    [(dict(type="Inversion"), FACE, 3), (dict(type="Frontalization"), FACE, 3),
     (dict(type="Sketch2Face"), FACE.convert("L"), 1), (dict(type="Seg2Face"), LABELS, 19),
     (dict(type="SuperResolution", resize_factor=4, train_factors=(1, 2, 4, 8)), FACE, 3),
     (dict(type="Inpainting"), FACE, 3)],
    ids=lambda v: v["type"] if isinstance(v, dict) else None,
)
def test_tasks_resize_to_their_image_size(task, image, channels):
    default = build_task(task)
    small = build_task(task, image_size=64)
    assert default.prepare_source(image).shape == (channels, 256, 256)
    assert small.prepare_source(image).shape == (channels, 64, 64)
    source, target = small.training_sample(FACE, None if channels == 3 else image, np.random.default_rng(0), True)
    assert source.shape == (channels, 64, 64) and target.shape == (3, 64, 64)


def test_bad_image_size_is_a_one_line_error():
    with pytest.raises(P2SError, match="image_size must be between 8 and 4096"):
        build_task(dict(type="Inversion"), image_size=4)


def test_inpainting_mask_scales_with_the_image():
    small = build_task(dict(type="Inpainting"), image_size=64).prepare_source(FACE)
    large = build_task(dict(type="Inpainting")).prepare_source(FACE)
    assert float((small == 0).float().mean()) == pytest.approx(float((large == 0).float().mean()), abs=0.01)


def _small_psp(**extra):
    cfg = dict(
        type="PSP",
        encoder=dict(type="GradualStyleEncoder", input_size=64, head_channels=16,
                     backbone=dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))),
        generator=dict(type="StyleGAN2Generator", resolution=32, w_dim=32, n_mlp=2, channel_max=16,
                       channel_multiplier=1),
        pooled_size=64,
        losses=dict(l2=dict(type="L2Loss", loss_weight=1.0)),
        latent_avg_samples=64,
        **extra,
    )
    torch.manual_seed(0)
    return build(MODELS, cfg)


def test_psp_pools_to_its_pooled_size_and_trains():
    model = _small_psp().train()
    source, target = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    terms = model.loss(source, dict(target=target))
    terms["loss_l2"].backward()
    assert model.last_visuals["output"].shape == (2, 3, 64, 64)
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert model.decode(model.encode(source), resize=True).shape == (2, 3, 64, 64)
    assert model.decode(model.encode(source)).shape == (2, 3, 32, 32)


def test_narrow_heads_and_the_official_default():
    backbone = dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))
    narrow = GradualStyleEncoder(backbone, num_ws=8, w_dim=32, input_size=64, head_channels=8)
    official = GradualStyleEncoder(backbone, num_ws=8, w_dim=32, input_size=64)
    assert narrow(torch.randn(2, 3, 64, 64)).shape == official(torch.randn(2, 3, 64, 64)).shape == (2, 8, 32)
    assert narrow.styles[0].convs[0].weight.shape == (8, 16, 3, 3)
    assert narrow.styles[0].linear.weight.shape == (32, 8)
    # the default keeps pSp's layout: w_dim-wide convs and a square linear
    assert official.styles[0].convs[0].weight.shape == (32, 16, 3, 3)
    assert official.styles[0].linear.weight.shape == (32, 32)


def test_cpu_modulation_is_batched_when_training_and_per_sample_in_inference():
    conv = ModulatedConv2d(4, 4, 3, style_dim=4)
    x = torch.randn(3, 4, 8, 8)
    assert conv._batched(x)  # grad enabled: batched activations (cheaper backward)
    with torch.no_grad():
        assert not conv._batched(x)
    with torch.inference_mode():
        assert not conv._batched(x)
    assert not conv._batched(x[:1])
