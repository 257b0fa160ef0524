"""Ranger: RAdam + Lookahead (+ gradient centralization), the optimizer pSp trains with.

The RAdam update is PyTorch's own functional :func:`torch.optim.radam.radam` (the code
behind :class:`torch.optim.RAdam`, with its multi-tensor ``foreach`` path on CUDA), so
only Lookahead and gradient centralization are written here.  ``Ranger`` is a plain
:class:`torch.optim.Optimizer`: every piece of its state (RAdam moments, step counters,
Lookahead slow weights) lives in ``optimizer.state`` and therefore in ``state_dict()``,
so MMEngine's ``OptimWrapper`` saves it in checkpoints and ``--resume`` continues a
Lookahead cycle exactly where it stopped.

It subclasses ``Optimizer`` rather than ``torch.optim.RAdam`` on purpose: PyTorch wraps
each optimizer class's ``step`` with the step hooks, so calling ``RAdam.step`` from a
subclass's ``step`` would run registered hooks twice once any ``RAdam`` exists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer
from torch.optim.radam import radam

from p2s.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class Ranger(Optimizer):
    """RAdam wrapped in Lookahead, with optional gradient centralization.

    Each step: (1) if ``use_gc``, every gradient with more than one dimension (conv and
    linear weights) has its mean over all dimensions but the first subtracted, in place;
    (2) PyTorch's RAdam updates the (fast) weights; (3) every ``k`` steps of a parameter
    the slow weights move towards the fast ones, ``slow += alpha * (fast - slow)``, and
    the fast weights are reset to them.  The defaults are pSp's.

    Args:
        params: parameters or parameter-group dicts, as for any torch optimizer.
        lr: learning rate.
        alpha: Lookahead step size for the slow weights, in ``(0, 1]``.
        k: Lookahead period: fast steps between two slow-weight updates.
        betas: RAdam's coefficients for the running averages of the gradient and of
            its square.
        eps: added to the denominator for numerical stability.  pSp trains with
            ``Ranger(params, lr=...)``, i.e. with its training/ranger.py default 6.1e-5
            (that file's changelog comment says 1e-5; the code is what ran).
        weight_decay: L2 penalty added to the gradient (``torch.optim.RAdam``
            semantics), or decoupled when ``decoupled_weight_decay``.
        use_gc: centralize gradients of tensors with ``ndim > 1`` before the step.
        decoupled_weight_decay: AdamW-style decay (passed to RAdam).
        foreach: RAdam's multi-tensor implementation; ``None`` lets PyTorch choose
            (``True`` when every tensor is on CUDA).

    Examples:
        >>> opt = Ranger(model.parameters(), lr=1e-4)
        >>> # in a config: optim_wrapper=dict(type='OptimWrapper',
        >>> #                                 optimizer=dict(type='Ranger', lr=1e-4))
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-4,
        alpha: float = 0.5,
        k: int = 6,
        betas: tuple[float, float] = (0.95, 0.999),
        eps: float = 6.1e-5,
        weight_decay: float = 0.0,
        use_gc: bool = True,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
    ) -> None:
        if not (lr >= 0.0 and math.isfinite(lr)):
            raise ValueError(f"Ranger: lr must be a finite number >= 0, got {lr}.")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"Ranger: alpha must be in (0, 1], got {alpha}.")
        if int(k) != k or k < 1:
            raise ValueError(f"Ranger: k must be a positive integer, got {k}.")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Ranger: betas must be in [0, 1), got {tuple(betas)}.")
        if not eps >= 0.0:
            raise ValueError(f"Ranger: eps must be >= 0, got {eps}.")
        if not weight_decay >= 0.0:
            raise ValueError(f"Ranger: weight_decay must be >= 0, got {weight_decay}.")
        defaults = dict(
            lr=lr,
            alpha=alpha,
            k=int(k),
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            use_gc=use_gc,
            decoupled_weight_decay=decoupled_weight_decay,
            foreach=foreach,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Ranger step; ``closure`` re-evaluates the loss (optional)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._collect(group)
            if not params:
                continue
            if group["use_gc"]:
                _centralize_(grads)
            beta1, beta2 = group["betas"]
            radam(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                steps,
                decoupled_weight_decay=group["decoupled_weight_decay"],
                foreach=group["foreach"],
                has_complex=any(torch.is_complex(p) for p in params),
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
            )
            self._lookahead(group, params, steps)
        return loss

    def _collect(self, group: dict) -> tuple[list[torch.Tensor], ...]:
        """Parameters that have a gradient, with their (lazily created) state."""
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Ranger does not support sparse gradients.")
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["slow_buffer"] = p.detach().clone(memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, steps

    def _lookahead(self, group: dict, params: list[torch.Tensor], steps: list[torch.Tensor]) -> None:
        """Every ``k`` steps: ``slow += alpha * (fast - slow)``, then ``fast = slow``."""
        k = group["k"]
        due = [p for p, s in zip(params, steps) if int(s.item()) % k == 0]
        if not due:
            return
        slow = [self.state[p]["slow_buffer"] for p in due]
        torch._foreach_add_(slow, torch._foreach_sub(due, slow), alpha=group["alpha"])
        torch._foreach_copy_(due, slow)


def _centralize_(grads: list[torch.Tensor]) -> None:
    """Gradient centralization, in place: remove the per-output-channel mean of every
    gradient with ``ndim > 1`` (the mean over all dimensions but the first)."""
    multi = [g for g in grads if g.dim() > 1]
    if not multi:
        return
    means = [g.mean(dim=tuple(range(1, g.dim())), keepdim=True) for g in multi]
    # broadcasting sub per tensor; _foreach_sub_ needs equal shapes, so expand views
    torch._foreach_sub_(multi, [m.expand_as(g) for m, g in zip(means, multi)])
