"""``p2s train`` end to end on tiny versions of every shipped config (CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from typer.testing import CliRunner

from p2s.cli.main import app
from p2s.utils.errors import P2SError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "psp").glob("*.py")) + sorted((ROOT / "plugins").glob("*/configs/*.py"))

#: the paper's loss weights (Appendix A) each shipped config must use
PAPER_WEIGHTS = {
    "inversion": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 0.1},
    # the official README's Toonify section: inversion with id 0.1 -> 1 and w-norm 0.025
    "toonify": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 1.0, "loss_w_norm": 0.025},
    "inpainting": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 0.1},
    "colorization": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 0.1},
    "restyle": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 0.1},
    # the official README's command adds --w_norm_lambda=0.005 (the released file's opts too)
    "superres": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_id": 0.1, "loss_w_norm": 0.005},
    "frontalization": {"loss_id": 1.0, "loss_l2": 0.001, "loss_l2_crop": 0.01, "loss_lpips": 0.08,
                       "loss_lpips_crop": 0.8, "loss_w_norm": 0.005},
    "sketch2face": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_w_norm": 0.005},
    "seg2face": {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_w_norm": 0.005},
}


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _task_of(config: Path) -> str:
    """``psp_resnet34_inversion-moco_afhqcat-512`` -> ``inversion`` (a variant after the dash)."""
    return config.stem.split("_")[2].split("-")[0]


def test_every_config_is_covered():
    names = {_task_of(p) for p in CONFIGS}
    assert names <= set(PAPER_WEIGHTS), names - set(PAPER_WEIGHTS)
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_uses_paper_weights(config):
    cfg = Config.fromfile(str(config))
    weights = {}
    for loss in cfg.model.losses.values():
        name = loss.get("loss_name", {"L2Loss": "loss_l2", "LPIPSLoss": "loss_lpips", "IDLoss": "loss_id",
                                      "WNormLoss": "loss_w_norm", "MoCoLoss": "loss_moco"}[loss["type"]])
        weights[name] = loss["loss_weight"]
    task = _task_of(config)
    if "afhq" in config.stem:  # non-face domains: no ID loss (paper); MoCo 0.5 (pSp/ReStyle READMEs)
        moco = {"loss_moco": 0.5} if "-moco" in config.stem else {}
        assert weights == {"loss_l2": 1.0, "loss_lpips": 0.8, "loss_w_norm": 0.005, **moco}
    else:
        assert weights == PAPER_WEIGHTS[task]
    assert cfg.task == cfg.train_dataloader.dataset.task == cfg.val_dataloader.dataset.task


def test_toonify_trains_for_the_official_6000_iterations():
    """The official README (Toonify): best results after about 6000 iterations (--max_steps),
    not the inversion schedule's 500,000."""
    cfg = Config.fromfile(str(ROOT / "configs" / "psp" / "psp_irse50_toonify_ffhq-1024.py"))
    assert cfg.train_cfg.max_iters == 6000


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_tiny_training_lowers_loss_and_translates(config, tiny_configs, train_data, tmp_path):
    tiny = tiny_configs.write_tiny_config(config, train_data, tmp_path / "tiny.py", max_iters=4, interval=4,
                                          optimizer=dict(type="Adam", lr=2e-3))
    work = tmp_path / "work"
    result = _invoke("train", tiny, "--work-dir", work)
    assert result.exit_code == 0, result.output
    rows = tiny_configs.scalars(work)
    losses = [row["loss"] for row in rows if "loss" in row and "val/loss" not in row]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    assert [row["step"] for row in rows if "val/loss" in row] == [4]  # at its iteration, not epoch 0
    assert list(work.glob("*/grids/*.png")), "no image grid written"

    checkpoint = work / "iter_4.pth"
    torch.load(checkpoint, weights_only=True)  # safe to load
    cfg = Config.fromfile(str(tiny))
    source = {"PairedImageDataset": train_data.get("sketches" if cfg.task.type == "Sketch2Face" else "labels")}
    inputs = source.get(cfg.train_dataloader.dataset.type, train_data["faces"])
    out = tmp_path / "translated"
    result = _invoke("translate", "--checkpoint", checkpoint, "--input", inputs, "--output", out,
                     "--mix", "2", "--mix-layers", "3-5")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("s0*.png")) == ["s0.png", "s0_mix0.png", "s0_mix1.png"]


