"""Ranger: equal to a plain reference (RAdam + Lookahead + gradient centralization),
state saved and restored mid-cycle, and built through the p2s OPTIMIZERS registry."""

from __future__ import annotations

import io
import math

import pytest
import torch
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from p2s.engine import Ranger
from p2s.registry import OPTIMIZERS


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).double()


def _batch(step: int) -> torch.Tensor:
    return torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(100 + step), dtype=torch.float64)


def _backward(model: nn.Module, step: int) -> None:
    model.zero_grad(set_to_none=True)
    out = model(_batch(step))
    (out - 1.0).square().mean().backward()


class ReferenceRanger:
    """RAdam (Liu et al. 2020, as documented for torch.optim.RAdam) + Lookahead + GC,
    written out one tensor at a time."""

    def __init__(self, params, lr, alpha, k, betas, eps, weight_decay, use_gc=True):
        self.params = list(params)
        self.lr, self.alpha, self.k, self.betas, self.eps = lr, alpha, k, betas, eps
        self.wd, self.use_gc, self.t = weight_decay, use_gc, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.slow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        t, (b1, b2) = self.t, self.betas
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        for i, p in enumerate(self.params):
            g = p.grad.clone()
            if self.use_gc and g.dim() > 1:
                g = g - g.mean(dim=tuple(range(1, g.dim())), keepdim=True)
            g = g + self.wd * p
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1**t)
            if rho_t > 5:
                adaptive = math.sqrt(1 - b2**t) / (self.v[i].sqrt() + self.eps)
                r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                p -= self.lr * m_hat * adaptive * r
            else:
                p -= self.lr * m_hat
            if t % self.k == 0:
                self.slow[i] += self.alpha * (p - self.slow[i])
                p.copy_(self.slow[i])


HYPER = dict(lr=1e-2, alpha=0.5, k=3, betas=(0.95, 0.999), eps=1e-5, weight_decay=1e-3)


@pytest.mark.parametrize("use_gc", [True, False])
@pytest.mark.parametrize("foreach", [False, True])
def test_matches_reference_over_10_steps(use_gc, foreach):
    model, ref_model = _model(), _model()
    opt = Ranger(model.parameters(), use_gc=use_gc, foreach=foreach, **HYPER)
    ref = ReferenceRanger(ref_model.parameters(), use_gc=use_gc, **HYPER)
    for step in range(10):  # covers the un-rectified (t <= 5) and rectified RAdam steps
        _backward(model, step)
        _backward(ref_model, step)
        opt.step()
        ref.step()
        for p, q in zip(model.parameters(), ref_model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)
    assert all(int(s["step"]) == 10 for s in opt.state.values())


def test_gradient_centralization_only_touches_multi_dim_grads():
    model = _model()
    opt = Ranger(model.parameters(), use_gc=True)
    _backward(model, 0)
    bias_grads = [p.grad.clone() for p in model.parameters() if p.dim() == 1]
    opt.step()
    for p in model.parameters():
        if p.dim() > 1:  # centralized in place: zero mean per output channel
            channel_means = p.grad.mean(dim=tuple(range(1, p.dim())))
            torch.testing.assert_close(channel_means, torch.zeros(p.shape[0], dtype=p.dtype))
    torch.testing.assert_close([p.grad for p in model.parameters() if p.dim() == 1], bias_grads)


def test_lookahead_resets_fast_weights_every_k_steps():
    model = _model()
    opt = Ranger(model.parameters(), k=3, **{k: v for k, v in HYPER.items() if k != "k"})
    for step in range(3):
        _backward(model, step)
        opt.step()
    for p in model.parameters():
        assert torch.equal(p, opt.state[p]["slow_buffer"])


def _save_load(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_dict_round_trip_mid_cycle_continues_identically():
    model = _model()
    opt = Ranger(model.parameters(), **HYPER)
    for step in range(4):  # k=3: one slow update done, the next cycle half way
        _backward(model, step)
        opt.step()
    saved_model, saved_opt = _save_load(model.state_dict()), _save_load(opt.state_dict())
    assert {"step", "exp_avg", "exp_avg_sq", "slow_buffer"} <= set(saved_opt["state"][0])

    clone = _model()
    clone.load_state_dict(saved_model)
    clone_opt = Ranger(clone.parameters(), **HYPER)
    clone_opt.load_state_dict(saved_opt)
    for step in range(4, 10):
        for m, o in ((model, opt), (clone, clone_opt)):
            _backward(m, step)
            o.step()
    for p, q in zip(model.parameters(), clone.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(model.parameters(), clone.parameters()):
        for key in ("step", "exp_avg", "exp_avg_sq", "slow_buffer"):
            assert torch.equal(opt.state[p][key], clone_opt.state[q][key])


def test_closure_and_params_without_grad():
    model = _model()
    frozen = nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = Ranger([{"params": model.parameters()}, {"params": [frozen], "lr": 0.5}])
    loss = opt.step(lambda: (_backward(model, 0), torch.tensor(1.0))[1])
    assert loss == 1.0
    assert frozen not in opt.state and torch.equal(frozen, torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize(
    "bad", [dict(alpha=0.0), dict(alpha=1.5), dict(k=0), dict(lr=-1.0), dict(betas=(1.0, 0.9)), dict(eps=-1)]
)
def test_bad_hyperparameters_raise(bad):
    with pytest.raises(ValueError, match="Ranger"):
        Ranger(_model().parameters(), **bad)


def test_built_by_optim_wrapper_under_p2s_scope():
    init_default_scope("p2s")
    assert OPTIMIZERS.get("Ranger") is Ranger
    wrapper = build_optim_wrapper(_model(), dict(type="OptimWrapper", optimizer=dict(type="Ranger", lr=3e-4)))
    assert isinstance(wrapper, OptimWrapper) and isinstance(wrapper.optimizer, Ranger)
    group = wrapper.optimizer.param_groups[0]
    hyper = (group["lr"], group["alpha"], group["k"], group["betas"], group["eps"])
    assert hyper == (3e-4, 0.5, 6, (0.95, 0.999), 6.1e-5)  # pSp's training/ranger.py defaults
