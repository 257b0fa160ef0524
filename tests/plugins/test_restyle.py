"""The ReStyle plugin: iterative residual encoding, training, checkpoints, Translator."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import p2s_plugins.restyle  # noqa: F401  (registers ReStylePSP, as custom_imports would)
from p2s.utils.errors import P2SError
from p2s_plugins.restyle import ReStylePSP

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "plugins" / "restyle" / "configs" / "psp_irse50_restyle_inversion_ffhq-1024.py"


def _helpers():
    """``tests/helpers_tiny.py`` under the name the other test folders use."""
    name = "p2s_tests_helpers_tiny"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "helpers_tiny.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def restyle_cfg(iterations: int = 1, **extra) -> dict:
    cfg = _helpers().tiny_model_cfg(in_channels=6)
    cfg.update(type="ReStylePSP", iterations=iterations, **extra)
    return cfg


def build_restyle(iterations: int = 1, seed: int = 0, **extra) -> ReStylePSP:
    from p2s.registry import MODELS
    from p2s.utils.build import build

    torch.manual_seed(seed)
    model = build(MODELS, restyle_cfg(iterations, **extra))
    with torch.no_grad():
        model.latent_avg.normal_()
    return model.eval()


def sources(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_one_iteration_is_avg_plus_residual():
    model = build_restyle(iterations=1)
    x = sources()
    with torch.no_grad():
        avg = model.decoder.synthesis(model.latent_avg.unsqueeze(0), noise_mode="const")
        avg = F.adaptive_avg_pool2d(avg, x.shape[-2:]).expand(len(x), -1, -1, -1)
        expected = model.latent_avg + model.encoder.net(torch.cat([x, avg], dim=1))
        codes = model.encode(x)
    assert codes.shape == (2, 6, 8)
    torch.testing.assert_close(codes, expected, rtol=0, atol=0)


def test_more_iterations_run_the_encoder_each_step():
    model = build_restyle(iterations=3)
    calls = []
    handle = model.encoder.net.register_forward_hook(lambda *args: calls.append(args[1][0].shape))
    x = sources()
    with torch.no_grad():
        three = model.encode(x)
        assert calls == [torch.Size([2, 6, 64, 64])] * 3
        model.set_iterations(1)
        one = model.encode(x)
    handle.remove()
    assert len(calls) == 4
    assert not torch.allclose(one, three)
    with torch.no_grad():  # the explicit argument overrides the attribute
        torch.testing.assert_close(model.encode(x, iterations=3), three, rtol=0, atol=0)


def test_iterations_are_validated():
    model = build_restyle()
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(P2SError, match="positive integer"):
            model.iterations = bad
    model.iterations = 4
    assert model.iterations == 4 and model.train_iterations == 1
    with pytest.raises(P2SError, match="train_iterations"):
        build_restyle(train_iterations=0)


def test_the_encoder_must_pair_rgb_images():
    from p2s.registry import MODELS
    from p2s.utils.build import build

    cfg = restyle_cfg()
    cfg["encoder"]["backbone"]["in_channels"] = 3
    with pytest.raises(P2SError, match="takes 6 channels.*in_channels=6"):
        build(MODELS, cfg)
    with pytest.raises(P2SError, match="RGB sources"):
        build_restyle().encode(torch.zeros(1, 1, 64, 64))
    with pytest.raises(P2SError, match="start_from_latent_avg"):
        build(MODELS, restyle_cfg(start_from_latent_avg=False))


def test_state_dict_keeps_plain_encoder_keys():
    model = build_restyle(seed=1)
    state = model.state_dict()
    assert "encoder.input_layer.0.weight" in state and state["encoder.input_layer.0.weight"].shape[1] == 6
    assert not any(k.startswith("encoder.net.") for k in state)
    clone = build_restyle(seed=2)
    clone.load_state_dict(state)
    x = sources()
    with torch.no_grad():
        torch.testing.assert_close(clone.encode(x), model.encode(x), rtol=0, atol=1e-6)


def test_training_steps_lower_the_loss():
    from mmengine.optim import OptimWrapper

    losses = dict(l2=dict(type="L2Loss", loss_weight=1.0), w=dict(type="WNormLoss", loss_weight=0.005))
    model = build_restyle(iterations=1, train_iterations=2, losses=losses, train_noise_mode="const")
    model.train()
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=2e-3))
    data = dict(inputs=sources(2, 32, seed=4), data_samples=dict(target=sources(2, 256, seed=5)))
    calls = []
    handle = model.encoder.net.register_forward_hook(lambda *args: calls.append(1))
    history = [float(model.train_step(data, wrapper)["loss"].detach()) for _ in range(6)]
    handle.remove()
    assert len(calls) == 6 * 2, "one encoder call per refinement step"
    assert history[-1] < history[0], history
    assert not any(p.requires_grad for p in model.decoder.parameters())
    assert set(model.last_visuals) == {"source", "output", "target"}


def test_pooled_size_sets_the_loss_resolution():
    """A 64-px domain (as the synthfaces configs): outputs pooled to pooled_size, not 256."""
    model = build_restyle(iterations=1, train_iterations=2, losses=dict(l2=dict(type="L2Loss")),
                          train_noise_mode="const", pooled_size=8)
    assert model.pooled_size == 8
    terms = model.loss(sources(2, 8, seed=1), dict(target=sources(2, 8, seed=2)))
    assert terms["loss_l2"].ndim == 0 and model.last_visuals["output"].shape[-1] == 8


def test_loss_sums_every_step():
    """With detached inputs per step, the summed loss equals the per-step losses added up."""
    model = build_restyle(iterations=1, train_iterations=3, losses=dict(l2=dict(type="L2Loss")),
                          train_noise_mode="const")
    x, target = sources(1, 32, seed=6), sources(1, 256, seed=7)
    with torch.no_grad():
        total = model.loss(x, dict(target=target))["loss_l2"]
        codes = model.latent_avg.unsqueeze(0)
        steps = []
        image = F.adaptive_avg_pool2d(model.decode(codes), (32, 32))
        for _ in range(3):
            codes = codes + model.encoder.net(torch.cat([x, image], 1))
            out = model.face_pool(model.decode(codes))
            steps.append(F.mse_loss(out, target))
            image = F.adaptive_avg_pool2d(out, (32, 32))
    torch.testing.assert_close(total, sum(steps))


def test_checkpoint_round_trip_and_translator(tmp_path):
    from PIL import Image

    from p2s.apis.checkpoint import save_translation_checkpoint
    from p2s.apis.translator import Translator

    tiny = _helpers()
    model = build_restyle(iterations=2, seed=3)
    path = tmp_path / "restyle.pt"
    save_translation_checkpoint(path, model, restyle_cfg(iterations=2), dict(type="Inversion"))
    translator = Translator.from_checkpoint(path, device="cpu")
    assert isinstance(translator.model, ReStylePSP) and translator.model.iterations == 2
    image = Image.fromarray(tiny.rgb_array(0, (40, 40)))
    out = translator.translate_images([image])[0]
    assert out.size == (16, 16)
    source = translator.prepare([image])
    with torch.no_grad():
        expected = model.decode(model.encode(source))
    # a rebuilt model under inference_mode: same maths, kernels may round differently
    torch.testing.assert_close(translator.translate(source).images, expected, rtol=0, atol=1e-5)
    translator.model.iterations = 1
    assert not torch.allclose(translator.translate(source).images, expected, atol=1e-3)


def test_plugin_config_registers_only_through_custom_imports():
    """Core never imports the plugin; its config's custom_imports does (fresh process)."""
    script = (
        "import sys; from mmengine.config import Config; from p2s.registry import MODELS\n"
        "MODELS.import_from_location()\n"
        "assert 'ReStylePSP' not in MODELS.module_dict and 'p2s_plugins.restyle' not in sys.modules\n"
        f"cfg = Config.fromfile({str(CONFIG)!r})\n"
        "assert 'ReStylePSP' in MODELS.module_dict\n"
        "assert cfg.model.type == 'ReStylePSP' and cfg.model.encoder.backbone.in_channels == 6\n"
        "assert cfg.model.iterations == 5 and cfg.model.encoder.type == 'GradualStyleEncoder'\n"
        "assert cfg.task.type == 'Inversion' and 'id' in cfg.model.losses\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_checkpoint_imports_its_plugin_in_a_fresh_process(tmp_path):
    """The checkpoint names its plugin module, so `p2s translate --iterations` works in a
    process that never imported the plugin."""
    from p2s.apis.checkpoint import save_translation_checkpoint

    tiny = _helpers()
    path = tmp_path / "restyle.pt"
    save_translation_checkpoint(path, build_restyle(iterations=2, seed=3), restyle_cfg(iterations=2),
                                dict(type="Inversion"))
    assert torch.load(path, weights_only=True)["p2s"]["custom_imports"] == ["p2s_plugins.restyle.model"]
    inputs = tmp_path / "in"
    tiny.write_rgb_folder(inputs)
    script = (
        "import sys; from typer.testing import CliRunner; from p2s.cli.main import app\n"
        "assert 'p2s_plugins.restyle' not in sys.modules\n"
        f"r = CliRunner().invoke(app, ['translate', '--checkpoint', {str(path)!r}, '--input', {str(inputs)!r},"
        f" '--output', {str(tmp_path / 'out')!r}, '--iterations', '3', '--device', 'cpu'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr + done.stdout
    assert len(list((tmp_path / "out").glob("*.png"))) == len(list(inputs.iterdir()))


def test_iterations_flag_needs_an_iterative_checkpoint(tmp_path):
    from typer.testing import CliRunner

    from p2s.cli.main import app

    tiny = _helpers()
    path = tiny.write_tiny_checkpoint(tmp_path / "plain.pt", dict(type="Inversion"))
    tiny.write_rgb_folder(tmp_path / "in")
    result = CliRunner().invoke(app, ["translate", "--checkpoint", str(path), "--input", str(tmp_path / "in"),
                                      "--output", str(tmp_path / "out"), "--iterations", "2"])
    assert result.exit_code == 2 and "--iterations applies to iterative (ReStyle)" in result.output