@pytest.mark.parametrize("config", ["configs/psp/psp_irse50_inversion_ffhq-1024.py",
                                    "plugins/restyle/configs/psp_irse50_restyle_inversion_ffhq-1024.py"],
                         ids=["psp", "restyle"])
def test_compile_trains_the_compiled_loss(config, tiny_configs, train_data, tmp_path, monkeypatch):
    """``p2s train --compile default``: the model's loss goes through torch.compile (forced
    to the ``aot_eager`` backend here: no C++ code generation in CI) and the run trains."""
    from p2s.engine import compiled_loss

    real, calls = compiled_loss.compiled, []

    def spy(fn, mode, backend="inductor", **options):
        calls.append((fn.__name__, mode))
        return real(fn, mode, "aot_eager", **options)

    monkeypatch.setattr(compiled_loss, "compiled", spy)
    tiny = tiny_configs.write_tiny_config(ROOT / config, train_data, tmp_path / "tiny.py", max_iters=4, interval=4,
                                          optimizer=dict(type="Adam", lr=2e-3))
    result = _invoke("train", tiny, "--compile", "default", "--work-dir", tmp_path / "work")
    assert result.exit_code == 0, result.output
    assert calls == [("loss", "default")]
    losses = [row["loss"] for row in tiny_configs.scalars(tmp_path / "work") if "loss" in row and "val/loss" not in row]
    assert len(losses) == 4 and losses[-1] < losses[0], losses
    bad = _invoke("train", tiny, "--compile", "reduce-overhead", "--work-dir", tmp_path / "bad")
    assert bad.exit_code != 0 and "reduce-overhead" in bad.output and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("expected, overrides", [
    ("unknown config key 'train_cfg.max_iter'", ["train_cfg.max_iter=3"]),
    ("target folder '/nonexistent/faces' does not exist", ["train_dataloader.dataset.root=/nonexistent/faces"]),
    ("unknown type 'L3Loss' at model.losses.l2. Did you mean 'L2Loss'", ["model.losses.l2.type=L3Loss"]),
    ("unknown type 'Rangr' at optim_wrapper.optimizer. Did you mean 'Ranger'", ["optim_wrapper.optimizer.type=Rangr"]),
    ("StyleGAN2 weights not found at '/nonexistent/g.pt'", ["model.generator.weights=/nonexistent/g.pt"]),
    ("IR-SE weights not found at '/nonexistent/ir.pth'", ["model.encoder.backbone.weights=/nonexistent/ir.pth"]),
    ("bad config value: model should be a nn.Module object or dict, but got 5", ["model=5"]),
    ("train_cfg.max_iters must be a positive integer, got -5", ["train_cfg.max_iters=-5"]),
    ("train_cfg.val_interval must be a positive integer, got 0", ["train_cfg.val_interval=0"]),
    ("default_hooks.logger.interval must be a positive integer (or -1: never), got 0",
     ["default_hooks.logger.interval=0"]),
    ("dataset max_samples must be a positive integer or None, got 0", ["train_dataloader.dataset.max_samples=0"]),
    ("model.losses must be a dict of loss configs (name -> dict(type=...)), got a list", ["model.losses=[1,2]"]),
    ("L2Loss loss_weight must be a finite number >= 0 (a negative one maximises the loss), got -1",
     ["model.losses.l2.loss_weight=-1"]),
    ("L2Loss loss_weight must be a finite number >= 0 (a negative one maximises the loss), got nan",
     ["model.losses.l2.loss_weight=nan"]),
    ("type at model.losses.l2 must be a registered name, got 5", ["model.losses.l2.type=5"]),
    ("model.start_from_latent_avg must be True or False, got 'maybe'", ["model.start_from_latent_avg=maybe"]),
    ("train_dataloader.dataset: dataset 'ImageFolderDataset' has no option 'tsak'", ["train_dataloader.dataset.tsak=1"]),
    ("task 'inversion' makes 3-channel sources but the encoder takes 1; set model.encoder.backbone.in_channels=3",
     ["model.encoder.backbone.in_channels=1"]),
    ("unknown type 'Denoise' at task. A plugin's types are registered when its module is imported",
     ["task.type=Denoise"]),
    ("error: task: task 'Inversion' has no option 'imge_size' (options: image_size)", ["task.imge_size=64"]),
    ("task.image_size is 128 but model.pooled_size is 256: the losses compare the generator's output pooled to "
     "model.pooled_size with targets at task.image_size; set both to one side (e.g. model.pooled_size=128)",
     ["task.image_size=128"]),
    ("cannot build backbone 'IRSEBackbone': 'float' object is not iterable", ["model.encoder.backbone.units=nan"]),
    ("cannot build generator 'StyleGAN2Generator': StyleGAN2 resolution must be a power of two",
     ["model.generator.resolution=100"]),
])
def test_user_errors_are_one_line(expected, overrides, tiny_configs, train_data, tmp_path):
    lines = _user_error_lines(expected, overrides, tiny_configs, train_data, tmp_path)
    if any(word in expected for word in ("folder", "in_channels=", "pooled_size=", "weights not found")):
        assert len(lines) == 1, lines  # checked before MMEngine's set-up log: the error is all there is


