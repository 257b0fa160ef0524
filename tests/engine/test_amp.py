"""``p2s train --amp``: bf16 autocast on the model's device, CPU or CUDA, with no loss
scaling (no unscale pass, no per-step overflow read-back); an update equals the plain
autocast step."""

from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from p2s.engine.amp import BF16_AMP, BF16AutocastOptimWrapper, use_bf16_autocast
from p2s.registry import OPTIM_WRAPPERS


def _model_and_data(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    return model, torch.randn(4, 6), torch.randn(4, 2)


def test_bf16_wrapper_steps_like_plain_autocast():
    model, x, y = _model_and_data()
    wrapper = OPTIM_WRAPPERS.build(dict(BF16_AMP, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert isinstance(wrapper, BF16AutocastOptimWrapper)
    for _ in range(3):
        with wrapper.optim_context(model):
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") is torch.bfloat16
            hidden = model[0](x)
            loss = nn.functional.mse_loss(model[2](model[1](hidden)).float(), y)
        assert hidden.dtype is torch.bfloat16
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


@pytest.mark.filterwarnings("ignore:.*GradScaler.*:FutureWarning")  # inside MMEngine's AmpOptimWrapper
def test_state_is_the_optimizers_and_takes_an_amp_optim_wrapper_checkpoint(monkeypatch):
    """No scaler state is written; a checkpoint of MMEngine's AmpOptimWrapper (earlier
    ``--amp`` runs on a GPU) resumes into the wrapper."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp_module

    model, x, y = _model_and_data()
    wrapper = BF16AutocastOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        loss = nn.functional.mse_loss(model(x).float(), y)
    wrapper.update_params(loss)
    assert wrapper.state_dict().keys() == wrapper.optimizer.state_dict().keys()

    monkeypatch.setattr(amp_module, "is_cuda_available", lambda: True)  # it refuses a machine without a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    old = AmpOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=0.1), dtype="bfloat16",
                          loss_scale=dict(enabled=False))
    old.optimizer.load_state_dict(wrapper.optimizer.state_dict())
    saved = old.state_dict()
    assert "loss_scaler" in saved
    fresh = BF16AutocastOptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=0.1))
    fresh.load_state_dict(saved)
    assert fresh.optimizer.state_dict()["state"][0]["step"] == 1


def test_amp_is_a_config_update_of_one_wrapper_or_each_of_a_constructors():
    single = Config(dict(optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="Ranger", lr=1e-4))))
    use_bf16_autocast(single.optim_wrapper)
    assert single.optim_wrapper.to_dict() == dict(type="BF16AutocastOptimWrapper",
                                                  optimizer=dict(type="Ranger", lr=1e-4))
    gan = Config(dict(optim_wrapper=dict(
        constructor="GANOptimWrapperConstructor",
        generator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=2e-3)),
        discriminator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-3)),
    )))
    use_bf16_autocast(gan.optim_wrapper)
    assert gan.optim_wrapper.constructor == "GANOptimWrapperConstructor" and "type" not in gan.optim_wrapper
    assert gan.optim_wrapper.generator.type == gan.optim_wrapper.discriminator.type == "BF16AutocastOptimWrapper"


@pytest.mark.parametrize("wrapper_type", [OptimWrapper, BF16AutocastOptimWrapper])
def test_plain_wrapper_stays_float32(wrapper_type):
    """Without ``--amp`` nothing autocasts; with it, the context autocasts where the model is."""
    model, x, _ = _model_and_data()
    wrapper = wrapper_type(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype is (torch.bfloat16 if wrapper_type is BF16AutocastOptimWrapper else torch.float32)
