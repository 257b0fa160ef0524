"""Device placement, checked on PyTorch's ``meta`` device: the GPU code paths, on a CPU.

CI has no GPU, so a tensor made on the CPU in the middle of a forward (a factory call
without ``device=``, a buffer that is not registered and so does not move with ``.to()``,
a numpy round trip) would only fail on the lent GPU.  A module moved with ``.to("meta")``
and fed meta inputs fails at the first such tensor ("Tensor on device cpu is not on the
expected device meta"), and computes nothing, so even full-size networks are cheap.
The generator picks its modulation route by device (per-sample weights only for CPU
inference), so on meta it takes the GPU's batched route, the one CPU tests run least.

Meta tensors hold no data: host reads (``float(t)``, ``int(t)``, ``.item()``, ``.cpu()``,
numpy) cannot run on them, and neither can ``torch.autocast`` or a ``torch.Generator``.
The tests stop short of those, and each says where.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from PIL import Image

from p2s.apis.projector import Projector
from p2s.apis.translator import Translator
from p2s.editing.editor import edit_sources
from p2s.engine.optimizers import Ranger
from p2s.engine.runtime_info import DeferredRuntimeInfoHook
from p2s.generators.layers import ModulatedConv2d, set_modulation_mode
from p2s.generators.stylegan2 import NOISE_MODES, StyleGAN2Generator
from p2s.losses import LPIPSLoss
from p2s.models.stylegan2_gan import GANOptimWrapperConstructor
from p2s.registry import LOSSES, MODELS
from p2s.tasks import Inversion
from p2s.utils.build import build
from p2s_plugins.restyle import ReStylePSP

META = torch.device("meta")
GEN = dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)
NUM_WS, W_DIM, RES = 6, 8, 16
IRSE = dict(type="IRSEBackbone", units=(1, 1, 1, 1), widths=(8, 8, 16, 16))
#: full width (64..512 channels): on meta its size costs nothing but the CPU build
RESNET = dict(type="ResNet34Backbone")
ENCODERS = ("GradualStyleEncoder", "WEncoder", "WPlusEncoder")
#: every training loss p2s registers, built offline with random networks (the ID loss crops
#: the face, as by default)
TRAIN_LOSSES = {
    "l2": dict(type="L2Loss"),
    "lpips": dict(type="LPIPSLoss", random_backbone=True),
    "id": dict(type="IDLoss", weights=None, random_init=True, network=dict(units=(1, 1, 1, 1), widths=(8, 8, 16, 16))),
    "moco": dict(type="MoCoLoss", weights=None, random_init=True),
    "w_norm": dict(type="WNormLoss"),
}


@pytest.fixture
def routes(monkeypatch) -> list[bool]:
    """What every ``ModulatedConv2d.modulates_per_sample`` call answered (True: per-sample
    weights, False: batched activation modulation), and on which device it was asked."""
    answers: list[bool] = []
    choose = ModulatedConv2d.modulates_per_sample

    def spy(self, batch: int, device: torch.device) -> bool:
        assert device == META, f"the route was chosen for {device}"
        answers.append(choose(self, batch, device))
        return answers[-1]

    monkeypatch.setattr(ModulatedConv2d, "modulates_per_sample", spy)
    return answers


def on_meta(*tensors: torch.Tensor) -> bool:
    return all(isinstance(t, torch.Tensor) and t.is_meta for t in tensors)


def meta_psp(encoder: str = "GradualStyleEncoder", backbone: dict = IRSE, **options):
    """A tiny PSP built (randomly) on the CPU, then moved to meta as a GPU run moves it."""
    torch.manual_seed(0)
    cfg = dict(type="PSP", encoder=dict(type=encoder, backbone=backbone), generator=GEN, **options)
    return build(MODELS, cfg).to(META)


def meta_randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device=META)


# --- generator -----------------------------------------------------------------------------
def test_meta_takes_the_route_cpu_inference_does_not():
    """The point of running the generator on meta: the CPU's no-grad route is per-sample."""
    conv = ModulatedConv2d(4, 4, 3, W_DIM)
    with torch.no_grad():
        assert conv.modulates_per_sample(3, torch.device("cpu"))
        assert not conv.modulates_per_sample(3, META)


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize(
    "mode, batch, per_sample",
    [("auto", 1, True), ("auto", 2, False), ("batched", 2, False), ("per_sample", 2, True)],
)
def test_generator_synthesis_on_meta(routes, mode, batch, per_sample, grad):
    """Each modulation route with each noise mode; per-sample batches render one sample at
    a time and slice the noise (``_sample_noise``)."""
    torch.manual_seed(0)
    generator = StyleGAN2Generator(**{k: v for k, v in GEN.items() if k != "type"}).to(META)
    set_modulation_mode(generator, mode)
    ws = meta_randn(batch, NUM_WS, W_DIM).requires_grad_(grad)
    for noise_mode in NOISE_MODES:
        with torch.set_grad_enabled(grad):
            image = generator.synthesis(ws, noise_mode=noise_mode)
        assert on_meta(image) and image.shape == (batch, 3, RES, RES), noise_mode
        assert image.requires_grad == grad
    assert routes and set(routes) == {per_sample}