def test_a_missing_moco_file_is_one_line_before_training(tiny_configs, train_data, tmp_path):
    """The MoCo variant of the AFHQ config needs the MoCo-v2 file: without it, one line
    that names the path and both published files, before MMEngine starts."""
    base = ROOT / "configs" / "psp" / "psp_resnet34_inversion-moco_afhqcat-512.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py")
    result = _invoke("train", tiny, "model.losses.moco.weights=/nonexistent/moco_v2_800ep_pretrain.pt",
                     "model.losses.moco.random_init=False", "--work-dir", tmp_path / "runs" / "err")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        "error: MoCo-v2 weights not found at '/nonexistent/moco_v2_800ep_pretrain.pt'. Download "
        "moco_v2_800ep_pretrain.pt (the pSp README's MoCo ResNet-50) or moco_v2_800ep_pretrain.pth.tar "
        "(facebookresearch/moco; the same weights) and pass its path."], lines
    assert not (tmp_path / "runs").exists()


def _user_error_lines(expected, overrides, tiny_configs, train_data, tmp_path) -> list[str]:
    """Train the tiny inversion config with ``overrides``: it must fail with the one
    ``error:`` line holding ``expected`` and leave no folder behind."""
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py")
    result = _invoke("train", tiny, *overrides, "--work-dir", tmp_path / "runs" / "err")
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error:")
    assert not (tmp_path / "runs").exists()  # a failed start leaves no (log) folders behind
    from mmengine.visualization import Visualizer

    assert not Visualizer._instance_dict  # closed before its folder went: no writer thread left to recreate it
    return lines


