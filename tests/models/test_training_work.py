"""What a training step of the inversion recipe asks of the hardware, seen at the aten level:
frozen networks (generator, LPIPS, identity network) do no weight-gradient work, and no
network runs more forwards than the losses need."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from p2s.generators.layers import ModulatedConv2d
from p2s.models import PSP


class WeightGradients(TorchDispatchMode):
    """Counts convolution backwards by whether they compute a weight gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[bool] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._overloadpacket is torch.ops.aten.convolution_backward:
            self.calls[bool(args[-1][1])] += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def recipe() -> PSP:
    """pSp's inversion recipe (L2 + LPIPS + ID) on tiny random networks."""
    torch.manual_seed(0)
    return PSP(
        encoder=dict(type="GradualStyleEncoder",
                     backbone=dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))),
        generator=dict(type="StyleGAN2Generator", resolution=32, w_dim=8, n_mlp=2, channel_max=16,
                       channel_multiplier=1),
        losses=dict(
            l2=dict(type="L2Loss", loss_weight=1.0),
            lpips=dict(type="LPIPSLoss", loss_weight=0.8, random_backbone=True),
            id=dict(type="IDLoss", loss_weight=0.1, weights=None, random_init=True,
                    network=dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16))),
        ),
    ).train()


def convs(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, ModulatedConv2d))]


def step(model: PSP) -> None:
    source, target = torch.randn(2, 3, 256, 256), torch.rand(2, 3, 256, 256) * 2 - 1
    loss, _ = model.parse_losses(model.loss(source, dict(target=target)))
    loss.backward()


def test_only_the_encoder_convolutions_compute_weight_gradients(recipe):
    mode = WeightGradients()
    recipe.zero_grad(set_to_none=True)
    with mode:
        step(recipe)
    encoder_convs = len(convs(recipe.encoder))
    assert mode.calls[True] == encoder_convs  # each used once per forward
    assert mode.calls[False] > 0  # the generator and the losses' networks pass input gradients only
    assert all(p.grad is not None for p in recipe.encoder.parameters())
    assert all(p.grad is None for n, p in recipe.named_parameters() if not n.startswith("encoder."))


def test_each_network_runs_only_the_forwards_its_losses_need(recipe):
    """Encoder and generator once; LPIPS's backbone and the identity network once for the
    output and once for the target, and their layers stay in eval mode."""
    networks = dict(encoder=recipe.encoder, generator=recipe.decoder,
                    lpips=recipe.losses["lpips"].lpips.net, id=recipe.losses["id"].facenet)
    calls: Counter[str] = Counter()
    handles = [conv.register_forward_hook(lambda m, i, o, name=name: calls.update([name]))
               for name, network in networks.items() for conv in convs(network)]
    try:
        step(recipe)
    finally:
        for handle in handles:
            handle.remove()
    per_conv = {name: calls[name] / len(convs(network)) for name, network in networks.items()}
    assert per_conv == {"encoder": 1, "generator": 1, "lpips": 2, "id": 2}
    for name in ("lpips", "id"):
        assert not any(m.training for m in networks[name].modules())


def test_a_training_step_never_reads_a_device_value_back(recipe):
    """On the meta device ``.item()``, ``bool()`` and every other read-back raise, so two
    whole steps there (forward, backward, Ranger's foreach update, Lookahead) prove the
    step has no host synchronisation: a GPU keeps queueing kernels while Python runs."""
    import copy

    from p2s.engine import Ranger

    model = copy.deepcopy(recipe).to("meta")
    optimizer = Ranger(model.encoder.parameters(), lr=1e-4, k=1, foreach=True)  # k=1: Lookahead every step
    source, target = torch.empty(2, 3, 256, 256, device="meta"), torch.empty(2, 3, 256, 256, device="meta")
    for _ in range(2):
        loss, log_vars = model.parse_losses(model.loss(source, dict(target=target)))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert loss.is_meta and set(log_vars) >= {"loss", "loss_l2", "loss_lpips", "loss_id"}
    with pytest.raises(Exception, match="meta"):
        loss.item()  # the premise: a read-back does raise here


def test_compiled_loss_trains_like_the_eager_one(recipe):
    """``p2s train --compile``: the loss through torch.compile (``aot_eager`` here: the
    graph and its AOTAutograd backward without C++ code generation) in one graph, the same
    loss terms and encoder gradients as eager."""
    import copy

    from p2s.engine.compiled_loss import compile_training_loss

    eager, fast = copy.deepcopy(recipe), copy.deepcopy(recipe)
    eager.train_noise_mode = fast.train_noise_mode = "const"  # the same noise in both
    compile_training_loss(fast, "default", backend="aot_eager")
    assert fast.loss is not eager.loss and "loss" in vars(fast)  # an instance attribute: state_dict unchanged
    assert set(fast.state_dict()) == set(eager.state_dict())
    torch.manual_seed(1)
    source, target = torch.randn(2, 3, 256, 256), torch.rand(2, 3, 256, 256) * 2 - 1
    results = []
    for model in (eager, fast):
        terms = model.loss(source, dict(target=target))
        loss, _ = model.parse_losses(terms)
        loss.backward()
        results.append((terms, [p.grad for p in model.encoder.parameters()]))
    (eager_terms, eager_grads), (fast_terms, fast_grads) = results
    assert set(fast_terms) == set(eager_terms)
    for name in eager_terms:
        torch.testing.assert_close(fast_terms[name], eager_terms[name], rtol=1e-4, atol=1e-6)
    for got, expected in zip(fast_grads, eager_grads):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-6)
    assert fast.last_visuals["output"].shape == eager.last_visuals["output"].shape  # the side effect replayed


def test_compile_refuses_what_it_cannot_compile(recipe):
    from p2s.engine.compiled_loss import compile_training_loss
    from p2s.models import StyleGAN2GAN
    from p2s.utils.errors import P2SError

    with pytest.raises(P2SError, match="--compile must be one of none, default, max-autotune, got 'reduce-overhead'"):
        compile_training_loss(recipe, "reduce-overhead")
    gan = StyleGAN2GAN.__new__(StyleGAN2GAN)  # its class is what matters, not its networks
    nn.Module.__init__(gan)
    with pytest.raises(P2SError, match="StyleGAN2GAN trains through its own train_step; train it without --compile"):
        compile_training_loss(gan, "default")
    compile_training_loss(recipe, "none")
    assert "loss" not in vars(recipe)
