"""``p2s train --resume`` and ``--load-from`` on tiny configs (CPU): a resumed run continues
exactly, in fp32 and under ``--amp``, and a fine-tuning run keeps the configured generator."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from p2s.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _encoder_state(path: Path) -> dict:
    state = torch.load(path, weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("encoder.")}


def _noisy_generator(tiny_configs, path: Path) -> Path:
    """The tiny generator with the nonzero noise strengths of a trained one (a new one's
    are zero: its noise, drawn from the random streams, would change nothing)."""
    from p2s.generators.stylegan2 import StyleGAN2Generator

    options = {k: v for k, v in tiny_configs.TINY_GENERATOR.items() if k != "weights"}
    state = StyleGAN2Generator(**options).state_dict()
    for key in state:
        if key.endswith("noise.weight"):
            state[key] = torch.full_like(state[key], 0.5)
    torch.save({"g_ema": state}, path)
    return path


@pytest.mark.parametrize("best", ["saved", "not saved"])
def test_resume_continues_exactly(tiny_configs, train_data, tmp_path, best):
    """iter_2.pth is written before the validation at iteration 2: the resumed run matches
    only if validation left the random streams alone.  When that validation finds a new
    best score, MMEngine writes iter_2.pth again after it: the file must still hold the
    streams as training left them."""
    base = ROOT / "configs" / "psp" / "psp_irse50_superres_celebahq-1024.py"  # random factors, flips, noise
    settings = [f"model.generator.weights={_noisy_generator(tiny_configs, tmp_path / 'g.pt')}"]
    if best == "not saved":
        settings.append("default_hooks.checkpoint.save_best=None")
    straight = tiny_configs.write_tiny_config(base, train_data, tmp_path / "straight.py", max_iters=4,
                                              fixed_batch=False)
    assert _invoke("train", straight, *settings, "--work-dir", tmp_path / "a").exit_code == 0

    first = tiny_configs.write_tiny_config(base, train_data, tmp_path / "first.py", max_iters=2, fixed_batch=False)
    assert _invoke("train", first, *settings, "--work-dir", tmp_path / "b").exit_code == 0
    assert (best == "saved") == (tmp_path / "b" / "best_val_loss_iter_2.pth").is_file()
    result = _invoke("train", straight, *settings, "--work-dir", tmp_path / "b", "--resume")
    assert result.exit_code == 0, result.output

    want, got = _encoder_state(tmp_path / "a" / "iter_4.pth"), _encoder_state(tmp_path / "b" / "iter_4.pth")
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)
    before = _encoder_state(tmp_path / "b" / "iter_2.pth")
    assert any(not torch.equal(before[k], got[k]) for k in got)


def test_amp_trains_resumes_and_translates_on_a_cpu(tiny_configs, train_data, tmp_path, monkeypatch):
    """``--amp`` is bf16 autocast where the model is, a CPU too: each training forward runs
    under it, the checkpoint holds the optimizer's plain state, a resumed run continues it
    exactly, and a CPU without bf16 kernels gets one warning line."""
    import p2s.utils.precision as precision_module
    from p2s.models.psp import PSP

    seen = []
    real_loss = PSP.loss

    def spy(self, *args, **kwargs):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return real_loss(self, *args, **kwargs)

    monkeypatch.setattr(PSP, "loss", spy)
    monkeypatch.setattr(precision_module, "cpu_has_bf16_kernels", lambda: False)
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    settings = ["default_hooks.checkpoint.save_best=None"]
    # few iterations: on a CPU without bf16 kernels (CI's may be one) bf16 runs reference loops
    straight = tiny_configs.write_tiny_config(base, train_data, tmp_path / "straight.py", max_iters=2,
                                              optimizer=dict(type="Adam", lr=2e-3))
    result = _invoke("train", straight, *settings, "--amp", "--work-dir", tmp_path / "a")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: --amp on this CPU")]
    assert len(warned) == 1 and warned[0].endswith("train without --amp"), result.output
    assert seen.count(torch.bfloat16) == 2, seen  # the two training steps
    losses = [row["loss"] for row in tiny_configs.scalars(tmp_path / "a") if "loss" in row and "val/loss" not in row]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses) and losses[-1] < losses[0], losses
    checkpoint = torch.load(tmp_path / "a" / "iter_2.pth", weights_only=True)
    assert "loss_scaler" not in checkpoint["optimizer"] and checkpoint["optimizer"]["state"]

    monkeypatch.setattr(precision_module, "cpu_has_bf16_kernels", lambda: True)
    first = tiny_configs.write_tiny_config(base, train_data, tmp_path / "first.py", max_iters=1, interval=1,
                                           optimizer=dict(type="Adam", lr=2e-3))
    result = _invoke("train", first, *settings, "--amp", "--work-dir", tmp_path / "b")
    assert result.exit_code == 0 and "warning:" not in result.output, result.output
    assert _invoke("train", straight, *settings, "--amp", "--work-dir", tmp_path / "b", "--resume").exit_code == 0
    want, got = _encoder_state(tmp_path / "a" / "iter_2.pth"), _encoder_state(tmp_path / "b" / "iter_2.pth")
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0, msg=key)

    out = tmp_path / "translated"
    result = _invoke("translate", "--checkpoint", tmp_path / "a" / "iter_2.pth", "--input", train_data["faces"],
                     "--output", out)
    assert result.exit_code == 0 and list(out.glob("*.png")), result.output


def test_resume_with_nothing_to_resume_says_so_and_trains(tiny_configs, train_data, tmp_path):
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1)
    work = tmp_path / "work"
    result = _invoke("train", tiny, "--work-dir", work, "--resume")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning: --resume: no checkpoint in ")
    assert "training starts from iteration 0" in result.output.splitlines()[0]
    assert (work / "iter_1.pth").is_file()

    result = _invoke("train", tiny, "train_cfg.max_iters=2", "--work-dir", tmp_path / "fresh", "--resume",
                     "--load-from", work / "iter_1.pth")
    assert result.exit_code == 0, result.output  # resumes from --load-from: nothing to warn about
    assert "warning" not in result.output
    assert (tmp_path / "fresh" / "iter_2.pth").is_file()

    (work / "iter_1.pth").unlink()  # last_checkpoint now names a missing file
    result = _invoke("train", tiny, "--work-dir", work, "--resume")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "last_checkpoint' names '" in result.output and "which does not exist" in result.output


def test_resume_at_or_past_max_iters_is_one_line_and_leaves_nothing(tiny_configs, train_data, tmp_path):
    """It trained nothing and exited 0, adding an empty log folder."""
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=2)
    work = tmp_path / "work"
    assert _invoke("train", tiny, "--work-dir", work).exit_code == 0
    before = sorted(work.rglob("*"))
    checkpoint = work / "iter_2.pth"
    for max_iters in (2, 1):
        result = _invoke("train", tiny, f"train_cfg.max_iters={max_iters}", "--work-dir", work, "--resume")
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            f"error: --resume: the checkpoint '{checkpoint}' is at iteration 2, at or past train_cfg.max_iters="
            f"{max_iters}, so there is nothing to train; set train_cfg.max_iters above 2 to train on")
        assert sorted(work.rglob("*")) == before
    result = _invoke("train", tiny, "--work-dir", tmp_path / "fresh", "--resume", "--load-from", checkpoint)
    assert result.exit_code == 2 and "is at iteration 2, at or past train_cfg.max_iters=2" in result.output
    assert not (tmp_path / "fresh").exists()


def test_resume_with_more_iterations_moves_the_schedulers_default_end(tiny_configs, train_data, tmp_path):
    """MMEngine filled the missing ends with the first run's max_iters (2) and the resume
    restored them: the milestones at 2 and 3 never fired, and nothing said so."""
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    schedulers = ("param_scheduler = [dict(type='LinearLR', start_factor=1.0, by_epoch=False),"
                  " dict(type='MultiStepLR', milestones=[2, 3], gamma=0.5, by_epoch=False)]\n")
    configs = {}
    for max_iters in (2, 4):
        configs[max_iters] = tiny_configs.write_tiny_config(base, train_data, tmp_path / f"tiny{max_iters}.py",
                                                            max_iters=max_iters, optimizer=dict(type="Adam", lr=1e-3))
        configs[max_iters].write_text(configs[max_iters].read_text() + schedulers)
    assert _invoke("train", configs[4], "--work-dir", tmp_path / "straight").exit_code == 0
    work = tmp_path / "work"
    assert _invoke("train", configs[2], "--work-dir", work).exit_code == 0
    result = _invoke("train", configs[4], "--work-dir", work, "--resume")
    assert result.exit_code == 0, result.output

    def learning_rates(folder: Path) -> dict[int, float]:
        return {row["step"]: row["lr"] for row in tiny_configs.scalars(folder) if "lr" in row}

    straight = learning_rates(tmp_path / "straight")
    assert straight == pytest.approx({1: 1e-3, 2: 1e-3, 3: 5e-4, 4: 2.5e-4})
    assert learning_rates(work) == pytest.approx({3: straight[3], 4: straight[4]})
    log = sorted(work.glob("*/*.log"))[-1].read_text()
    assert ("--resume: param_scheduler[1] (MultiStepLR) now ends at 4 (train_cfg.max_iters: the config gives no "
            "end), not at the checkpoint's 2") in log
    assert ("WARNING - --resume: param_scheduler[0] (LinearLR) keeps the checkpoint's end 2, not 4 "
            "(train_cfg.max_iters: the config gives no end): its schedule was laid out up to 2") in log


def _generator_file(path: Path, seed: int, tiny_configs) -> Path:
    from p2s.generators import StyleGAN2Generator

    torch.manual_seed(seed)
    options = {k: v for k, v in tiny_configs.TINY_GENERATOR.items() if k != "weights"}
    generator = StyleGAN2Generator(**options)
    torch.save({"g_ema": generator.state_dict(), "latent_avg": torch.randn(options["w_dim"])}, path)
    return path


def test_load_from_keeps_the_configured_generator(tiny_configs, train_data, tmp_path):
    """Fine-tuning an encoder onto another generator (toonify): the checkpoint's frozen
    generator silently replaced the one model.generator.weights names."""
    base = ROOT / "configs" / "psp" / "psp_irse50_inversion_ffhq-1024.py"
    tiny = tiny_configs.write_tiny_config(base, train_data, tmp_path / "tiny.py", max_iters=1, interval=1)
    old, new = _generator_file(tmp_path / "old.pt", 1, tiny_configs), _generator_file(tmp_path / "new.pt", 2, tiny_configs)
    assert _invoke("train", tiny, f"model.generator.weights={old}", "--work-dir", tmp_path / "a").exit_code == 0
    result = _invoke("train", tiny, f"model.generator.weights={new}", "--load-from", tmp_path / "a" / "iter_1.pth",
                     "--work-dir", tmp_path / "b")
    assert result.exit_code == 0, result.output
    first = torch.load(tmp_path / "a" / "iter_1.pth", weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "b" / "iter_1.pth", weights_only=True)["state_dict"]
    wanted = torch.load(new, weights_only=True)
    for key, value in wanted["g_ema"].items():
        torch.testing.assert_close(second[f"decoder.{key}"], value, rtol=0, atol=0, msg=key)
    torch.testing.assert_close(second["latent_avg"], wanted["latent_avg"].expand_as(second["latent_avg"]))
    assert not torch.equal(first["latent_avg"], second["latent_avg"])
    logs = "".join(p.read_text() for p in (tmp_path / "b").glob("*/*.log"))
    assert "--load-from: the generator and latent_avg come from model.generator.weights" in logs