@pytest.mark.parametrize("expected, overrides", [
    ("default_hooks.checkpoint.save_best='val/los' is not a metric validation logs; use one of val/loss, "
     "val/loss_l2, val/loss_lpips, val/loss_id, 'auto' (the first) or None (no best checkpoint)",
     ["default_hooks.checkpoint.save_best=val/los"]),
    ("optim_wrapper.optimizer.lr must be a finite number >= 0, got 'abc'", ["optim_wrapper.optimizer.lr=abc"]),
    ("optim_wrapper.optimizer.lr must be a finite number >= 0, got nan", ["optim_wrapper.optimizer.lr=nan"]),
    ("optim_wrapper.optimizer.weight_decay must be a finite number >= 0, got -1",
     ["optim_wrapper.optimizer.weight_decay=-1"]),
    ("optim_wrapper.optimizer.betas must be two numbers in [0, 1), e.g. (0.9, 0.999), got (0.9, 1.5)",
     ["optim_wrapper.optimizer.betas=(0.9,1.5)"]),
    ("default_hooks.checkpoint.max_keep_ckpts must be an integer (-1: keep every checkpoint), got 'abc'",
     ["default_hooks.checkpoint.max_keep_ckpts=abc"]),
    ("default_hooks.checkpoint.interval must be a positive integer (or -1: never), got 2.5",
     ["default_hooks.checkpoint.interval=2.5"]),
    ("custom_hooks[2]: ImageGridHook: tile_size must be an integer >= 1 or None, got 'abc'.",
     ["custom_hooks.2.tile_size=abc"]),
    ("custom_hooks[2]: hook 'ImageGridHook' has no option 'tile_sise' (options: interval, max_samples, tile_size,",
     ["custom_hooks.2.tile_sise=64"]),
    ("default_hooks.host_memory: budget_mb must be an integer >= 0 or None, got -1",
     ["default_hooks.host_memory.budget_mb=-1"]),
    ("default_hooks.host_memory: hook 'HostMemoryTrimHook' has no option 'budget' (options: budget_mb",
     ["default_hooks.host_memory.budget=1"]),
    ("train_dataloader.batch_size must be a positive integer, got 0", ["train_dataloader.batch_size=0"]),
    ("val_dataloader.batch_size must be a positive integer, got 'abc'", ["val_dataloader.batch_size=abc"]),
    ("train_dataloader.num_workers must be an integer >= 0 (0: load in the main process), got -1",
     ["train_dataloader.num_workers=-1"]),
    ("save_best='val/loss_lpips' is not a metric validation logs; use one of val/loss, val/loss_l2, "
     "val/loss_perceptual, val/loss_id,", ["default_hooks.checkpoint.save_best=val/loss_lpips",
                                          "model.losses.lpips.loss_name=loss_perceptual"]),
])
def test_config_mistakes_are_the_only_line_printed(expected, overrides, tiny_configs, train_data, tmp_path):
    """Checked before the Runner: not after MMEngine's set-up log, nor mid-run."""
    lines = _user_error_lines(expected, overrides, tiny_configs, train_data, tmp_path)
    assert len(lines) == 1, lines