def test_generator_latents_noise_and_layout_on_meta(routes):
    """W input, an explicit noise list (with gaps), channels_last, truncation towards the
    file's ``latent_avg`` (a buffer set on the CPU), and ``mean_latent`` (z drawn on the CPU)."""
    torch.manual_seed(0)
    generator = StyleGAN2Generator(**{k: v for k, v in GEN.items() if k != "type"})
    generator.latent_avg = torch.randn(W_DIM)  # as load_weights stores a file's mean W
    generator = generator.to(META)
    generator.set_memory_format(torch.channels_last)
    with torch.no_grad():
        noise = [meta_randn(2, 1, 4, 4)] + [None] * (generator.num_layers - 1)
        assert generator.synthesis(meta_randn(2, W_DIM), noise=noise).shape == (2, 3, RES, RES)
        w = generator.mapping(meta_randn(2, W_DIM), truncation=0.5)
        mean = generator.mean_latent(n_samples=10, chunk=4)
        image = generator.generate_from_z(meta_randn(2, W_DIM), truncation=0.7, truncation_latent=mean)
    assert on_meta(w, mean, image) and mean.shape == (W_DIM,) and image.shape == (2, 3, RES, RES)
    assert routes and not any(routes)


# --- PSP inference --------------------------------------------------------------------------
@pytest.mark.parametrize("backbone", [IRSE, RESNET], ids=["irse", "resnet34"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_psp_encode_decode_on_meta(routes, encoder, backbone):
    """Every encoder on each backbone: encode and decode, then encode with grad and bring
    the encoder's gradients back (on its device).  The decoder's own grad route is
    checked below and by the loss tests."""
    model = meta_psp(encoder, backbone).eval()
    sources = meta_randn(2, 3, 64, 64)
    with torch.no_grad():
        images = model.decode(model.encode(sources))
    assert on_meta(images) and images.shape == (2, 3, RES, RES)
    assert routes and not any(routes)
    codes = model.encode(sources)
    assert on_meta(codes) and codes.shape == (2, NUM_WS, W_DIM) and codes.requires_grad
    codes.square().mean().backward()
    assert all(on_meta(p.grad) for p in model.encoder.parameters())


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_psp_decode_noise_and_pooling_on_meta(routes, grad):
    """Each noise mode, pooled or not; inference scales and adds in place, training does not."""
    model = meta_psp().eval()
    codes = meta_randn(2, NUM_WS, W_DIM).requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        for noise_mode in NOISE_MODES:
            for resize, side in [(False, RES), (True, model.pooled_size)]:
                images = model.decode(codes, noise_mode=noise_mode, resize=resize)
                assert on_meta(images) and images.shape == (2, 3, side, side), (noise_mode, resize)
                assert images.requires_grad == grad
    assert routes and not any(routes)


def test_psp_style_mix_and_forward_modes_on_meta():
    model = meta_psp().eval()
    sources = meta_randn(2, 3, 64, 64)
    with torch.no_grad():
        mixed = model.style_mix(sources, meta_randn(2, W_DIM), layers=[4, 5], alpha=0.5)
        images = model(sources, mode="tensor")
        predicted = model(sources, mode="predict")
    assert on_meta(mixed, images, *predicted.values())
    assert mixed.shape == images.shape == predicted["images"].shape == (2, 3, RES, RES)


# --- PSP training ---------------------------------------------------------------------------
def test_every_registered_loss_is_covered():
    """A new loss in p2s.losses joins TRAIN_LOSSES, so its forward is checked on meta too."""
    registered = {name for name, cls in LOSSES.module_dict.items() if cls.__module__.startswith("p2s.losses")}
    assert registered == {cfg["type"] for cfg in TRAIN_LOSSES.values()}


@pytest.mark.parametrize("name", TRAIN_LOSSES)
def test_psp_loss_and_backward_on_meta(routes, name):
    """``PSP.loss`` with one loss (random noise, output pooled to 256), and its backward."""
    model = meta_psp(losses={name: TRAIN_LOSSES[name]}).train()
    terms = model.loss(meta_randn(2, 3, 64, 64), dict(target=meta_randn(2, 3, 256, 256)))
    (value,) = terms.values()
    assert on_meta(value) and value.shape == () and value.requires_grad
    value.backward()
    assert all(on_meta(p.grad) for p in model.encoder.parameters())
    assert on_meta(*model.last_visuals.values())
    assert routes and not any(routes)


def test_psp_train_step_with_ranger_on_meta():
    """MMEngine's iteration on a CPU batch (the data preprocessor moves it), with the
    generator trained too, then Ranger's RAdam, gradient centralization and Lookahead (k=1:
    on the first step) on meta.  RAdam's foreach route is the one PyTorch picks on CUDA (the
    single-tensor one is the CPU's, see tests/engine/test_ranger.py).  Step counters stay CPU
    tensors, as PyTorch's own optimizers keep them."""
    model = meta_psp(losses=dict(l2=TRAIN_LOSSES["l2"], w_norm=TRAIN_LOSSES["w_norm"]), train_generator=True).train()
    # pSp decodes W+ codes: the mapping network is not in its graph and gets no gradient
    named = {n: p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("decoder.style.")}
    assert any(n.startswith("decoder.") for n in named)
    stepped = list(named.values())
    wrapper = OptimWrapper(Ranger(stepped, k=1, weight_decay=0.01, foreach=True))
    batch = dict(inputs=torch.randn(2, 3, 64, 64),
                 data_samples=dict(target=torch.randn(2, 3, 256, 256), stem=["a", "b"]))
    log = model.train_step(batch, wrapper)
    assert set(log) == {"loss", "loss_l2", "loss_w_norm"} and on_meta(*log.values())
    state = wrapper.optimizer.state
    assert len(state) == len(stepped)
    for param in stepped:
        assert param.is_meta and param.grad is None  # update_params zeroed the gradients
        assert on_meta(state[param]["exp_avg"], state[param]["exp_avg_sq"], state[param]["slow_buffer"])
        assert state[param]["step"].device.type == "cpu" and float(state[param]["step"]) == 1.0


# --- Translator -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "channels_last, randomize_noise, resize_outputs, precision",
    [(True, False, False, "fp32"), (False, True, True, "tf32")],
)
def test_translator_on_meta(tiny, channels_last, randomize_noise, resize_outputs, precision):
    """Every tensor method of a Translator built for meta directly (the constructor takes a
    ``torch.device`` as it is).  bf16 cannot be checked here: torch.autocast has no meta
    device type; ``to_uint8`` and the PIL conveniences read the images on the host."""
    translator = Translator(tiny.build_tiny_model(), Inversion(), device=META, resize_outputs=resize_outputs,
                            randomize_noise=randomize_noise, precision=precision, channels_last=channels_last)
    side = translator.model.pooled_size if resize_outputs else RES
    picture = Image.fromarray(tiny.rgb_array(0, (40, 52)))
    sources = translator.prepare([picture, picture])  # made on the CPU by the task, moved
    assert on_meta(sources) and sources.shape == (2, 3, 256, 256)

    result = translator.translate(sources)
    assert on_meta(result.images, result.latents)
    assert result.images.shape == (2, 3, side, side) and result.latents.shape == (2, NUM_WS, W_DIM)
    codes = translator.encode(sources)
    decoded = translator.decode(codes)
    assert on_meta(codes, decoded.images) and decoded.images.shape == (2, 3, side, side)

    inject = translator.mixing_latents(3, np.random.RandomState(0))  # z drawn by numpy
    assert on_meta(inject) and inject.shape == (3, NUM_WS, W_DIM)
    layers = translator.task.mix_layers(NUM_WS)
    for alpha in (None, 0.5):
        mixed = translator.style_mix(sources[0], inject, layers, alpha)
        assert on_meta(mixed.images, mixed.latents) and mixed.images.shape == (3, 3, side, side)

    path = translator.interpolate(sources[0], sources[1], steps=10)  # decoded in chunks of 8
    assert on_meta(path.images, path.latents)
    assert path.images.shape == (10, 3, side, side) and path.latents.shape == (10, NUM_WS, W_DIM)


def test_edits_on_meta(tiny):
    """A direction comes from a numpy file on the CPU; the edit moves it to the codes."""
    translator = Translator(tiny.build_tiny_model(), Inversion(), device=META)
    direction = torch.from_numpy(np.ones((NUM_WS, W_DIM), np.float32))
    edits = edit_sources(translator, meta_randn(2, 3, 256, 256), direction, [-1.0, 2.0], layers=[0, 1])
    assert len(edits) == 2
    for edit in edits:
        assert on_meta(edit.images, edit.latents) and edit.images.shape == (2, 3, RES, RES)


def test_projector_fit_on_meta(tiny):
    """The whole optimisation, L2 + LPIPS into the W+ offset, Adam's steps and the loss
    record, with no host read: meta has no values, so one ``float`` or ``.item()`` on a
    device tensor per step (a GPU sync) would fail here.  ``project`` reads the losses once,
    at the end."""
    model = tiny.build_tiny_model().to(META)
    projector = Projector(model, lpips=LPIPSLoss(random_backbone=True).to(META), steps=3)
    steps = []
    codes, losses = projector._fit(meta_randn(2, 3, 256, 256), on_step=steps.append)
    assert on_meta(codes, losses) and codes.shape == (2, NUM_WS, W_DIM) and losses.shape == (3,)
    assert steps == [0, 1, 2]


# --- ReStyle --------------------------------------------------------------------------------
def meta_restyle(tiny, **options):
    cfg = tiny.tiny_model_cfg(in_channels=6)
    cfg.update(type="ReStylePSP", **options)
    torch.manual_seed(0)
    return build(MODELS, cfg, ReStylePSP).to(META)


def test_restyle_encode_and_translate_on_meta(tiny, routes):
    """Refinement steps (the average image, then reconstructions at the source size), also
    through a Translator, which encodes with them unchanged."""
    model = meta_restyle(tiny, iterations=2).eval()
    with torch.no_grad():
        codes = model.encode(meta_randn(2, 3, 64, 64))
    assert on_meta(codes) and codes.shape == (2, NUM_WS, W_DIM)
    translator = Translator(model, Inversion(), device=META)
    result = translator.translate(meta_randn(2, 3, 256, 256))
    assert on_meta(result.images, result.latents) and result.images.shape == (2, 3, RES, RES)
    assert set(routes) == {True, False}  # the average image is a batch of one; the refinements are batched


def test_restyle_loss_and_backward_on_meta(tiny):
    model = meta_restyle(tiny, train_iterations=2, losses=dict(l2=TRAIN_LOSSES["l2"], w_norm=TRAIN_LOSSES["w_norm"]))
    model.train()
    terms = model.loss(meta_randn(2, 3, 64, 64), dict(target=meta_randn(2, 3, 256, 256)))
    assert set(terms) == {"loss_l2", "loss_w_norm"} and on_meta(*terms.values())
    sum(terms.values()).backward()
    assert all(on_meta(p.grad) for p in model.encoder.parameters())


# --- StyleGAN2 GAN --------------------------------------------------------------------------
def meta_gan(monkeypatch):
    """The tiny GAN on meta, with the host-side pieces meta cannot run stood in for.

    ``rng()`` makes a ``torch.Generator`` on the model's device, and there is none for meta:
    a CPU one is handed out instead (meta factories ignore it).  Nothing else is stood in:
    the step counters stay on the CPU when the model moves (the R1 rhythm and the EMA ramp
    read them every iteration), and off the CPU the style-mixing draw stays on the device.
    """
    torch.manual_seed(0)
    cfg = dict(type="StyleGAN2GAN", generator=GEN, discriminator=dict(channel_max=16, channel_multiplier=1),
               r1_gamma=1.0, r1_interval=2, ema_kimg=0.01, ema_rampup=0.5, num_samples=4, mixing_prob=0.9)
    model = build(MODELS, cfg).to(META)
    assert model.d_steps.device.type == model.images_seen.device.type == "cpu"
    generator = torch.Generator().manual_seed(0)
    monkeypatch.setattr(model, "rng", lambda: generator)
    return model


def test_stylegan2_gan_train_step_on_meta(monkeypatch):
    """D step, lazy R1 (a double backward), G step and the EMA update on meta.  Every logged
    value is on the model's device: DeferredRuntimeInfoHook stacks them for one copy."""
    model = meta_gan(monkeypatch)
    adam = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=2e-3, betas=(0.0, 0.99)))
    optim = GANOptimWrapperConstructor(dict(generator=adam, discriminator=adam))(model)
    real = torch.rand(4, 3, RES, RES) * 2 - 1  # a CPU batch, as the loader gives it
    log = model.train_step(dict(inputs=real), optim)
    assert {"loss_d", "loss_r1", "loss_g", "ema_beta"} <= set(log)
    assert all(value.shape == () for value in log.values())
    assert not {k: v.device for k, v in log.items() if not on_meta(v)}
    assert on_meta(*model.g_ema.parameters(), *model.last_visuals.values())
    assert (int(model.d_steps), int(model.images_seen)) == (1, 4)  # host counters, read without a sync


