"""StyleGAN2GAN: train steps (lazy R1, style mixing, EMA), the shipped configs, and a tiny
``p2s train`` run on rendered faces whose checkpoint exports to a strict-loading generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from typer.testing import CliRunner

from p2s.generators import StyleGAN2Generator
from p2s.models.stylegan2_gan import GANOptimWrapperConstructor, StyleGAN2GAN, lazy_regularization_ratio
from p2s.registry import MODELS
from p2s.utils.build import build
from p2s.utils.errors import P2SError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "stylegan2").glob("*.py"))
TINY_G = dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
TINY_D = dict(channel_max=16, channel_multiplier=1)
ADAM = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=2e-3, betas=(0.0, 0.99)))


def _tiny_model(**kw) -> StyleGAN2GAN:
    torch.manual_seed(0)
    cfg = dict(type="StyleGAN2GAN", generator=TINY_G, discriminator=TINY_D, r1_gamma=1.0, r1_interval=2,
               ema_kimg=0.01, num_samples=4)
    return build(MODELS, {**cfg, **kw})


def _optim(model):
    return GANOptimWrapperConstructor(dict(generator=ADAM, discriminator=ADAM))(model)


def test_train_steps_r1_interval_and_exact_ema():
    model = _tiny_model()
    optim = _optim(model)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    ema = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    beta = 0.5 ** (4 / 10)  # half-life 10 images, batch 4
    logs = []
    for _ in range(3):
        logs.append(model.train_step(dict(inputs=real), optim))
        ema = [beta * e + (1 - beta) * p.detach() for e, p in zip(ema, model.generator.parameters())]
    for log in logs:
        assert all(torch.isfinite(v).all() for v in log.values())
        assert log["ema_beta"].item() == pytest.approx(beta)
    assert ["loss_r1" in log for log in logs] == [True, False, True]  # lazy R1 at d steps 0 and 2
    assert int(model.d_steps) == 3 and int(model.images_seen) == 12
    for got, want in zip(model.g_ema.parameters(), ema):
        torch.testing.assert_close(got, want)
    g_params = dict(model.generator.named_parameters())
    moved = [n for n, p in model.g_ema.named_parameters() if not torch.equal(p, g_params[n])]
    assert moved, "g_ema should lag behind the generator"
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    assert all(p.requires_grad for p in model.discriminator.parameters())
    assert not any(p.requires_grad for p in model.g_ema.parameters())
    assert model.last_visuals["output"].shape == (4, 3, 16, 16)


def test_style_mixing_and_ema_rampup():
    model = _tiny_model(mixing_prob=1.0, ema_rampup=0.5)
    ws = model.sample_ws(3)
    assert ws.shape == (3, model.generator.num_ws, 8)
    rows = [i for i in range(1, ws.shape[1]) if not torch.equal(ws[:, i], ws[:, i - 1])]
    assert len(rows) == 1  # exactly one crossover row
    assert model.sample_ws(3, mixing=False).shape == (3, 8)
    assert _tiny_model(mixing_prob=0.0).sample_ws(3).shape == (3, 8)
    model.images_seen.fill_(4)  # half-life capped at 0.5 x 4 images
    assert model.ema_beta(4) == pytest.approx(0.5 ** (4 / 2))
    assert lazy_regularization_ratio(16) == pytest.approx(16 / 17)


def test_validation_samples_and_forward():
    model = _tiny_model()
    real = torch.rand(2, 3, 16, 16) * 2 - 1
    (out,) = model.val_step(dict(inputs=real))
    assert set(out["losses"]) == {"score_real", "score_fake", "colour_gap"} and out["batch_size"] == 2
    assert sorted(out["losses"]) == sorted(StyleGAN2GAN.val_terms({}))  # what the save_best check reads
    first = model.last_visuals["output"]
    model.val_step(dict(inputs=real))
    torch.testing.assert_close(model.last_visuals["output"], first)  # fixed latents, const noise
    assert model(torch.randn(5, 8)).shape == (5, 3, 16, 16)
    assert set(model(real, mode="predict")) == {"images", "latents"}
    with pytest.raises(P2SError, match="train_step"):
        model(real, mode="loss")


def test_configuration_errors():
    model = _tiny_model()
    with pytest.raises(P2SError, match="'generator' and 'discriminator'"):
        model.train_step(dict(inputs=torch.zeros(2, 3, 16, 16)), optim_wrapper=object())
    with pytest.raises(P2SError, match="no sub-module 'critic'"):
        GANOptimWrapperConstructor(dict(generator=ADAM, critic=ADAM))(model)
    with pytest.raises(P2SError, match="resolution 32 differs"):
        _tiny_model(discriminator=dict(TINY_D, resolution=32))
    with pytest.raises(P2SError, match="mixing_prob"):
        _tiny_model(mixing_prob=1.5)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs(config):
    cfg = Config.fromfile(str(config))
    size = int(re.match(r"synthfaces_(\d+)", config.stem).group(1))
    g, d = cfg.model.generator, cfg.model.discriminator
    assert g.resolution == d.resolution == size == cfg.train_dataloader.dataset.size == cfg.val_dataloader.dataset.size
    assert g.channel_max < 512  # reduced width
    assert cfg.optim_wrapper.constructor == "GANOptimWrapperConstructor"
    ratio = cfg.model.r1_interval / (cfg.model.r1_interval + 1)
    assert cfg.optim_wrapper.generator.optimizer.lr == 0.002
    assert cfg.optim_wrapper.discriminator.optimizer.lr == pytest.approx(0.002 * ratio)
    assert cfg.optim_wrapper.discriminator.optimizer.betas[1] == pytest.approx(0.99**ratio)
    assert cfg.model.mixing_prob == 0.9 and cfg.default_hooks.checkpoint.save_best is None
    with torch.device("meta"):
        model = build(MODELS, cfg.model.to_dict())
    assert model.generator.num_ws == 2 * size.bit_length() - 4


def _write_tiny_config(base: Path, faces: Path, out: Path, max_iters: int) -> Path:
    loader = dict(batch_size=4, num_workers=0, persistent_workers=False, pin_memory=False)
    dataset = dict(root=str(faces / "images"), size=16)
    lines = [
        f"_base_ = [{str(base)!r}]",
        f"model = dict(generator={dict(TINY_G, type='StyleGAN2Generator')!r}, "
        f"discriminator={dict(TINY_D, resolution=16)!r}, r1_interval=2, ema_kimg=0.01, ema_rampup=None, "
        "num_samples=4)",
        f"train_dataloader = {dict(loader, dataset=dataset)!r}",
        f"val_dataloader = {dict(loader, dataset=dict(dataset, max_samples=4))!r}",
        f"train_cfg = dict(max_iters={max_iters}, val_interval=2)",
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))",
        "custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='RNGStateHook'),"
        " dict(type='ImageGridHook', interval=2)]",
        "randomness = dict(seed=0)",
    ]
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def rendered_faces(tmp_path_factory) -> Path:
    from p2s.synthfaces import generate

    out = tmp_path_factory.mktemp("gan_faces")
    generate(out, 8, size=32, seed=0, workers=1)
    return out


def _scalars(work: Path) -> list[dict]:
    files = sorted(work.glob("*/vis_data/scalars.json"))
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


@pytest.fixture(scope="module")
def four_iterations(rendered_faces, tmp_path_factory) -> tuple[Path, Path]:
    """(config, work dir) of one tiny 4-iteration ``p2s train`` run, which the tests only read."""
    from p2s.cli.main import app

    folder = tmp_path_factory.mktemp("gan_train")
    config = _write_tiny_config(ROOT / "configs" / "stylegan2" / "synthfaces_64.py", rendered_faces,
                                folder / "tiny.py", max_iters=4)
    work = folder / "work"
    result = CliRunner().invoke(app, ["train", str(config), "--work-dir", str(work)])
    assert result.exit_code == 0, result.output
    return config, work


def test_p2s_train_tiny_then_export(four_iterations, tmp_path):
    from p2s.synthfaces.export import export_generator

    _, work = four_iterations
    rows = [r for r in _scalars(work) if "loss_d" in r]
    assert len(rows) == 4 and all(abs(r["loss_d"]) < 1e3 and abs(r["loss_g"]) < 1e3 for r in rows)
    assert any("val/score_fake" in r for r in _scalars(work))
    assert list(work.glob("*/grids/iter_*.png")) and list(work.glob("*/grids/val_iter_*.png"))

    checkpoint = torch.load(work / "iter_4.pth", weights_only=True)
    state = checkpoint["state_dict"]
    assert int(state["d_steps"]) == 4 and set(checkpoint["optimizer"]) >= {"generator", "discriminator"}

    out = tmp_path / "g.pt"
    cfg = export_generator(work / "iter_4.pth", out, latent_samples=500)
    assert cfg == {k: v for k, v in TINY_G.items() if k != "type"} | {"lr_mlp": 0.01}
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {"g_ema", "latent_avg", "p2s_generator"} and saved["latent_avg"].shape == (8,)
    generator = StyleGAN2Generator(**saved["p2s_generator"], weights=out)  # strict
    for key, value in generator.state_dict().items():
        torch.testing.assert_close(value, state[f"g_ema.{key}"], rtol=0, atol=0)
    assert any(not torch.equal(state[f"g_ema.{k}"], state[f"generator.{k}"])
               for k, _ in generator.named_parameters())
    torch.testing.assert_close(generator.file_latent_avg, generator.mean_latent(500))


def test_resume_continues_exactly(rendered_faces, four_iterations, tmp_path):
    from p2s.cli.main import app

    straight, work = four_iterations  # 4 iterations straight through
    first = _write_tiny_config(ROOT / "configs" / "stylegan2" / "synthfaces_64.py", rendered_faces,
                               tmp_path / "first.py", max_iters=2)
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(first), "--work-dir", str(tmp_path / "b")]).exit_code == 0
    result = runner.invoke(app, ["train", str(straight), "--work-dir", str(tmp_path / "b"), "--resume"])
    assert result.exit_code == 0, result.output
    want = torch.load(work / "iter_4.pth", weights_only=True)["state_dict"]
    got = torch.load(tmp_path / "b" / "iter_4.pth", weights_only=True)["state_dict"]
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)


def test_amp_trains_both_networks_under_bf16_autocast(rendered_faces, tmp_path, monkeypatch):
    """``--amp`` on the GAN config: its constructor's two wrappers both autocast (the
    discriminator's steps, R1 included, and the generator's), and the run trains."""
    from p2s.cli.main import app
    from p2s.engine.amp import BF16AutocastOptimWrapper
    import p2s.utils.precision as precision_module

    monkeypatch.setattr(precision_module, "cpu_has_bf16_kernels", lambda: True)
    entered = []
    real = BF16AutocastOptimWrapper.optim_context

    def spy(self, model):
        entered.append(type(model).__name__)
        return real(self, model)

    monkeypatch.setattr(BF16AutocastOptimWrapper, "optim_context", spy)
    config = _write_tiny_config(ROOT / "configs" / "stylegan2" / "synthfaces_64.py", rendered_faces,
                                tmp_path / "tiny.py", max_iters=2)
    work = tmp_path / "work"
    result = CliRunner().invoke(app, ["train", str(config), "--work-dir", str(work), "--amp"])
    assert result.exit_code == 0, result.output
    assert {"StyleGAN2Generator", "StyleGAN2Discriminator"} <= set(entered), entered
    rows = [r for r in _scalars(work) if "loss_d" in r]
    assert len(rows) == 2 and all(abs(r["loss_d"]) < 1e3 and abs(r["loss_g"]) < 1e3 for r in rows)
    optimizer = torch.load(work / "iter_2.pth", weights_only=True)["optimizer"]
    assert set(optimizer) >= {"generator", "discriminator"}


def test_batches_reach_the_device_by_asynchronous_copies():
    # a blocking copy would wait for the GPU's queue every iteration (pinned memory: it need not)
    assert _tiny_model().data_preprocessor._non_blocking is True
    blocking = _tiny_model(data_preprocessor=dict(type="BaseDataPreprocessor"))
    assert blocking.data_preprocessor._non_blocking is False  # a config's own choice stands


def test_the_device_side_mixing_draw_has_the_host_draws_law():
    """Off the CPU the style-mixing draw is never read on the host: rows below a cut in
    1..num_ws-1 come from the first z, the rest from the second, and with probability
    1 - mixing_prob the cut is num_ws (no mixing)."""
    model = _tiny_model(mixing_prob=0.5)
    g = model.generator
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(2, 3, g.w_dim, generator=rng)
    w1, w2 = g.mapping(z[0]), g.mapping(z[1])
    cuts = []
    for _ in range(200):
        ws = model._mixed_on_device(g, z, rng)
        assert ws.shape == (3, g.num_ws, g.w_dim)
        first = [torch.equal(ws[:, i], w1) for i in range(g.num_ws)]
        cut = first.index(False) if False in first else g.num_ws
        assert all(first[:cut]) and all(torch.equal(ws[:, i], w2) for i in range(cut, g.num_ws))
        cuts.append(cut)
    assert set(cuts) == set(range(1, g.num_ws + 1))
    assert 0.4 < cuts.count(g.num_ws) / len(cuts) < 0.6


def test_step_counters_stay_on_the_cpu_when_the_model_moves():
    # the R1 rhythm and the EMA ramp read them every iteration: on a GPU that would be a sync
    model = _tiny_model().to("meta")  # a device other than the CPU, here
    assert next(model.generator.parameters()).is_meta
    assert model.d_steps.device.type == model.images_seen.device.type == "cpu"
    assert set(model.state_dict()) >= {"d_steps", "images_seen"}  # still saved and resumed