@pytest.mark.parametrize("save_best", ["val/loss", "val/loss_perceptual", "auto", None, ["val/loss", "val/loss_id"]])
def test_save_best_accepts_every_metric_validation_logs(save_best):
    from p2s.cli.config_checks import check_save_best

    cfg = Config.fromfile(str(ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"))
    cfg.merge_from_dict({"model.losses.lpips.loss_name": "loss_perceptual"})
    cfg.default_hooks.checkpoint.save_best = save_best
    check_save_best(cfg)


def test_save_best_of_a_gan_config_is_checked_against_its_val_terms():
    from p2s.cli.config_checks import check_save_best

    cfg = Config.fromfile(str(ROOT / "configs" / "stylegan2" / "synthfaces_64.py"))
    cfg.default_hooks.checkpoint.save_best = "val/score_fake"
    check_save_best(cfg)
    cfg.default_hooks.checkpoint.save_best = "val/fid"
    with pytest.raises(P2SError, match="'val/fid' is not a metric validation logs; use one of val/score_real, "
                                       "val/score_fake, val/colour_gap,"):
        check_save_best(cfg)


def test_val_terms_are_trusted_only_from_the_class_of_val_step():
    """A subclass that overrides ``val_step`` but not ``val_terms`` is not checked."""
    from p2s.cli.config_checks import declared_val_terms
    from p2s.models import PSP

    class OwnValidation(PSP):
        def val_step(self, data):
            return []

    class OwnBoth(OwnValidation):
        @classmethod
        def val_terms(cls, model_cfg):
            return ["mine"]

    class Inherits(PSP):
        pass

    cfg = dict(losses=dict(l2=dict(type="L2Loss")))
    assert declared_val_terms(OwnValidation, cfg) is None
    assert declared_val_terms(OwnBoth, cfg) == ["mine"]
    assert declared_val_terms(Inherits, cfg) == ["loss", "loss_l2"]
    assert declared_val_terms(None, cfg) is None


def test_a_hook_error_names_the_hook_not_its_address():
    from p2s.cli.train import _clean

    message = "'>' not supported between 'str' and 'int' in <p2s.engine.checkpoint_hooks.AtomicCheckpointHook object at 0x7f43ab>"
    assert _clean(message) == "'>' not supported between 'str' and 'int' (in AtomicCheckpointHook)"


def test_a_failed_start_in_a_used_work_dir_removes_only_its_own_log(tiny_configs, train_data, tmp_path):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1)
    work = tmp_path / "work"
    assert _invoke("train", tiny, "--work-dir", work).exit_code == 0
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    result = _invoke("train", tiny, "model.generator.weights=/nonexistent/g.pt", "--work-dir", work)
    assert result.exit_code == 2, result.output
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_missing_config_file(tmp_path):
    result = _invoke("train", tmp_path / "missing.py")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_config_show_applies_overrides(tmp_path):
    config = ROOT / "configs" / "psp" / "psp_irse50_frontalization_ffhq-1024.py"
    result = _invoke("config", "show", config, "model.generator.weights=/data/g.pt", "train_cfg.max_iters=7")
    assert result.exit_code == 0, result.output
    assert "weights='/data/g.pt'" in result.output and "max_iters=7" in result.output
    assert "loss_weight=0.005" in result.output  # inherited w-norm weight


def test_a_task_override_changes_the_task_the_datasets_train_and_the_checkpoint_records(
        tiny_configs, train_data, tmp_path):
    """``task.*`` used to change only the recorded task: the datasets kept the file's."""
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1, interval=1)
    shown = _invoke("config", "show", tiny, "task.type=Inpainting")
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("type='Inpainting'") == 3 and "type='Inversion'" not in shown.output
    result = _invoke("train", tiny, "task.type=Inpainting", "--work-dir", tmp_path / "w")
    assert result.exit_code == 0, result.output
    ckpt = torch.load(tmp_path / "w" / "iter_1.pth", map_location="cpu", weights_only=True)
    assert ckpt["p2s"]["task"]["type"] == "Inpainting"


def test_overriding_a_variable_of_the_file_is_refused():
    """``image_size=32`` set the variable, while every key read from it kept 64."""
    config = ROOT / "configs" / "synthfaces" / "psp_small_inversion_synthfaces-64.py"
    result = _invoke("config", "show", config, "image_size=32")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: 'image_size' is a variable of the config file, read when the file was loaded: overriding it changes "
        "nothing that used it; override the keys that use it instead (p2s config show lists them)")
    assert _invoke("config", "show", config, "task.image_size=32", "model.pooled_size=32").exit_code == 0


@pytest.mark.parametrize("override, expected", [
    ("model.encoder.foo=1", "error: model.encoder: encoder 'GradualStyleEncoder' has no option 'foo' (options: "),
    ("model.encoder.backbone.unitz=(1,1,1,1)", "error: model.encoder.backbone: backbone 'IRSEBackbone' has no option "
     "'unitz' (options: "),
])
def test_config_show_refuses_an_option_train_would_refuse(override, expected):
    config = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    result = _invoke("config", "show", config, override)
    assert result.exit_code == 2 and result.output.startswith(expected), result.output


def test_config_show_refuses_an_unknown_type():
    config = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    result = _invoke("config", "show", config, "model.losses.l2.type=L3Loss")
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error: unknown type 'L3Loss' at model.losses.l2. Did you mean 'L2Loss'")
    assert len(result.output.strip().splitlines()) == 1


def _child_config(path: Path, text: str) -> Path:
    """A config file inheriting the FFHQ inversion config, plus ``text``."""
    path.write_text(f"_base_ = [{str(ROOT / 'configs' / 'psp' / 'psp_irse50_inversion_ffhq-1024.py')!r}]\n{text}\n")
    return path