def test_stylegan2_gan_sampling_on_meta(monkeypatch):
    """Fixed validation latents (drawn on the CPU, moved) and random ones from ``rng()``.
    ``val_step`` reads its scores on the host (``float``), which meta cannot."""
    model = meta_gan(monkeypatch).eval()
    images = model.sample()
    drawn = model(meta_randn(3, 3, RES, RES), mode="predict")
    ws = model.sample_ws(3, mixing=False)
    mixed = model.sample_ws(3)  # the draw stays on the device: always W+
    assert on_meta(images, ws, mixed, *drawn.values()) and images.shape == (4, 3, RES, RES)
    assert drawn["images"].shape == (3, 3, RES, RES) and ws.shape == (3, W_DIM)
    assert mixed.shape == (3, model.generator.num_ws, W_DIM)


# --- logging ------------------------------------------------------------------------------
def test_runtime_info_hook_reads_host_and_device_scalars(monkeypatch):
    """A model may log a CPU scalar next to its device losses (the GAN's ``ema_beta`` was
    one): stacking them into one tensor fails across devices.  Meta values cannot be read,
    so ``tolist`` hands zeros for them; it also counts the copies (one per device)."""
    runner = SimpleNamespace(iter=0, message_hub=MessageHub.get_instance("device_placement"), hooks=[])
    hook = DeferredRuntimeInfoHook(flush_interval=100)
    copies: list[str] = []
    tolist = torch.Tensor.tolist

    def counted(self):
        copies.append(self.device.type)
        return [0.0] * self.numel() if self.is_meta else tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counted)
    for i in range(2):
        runner.iter = i
        outputs = dict(loss=torch.ones((), device=META), beta=torch.tensor(0.25 * (i + 1)), note=1.5)
        hook.after_train_iter(runner, i, outputs=outputs)
    hook.flush(runner)
    assert sorted(copies) == ["cpu", "meta"]
    history = runner.message_hub.log_scalars
    assert history["train/beta"].data[0].tolist() == [0.25, 0.5]
    assert history["train/loss"].data[0].tolist() == [0.0, 0.0]
    assert history["train/note"].data[0].tolist() == [1.5, 1.5]
