"""PSP model: latent_avg handling, encode/decode contract, style mixing."""

from __future__ import annotations

import pytest
import torch

from p2s.generators import StyleGAN2Generator
from p2s.models import PSP, expand_latent_avg
from p2s.registry import MODELS
from p2s.utils.build import build
from p2s.utils.errors import P2SError

GEN = dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
BACKBONE = dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))


def tiny(encoder="GradualStyleEncoder", **kw):
    return build(MODELS, dict(type="PSP", encoder=dict(type=encoder, backbone=BACKBONE), generator=GEN, **kw)).eval()


@pytest.mark.parametrize("encoder", ["GradualStyleEncoder", "WEncoder", "WPlusEncoder"])
def test_encode_adds_latent_avg_and_decodes(encoder):
    model = tiny(encoder)
    model.latent_avg.normal_()
    x = torch.randn(3, 3, 64, 64)
    raw = model.encoder(x)
    codes = model.encode(x)
    assert codes.shape == (3, 6, 8)
    if encoder == "WEncoder":
        assert raw.shape == (3, 8) and model.learn_in_w
        torch.testing.assert_close(codes, raw[:, None, :] + model.latent_avg)
    else:
        assert raw.shape == (3, 6, 8)
        torch.testing.assert_close(codes, raw + model.latent_avg)
    assert model.decode(codes).shape == (3, 3, 16, 16)
    assert model.decode(codes, resize=True).shape == (3, 3, 256, 256)


def test_an_input_larger_than_the_gradual_encoders_input_size_is_refused():
    """Its heads would flatten 2x2 maps: 3 images of twice the side gave 12 codes."""
    model = build(MODELS, dict(type="PSP", generator=GEN,
                               encoder=dict(type="GradualStyleEncoder", backbone=BACKBONE, input_size=64))).eval()
    assert model.encode(torch.randn(3, 3, 64, 64)).shape == (3, 6, 8)
    with pytest.raises(ValueError, match=r"takes input of at most 64x64 \(its input_size\), got \[3, 3, 128, 128\]"):
        model.encode(torch.randn(3, 3, 128, 128))


def test_without_latent_avg_codes_are_raw():
    model = tiny(start_from_latent_avg=False)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(model.encode(x), model.encoder(x))


def test_expand_latent_avg_shapes():
    rows = torch.randn(6, 8)
    assert torch.equal(expand_latent_avg(rows, 6, 8), rows)
    one = torch.randn(1, 8)
    assert torch.equal(expand_latent_avg(one, 6, 8), one.expand(6, 8))
    assert torch.equal(expand_latent_avg(one[0], 6, 8), one.expand(6, 8))
    with pytest.raises(P2SError, match=r"\[6, 8\]"):
        expand_latent_avg(torch.randn(5, 8), 6, 8)


def test_latent_avg_from_generator_file_or_estimated(tmp_path):
    gen = StyleGAN2Generator(**{k: v for k, v in GEN.items() if k != "type"})
    stored = torch.randn(8)
    torch.save({"g_ema": gen.state_dict(), "latent_avg": stored}, tmp_path / "with.pt")
    torch.save({"g_ema": gen.state_dict()}, tmp_path / "without.pt")

    with_file = build(MODELS, dict(
        type="PSP", encoder=dict(type="GradualStyleEncoder", backbone=BACKBONE),
        generator={**GEN, "weights": str(tmp_path / "with.pt")}))
    assert torch.equal(with_file.latent_avg, stored.expand(6, 8))

    estimated = build(MODELS, dict(
        type="PSP", encoder=dict(type="GradualStyleEncoder", backbone=BACKBONE),
        generator={**GEN, "weights": str(tmp_path / "without.pt")}, latent_avg_samples=2000))
    expect = estimated.decoder.mean_latent(2000)
    torch.testing.assert_close(estimated.latent_avg, expect.expand(6, 8))
    assert estimated.latent_avg.abs().sum() > 0


def test_mix_codes_replace_and_blend():
    codes = torch.randn(2, 6, 8)
    inject = torch.randn(2, 6, 8)
    mixed = PSP.mix_codes(codes, inject, [3, 4, 5])
    assert torch.equal(mixed[:, :3], codes[:, :3]) and torch.equal(mixed[:, 3:], inject[:, 3:])
    half = PSP.mix_codes(codes, inject, [5], alpha=0.25)
    torch.testing.assert_close(half[:, 5], 0.25 * inject[:, 5] + 0.75 * codes[:, 5])
    w_only = PSP.mix_codes(codes, inject[:, 0], [0])
    assert torch.equal(w_only[:, 0], inject[:, 0])
    with pytest.raises(P2SError, match="outside 0..5"):
        PSP.mix_codes(codes, inject, [6])


def test_style_mix_keeps_unmixed_rows():
    model = tiny()
    x = torch.randn(1, 3, 64, 64)
    inject = torch.randn(1, 6, 8)
    base = model.decode(model.encode(x))
    same = model.style_mix(x, inject, [2], alpha=0.0)
    torch.testing.assert_close(same, base)
    other = model.style_mix(x, inject, [2, 3, 4, 5])
    assert not torch.allclose(other, base)


def test_mismatched_encoder_is_refused():
    with pytest.raises(P2SError, match="generator takes"):
        build(MODELS, dict(type="PSP", encoder=dict(type="GradualStyleEncoder", backbone=BACKBONE, num_ws=5), generator=GEN))


def test_val_step_returns_the_terms_val_terms_declares():
    """``p2s train`` checks ``save_best`` against ``val_terms`` before training starts."""
    losses = dict(l2=dict(type="L2Loss"), reg=dict(type="WNormLoss", loss_weight=0.1, loss_name="loss_reg"))
    model = tiny(losses=losses, pooled_size=16)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    (out,) = model.val_step(dict(inputs=images, data_samples=dict(target=images)))
    assert sorted(out["losses"]) == sorted(PSP.val_terms(dict(losses=losses))) == ["loss", "loss_l2", "loss_reg"]
    assert PSP.val_terms(dict(losses=dict(l2=dict(type="L2Loss"), odd=dict(type=object)))) is None


def test_batches_reach_the_device_by_asynchronous_copies():
    # a blocking copy would wait for the GPU's queue every iteration (pinned memory: it need not)
    assert tiny().data_preprocessor._non_blocking is True
    assert tiny(data_preprocessor=dict(type="BaseDataPreprocessor")).data_preprocessor._non_blocking is False
    batch = dict(inputs=torch.randn(2, 3, 8, 8), data_samples=dict(target=torch.randn(2, 3, 8, 8)))
    moved = tiny().data_preprocessor(batch, True)  # on the CPU the batch is the same values
    torch.testing.assert_close(moved["data_samples"]["target"], batch["data_samples"]["target"])