def _errors_of_show_and_train(config: Path) -> list[str]:
    """The one error line of ``config show`` and of ``train`` on ``config`` (both must fail)."""
    lines = []
    for command in (["config", "show"], ["train"]):
        result = _invoke(*command, config)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        lines.append(result.output.strip())
    return lines


@pytest.mark.parametrize("plugin, expected", [
    ("import not_a_real_module_xyz\n", "custom_imports 'broken_plugin' failed: No module named "
     "'not_a_real_module_xyz' (install the package it needs, or put the folder that holds it on PYTHONPATH)"),
    ("from p2s.tasks import Inversoin\n", "custom_imports 'broken_plugin' failed: ImportError: cannot import name "
     "'Inversoin' from 'p2s.tasks'"),
    (None, "custom_imports 'broken_plugin' failed: No module named 'broken_plugin'"),
])
def test_a_plugin_that_cannot_be_imported_is_one_line_with_its_cause(plugin, expected, tmp_path, monkeypatch):
    """MMEngine wraps the plugin's error twice (its message then lists sys.path)."""
    if plugin is not None:
        (tmp_path / "broken_plugin.py").write_text(plugin)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _child_config(tmp_path / "plugin.py", "custom_imports = dict(imports=['broken_plugin'])")
    for line in _errors_of_show_and_train(config):
        assert line.startswith(f"error: config '{config}': {expected}")


def test_a_misspelt_setting_in_a_config_file_is_one_line(tmp_path):
    """Overrides were checked, file keys not: ``train_dataloder`` was a silent no-op."""
    config = _child_config(tmp_path / "typo.py", "train_dataloder = dict(batch_size=2)\nmy_root = 'data/x'")
    for line in _errors_of_show_and_train(config):
        assert line == ("error: config key 'train_dataloder' is not a setting p2s or MMEngine reads, "
                        "so it would be ignored. Did you mean 'train_dataloader'?")
    config.write_text(config.read_text().replace("train_dataloder", "batch"))  # a variable of the config's own
    assert _invoke("config", "show", config).exit_code == 0


@pytest.mark.parametrize("setting, expected", [
    ("model = dict(losses=dict(l2=dict(_delete_=True, loss_weight=1.0)))",
     "model.losses.l2: a loss config must be a dict with a 'type' key, got {'loss_weight': 1.0}"),
    ("model = dict(encoder=dict(_delete_=True, num_layers=50))",
     "model.encoder: an encoder config must be a dict with a 'type' key, got {'num_layers': 50}"),
    ("model = dict(encoder=dict(backbone=dict(_delete_=True, num_layers=50)))",
     "model.encoder.backbone: a backbone config must be a dict with a 'type' key, got {'num_layers': 50}"),
])
def test_a_component_config_without_a_type_is_one_line_before_anything_is_built(setting, expected, tmp_path):
    """Building the model would say the same, but after MMEngine's set-up log."""
    config = _child_config(tmp_path / "untyped.py", setting)
    for line in _errors_of_show_and_train(config):
        assert line == f"error: {expected}"


def test_plugin_registers_only_through_custom_imports():
    """Core never imports the plugin; its config's custom_imports does (fresh process)."""
    import subprocess
    import sys

    config = ROOT / "plugins" / "colorization" / "configs" / "psp_irse50_colorization_ffhq-1024.py"
    script = (
        "import sys; from mmengine.config import Config; from p2s.registry import TASKS\n"
        "TASKS.import_from_location()\n"
        "assert 'Colorization' not in TASKS.module_dict and 'p2s_plugins.colorization' not in sys.modules\n"
        f"cfg = Config.fromfile({str(config)!r})\n"
        "assert 'Colorization' in TASKS.module_dict and cfg.task.type == 'Colorization'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.fixture(scope="module")
def one_iteration_checkpoint(tiny_configs, train_data, tmp_path_factory) -> Path:
    """iter_1.pth of one tiny inversion run (read, never changed, by the tests that use it)."""
    folder = tmp_path_factory.mktemp("one_iteration")
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, folder / "tiny.py", max_iters=1)
    result = _invoke("train", tiny, "--work-dir", folder / "first")
    assert result.exit_code == 0, result.output
    return folder / "first" / "iter_1.pth"


