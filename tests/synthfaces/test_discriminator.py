"""StyleGAN2Discriminator: rosinality layout, shapes, minibatch stddev, strict loading."""

from __future__ import annotations

import pytest
import torch

from p2s.generators import StyleGAN2Discriminator
from p2s.generators.discriminator import minibatch_stddev
from p2s.registry import MODELS
from p2s.testing.official_layout import read_manifest
from p2s.testing.shared import shared_dir_for_tests
from p2s.utils.build import build
from p2s.utils.errors import CheckpointMismatchError

TINY = dict(resolution=32, channel_multiplier=1, channel_max=16)


def test_config_f_1024_layout_matches_the_manifest():
    rows = read_manifest(shared_dir_for_tests("formats", "stylegan2_d_1024_config-f.tsv"))
    with torch.device("meta"):
        disc = StyleGAN2Discriminator(1024, channel_multiplier=2)
    got = [(key, tuple(value.shape)) for key, value in disc.state_dict().items()]
    assert got == [(row.key, row.shape) for row in rows]
    assert sum(p.numel() for p in disc.parameters()) == 29_012_513
    kernels = [key for key, _ in got if key.endswith(".kernel")]
    assert len(kernels) == 16 and all(row.kind == "buffer:fir-kernel" for row in rows if row.key in kernels)


@pytest.mark.parametrize("batch", [1, 3, 4, 6])
def test_forward_shape_and_gradients(batch):
    disc = build(MODELS, dict(type="StyleGAN2Discriminator", **TINY))
    images = torch.randn(batch, 3, 32, 32, requires_grad=True)
    logits = disc(images)
    assert logits.shape == (batch, 1) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert images.grad is not None and all(p.grad is not None for p in disc.parameters())
    with pytest.raises(ValueError, match=r"expected shape \[\*, 3, 32, 32\]"):
        disc(torch.randn(2, 3, 16, 16))


def test_minibatch_stddev_groups():
    x = torch.randn(8, 4, 2, 2)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 5, 2, 2)
    # group g holds samples g, g + 2, g + 4, g + 6 (N / G = 2 groups)
    want = x[0::2].var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    torch.testing.assert_close(out[0, 4], want.expand(2, 2))
    torch.testing.assert_close(out[6, 4], want.expand(2, 2))


def test_downsampling_blur_and_resblock_shapes():
    disc = StyleGAN2Discriminator(**TINY)
    torch.testing.assert_close(disc.convs[1].conv2[0].kernel.sum(), torch.tensor(1.0))
    x = torch.randn(2, 16, 32, 32)
    assert disc.convs[1](x).shape == (2, 16, 16, 16)


def test_strict_loading(tmp_path):
    disc = StyleGAN2Discriminator(**TINY)
    state = {k: v for k, v in disc.state_dict().items() if not k.endswith(".kernel")}  # kernels may be absent
    torch.save({"d": state}, tmp_path / "d.pt")
    clone = StyleGAN2Discriminator(**TINY, weights=tmp_path / "d.pt")
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(clone(x), disc(x))
    state.pop("final_linear.1.bias")
    torch.save({"d": state}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError, match="final_linear.1.bias"):
        StyleGAN2Discriminator(**TINY, weights=tmp_path / "bad.pt")
