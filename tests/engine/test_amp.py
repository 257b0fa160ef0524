"""``p2s train --amp``: bf16 autocast without loss scaling (no unscale pass, no per-step
overflow read-back); an update equals the plain autocast step."""

from __future__ import annotations

import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module
import torch
from mmengine.optim import AmpOptimWrapper
from torch import nn

from p2s.engine.amp import BF16_AMP, bf16_wrapper_kwargs


def _model_and_data(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    return model, torch.randn(4, 6), torch.randn(4, 2)


def test_bf16_wrapper_steps_unscaled_like_plain_autocast(monkeypatch):
    # as on a GPU machine: the wrapper insists on CUDA, and a scaler switches itself off without it
    monkeypatch.setattr(amp_module, "is_cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model, x, y = _model_and_data()
    default = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype="bfloat16")
    assert default.loss_scaler.is_enabled()  # MMEngine's default: dynamic float16-style scaling
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **bf16_wrapper_kwargs())
    assert not wrapper.loss_scaler.is_enabled()
    assert wrapper.cast_dtype is torch.bfloat16
    for _ in range(3):
        with wrapper.optim_context(model):
            loss = nn.functional.mse_loss(model(x).float(), y)
        assert not torch.is_autocast_enabled("cpu")  # the context closed
        wrapper.update_params(loss)

    reference, x, y = _model_and_data()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.mse_loss(reference(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for got, want in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert "loss_scaler" in wrapper.state_dict()  # checkpoints and resume keep their layout


def test_amp_setting_is_a_plain_config_update():
    from mmengine.config import Config

    cfg = Config(dict(optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="Ranger", lr=1e-4))))
    cfg.optim_wrapper.update(BF16_AMP)
    assert cfg.optim_wrapper.to_dict() == dict(type="AmpOptimWrapper", optimizer=dict(type="Ranger", lr=1e-4),
                                               dtype="bfloat16", loss_scale=dict(enabled=False))