@pytest.mark.parametrize("case", ["text file", "list", "other encoder", "other architecture", "nan weights",
                                  "work dir is a file", "load_from setting", "load_from url", "--load-from url",
                                  "missing file", "shipped name"])
def test_load_from_and_work_dir_mistakes_are_one_line(case, tiny_configs, train_data, tmp_path, request):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1)
    work = tmp_path / "runs" / "w"
    args = ["--work-dir", work]
    if case == "text file":
        (tmp_path / "x.pt").write_text("hello")
        args += ["--load-from", tmp_path / "x.pt"]
        expected = "--load-from checkpoint"
    elif case == "list":
        torch.save([1, 2], tmp_path / "x.pt")
        args += ["--load-from", tmp_path / "x.pt"]
        expected = "holds no 'state_dict': it is not a p2s training checkpoint"
    elif case == "other encoder":  # a checkpoint whose encoder differs (one key gone, one reshaped)
        ckpt = torch.load(request.getfixturevalue("one_iteration_checkpoint"), weights_only=True)
        keys = [k for k in ckpt["state_dict"] if k.startswith("encoder.")]
        ckpt["state_dict"].pop(keys[0])
        ckpt["state_dict"][keys[1]] = torch.zeros(1, 2, 3)
        torch.save(ckpt, tmp_path / "other.pth")
        args += ["--load-from", tmp_path / "other.pth"]
        expected = "the checkpoint to load does not fit this model: 1 missing"
    elif case == "other architecture":  # the recorded model config names the options, not dozens of keys
        args += ["model.generator.resolution=32", "model.generator.w_dim=16",
                 "--load-from", request.getfixturevalue("one_iteration_checkpoint")]
        expected = ("the checkpoint to load does not fit this model: it was trained with model.generator.resolution=16 "
                    "model.generator.w_dim=8: set those to load it")
    elif case == "nan weights":
        ckpt = torch.load(request.getfixturevalue("one_iteration_checkpoint"), weights_only=True)
        key = next(k for k in ckpt["state_dict"] if k.startswith("encoder."))
        ckpt["state_dict"][key].fill_(float("nan"))
        torch.save(ckpt, tmp_path / "nan.pth")
        args += ["--load-from", tmp_path / "nan.pth"]
        expected = f"has NaN or infinite values in '{key}'"
    elif case == "load_from setting":  # the config's own setting is checked as the option is
        (tmp_path / "x.pt").write_text("hello")
        args += [f"load_from={tmp_path / 'x.pt'}"]
        expected = f"load_from checkpoint '{tmp_path / 'x.pt'}' is not a readable PyTorch file"
    elif case == "load_from url":  # MMEngine would download it and unpickle it unsafely
        args += ["load_from=https://example.invalid/psp.pth"]
        expected = "load_from 'https://example.invalid/psp.pth' is a URL: p2s loads only local checkpoint files"
    elif case == "--load-from url":  # the option's text is kept as given (a Path made it https:/...)
        args += ["--load-from", "https://example.invalid/psp.pth"]
        expected = "--load-from 'https://example.invalid/psp.pth' is a URL: p2s loads only local checkpoint files"
    elif case == "shipped name":
        args += ["--load-from", "synthfaces-inversion"]
        expected = "--load-from 'synthfaces-inversion' names a shipped model: --load-from takes a training checkpoint"
    elif case == "missing file":
        args += ["--load-from", tmp_path / "missing.pth"]
        expected = f"--load-from '{tmp_path / 'missing.pth'}' is not a local checkpoint file: it does not exist"
    else:
        (tmp_path / "runs").mkdir()
        work.write_text("a file")
        expected = "--work-dir"
    result = _invoke("train", tiny, *args)
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output, result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1, result.output
    assert case == "work dir is a file" or not (tmp_path / "runs").exists()


def test_a_diverged_run_stops_with_one_line_and_no_broken_checkpoint(tiny_configs, train_data, tmp_path):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=6, interval=2,
                                          optimizer=dict(type="Adam", lr=1e30))  # the second step is NaN
    work = tmp_path / "work"
    result = _invoke("train", tiny, "--work-dir", work)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: loss") and "at iteration 2;" in last, result.output
    assert "Traceback" not in result.output
    assert not list(work.glob("iter_*.pth")), "a checkpoint was written from the diverged weights"
    assert list(work.glob("*/*.log")), "the run's log is kept for the post-mortem"


def test_broken_weights_behind_a_finite_loss_are_never_checkpointed(tiny_configs, train_data, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # poison_hook.py
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    # a NaN weight after the first step, whose loss (computed before the step) is finite:
    # a checkpoint is due right then
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=3, interval=1)
    with tiny.open("a") as handle:
        handle.write("custom_imports = dict(imports=['poison_hook'], allow_failed_imports=False)\n"
                     "custom_hooks = [dict(type='SafeCheckpointHook'), dict(type='PoisonWeightsHook', at=1)]\n")
    work = tmp_path / "work"
    result = _invoke("train", tiny, "--work-dir", work)
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: training diverged: the weights hold NaN or infinite values after iteration 1 "
                           "(e.g. 'encoder."), result.output
    assert not list(work.glob("iter_*.pth")) and not (work / "last_checkpoint").exists()
    assert list(work.glob("*/*.log")), "a run that diverged in its first iteration keeps its log"


def _data_with_broken_faces(train_data: dict, folder: Path, broken: int) -> dict:
    import shutil

    faces = folder / "faces"
    shutil.copytree(train_data["faces"], faces)
    for i in range(broken):
        (faces / f"z{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return dict(train_data, faces=faces)


def test_a_corrupt_training_image_is_skipped_with_a_warning_line(tiny_configs, train_data, tmp_path):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    data = _data_with_broken_faces(train_data, tmp_path, broken=1)
    tiny = tiny_configs.write_tiny_config(base, data, tmp_path / "tiny.py", max_iters=2, fixed_batch=False)
    result = _invoke("train", tiny, "train_dataloader.dataset.max_samples=None", "--work-dir", tmp_path / "work")
    assert result.exit_code == 0, result.output
    assert "warning: skipped training sample: " in result.output and "z0.png: not a readable image" in result.output
    assert (tmp_path / "work" / "iter_2.pth").is_file()


def test_unusable_training_data_in_a_worker_process_is_one_line(tiny_configs, train_data, tmp_path):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    data = _data_with_broken_faces(train_data, tmp_path, broken=0)
    for face in data["faces"].iterdir():
        face.write_bytes(b"not an image")
    tiny = tiny_configs.write_tiny_config(base, data, tmp_path / "tiny.py", max_iters=2)
    result = _invoke("train", tiny, "train_dataloader.num_workers=1", "--work-dir", tmp_path / "work")
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: all 2 images are unusable, the last ") and last.endswith("check the data folder")
    assert "Traceback" not in result.output


def test_two_runs_in_one_second_log_into_their_own_folders(tiny_configs, train_data, tmp_path, monkeypatch):
    """MMEngine names a run's logger by the second it started; two runs of one process in
    the same second (a script that trains twice) must not share it."""
    import time

    monkeypatch.setattr(time, "strftime", lambda *_: "20261202_000000")  # the same second, every time
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1, interval=1)
    for name in ("a", "b"):
        assert _invoke("train", tiny, "--work-dir", tmp_path / name).exit_code == 0
    for name in ("a", "b"):
        (log,) = (tmp_path / name).glob("*/*.log")
        assert str(tmp_path / name) in log.read_text() and "Iter(train) [1/1]" in log.read_text(), name


