"""Unconditional StyleGAN2 training (generator + discriminator + EMA generator).

``StyleGAN2GAN.train_step`` runs one discriminator step (with lazy R1 every
``r1_interval`` steps), one generator step with style mixing, then updates ``g_ema``.
It needs an :class:`~mmengine.optim.OptimWrapperDict` with ``generator`` and
``discriminator`` entries, which :class:`GANOptimWrapperConstructor` builds from::

    optim_wrapper = dict(
        constructor='GANOptimWrapperConstructor',
        generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002, betas=(0.0, 0.99))),
        discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.002 * 16 / 17,
                                                              betas=(0.0, 0.99 ** (16 / 17)))))

(MMEngine 0.10.7 ships no multi-optimizer constructor.)  Path-length regularisation is
not implemented.  The model runs in one process: DDP (``--launcher pytorch``) would call
``forward(mode='loss')``, which a two-optimizer GAN cannot serve, and says so.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from p2s.generators.base import BaseGenerator
from p2s.generators.stylegan2 import noise_size
import p2s.generators.discriminator  # noqa: F401  (registers StyleGAN2Discriminator in MODELS)
from p2s.models.preprocessing import data_preprocessor_config
from p2s.registry import GENERATORS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from p2s.utils.build import build
from p2s.utils.errors import P2SError


@MODELS.register_module()
class StyleGAN2GAN(BaseModel):
    """StyleGAN2 with non-saturating logistic loss, lazy R1, style mixing and an EMA generator.

    Args:
        generator: generator config (``GENERATORS``, e.g. a reduced-width ``StyleGAN2Generator``).
        discriminator: discriminator config (``MODELS``; default ``StyleGAN2Discriminator``
            at the generator's resolution).
        r1_gamma: R1 weight gamma (penalty ``gamma / 2 * E|grad D(real)|^2``).
        r1_interval: apply R1 every this many discriminator steps (lazy regularisation;
            the penalty is multiplied by the interval).  0 disables R1.
        mixing_prob: probability that a batch uses two latents with a random crossover row.
        ema_kimg: half-life of the ``g_ema`` average in thousands of images (rosinality:
            10, i.e. ``0.5 ** (32 / 10_000)`` per batch of 32).
        ema_rampup: if set, the half-life is at most ``ema_rampup`` x images seen (StyleGAN2-ADA).
        num_samples: fixed latents drawn for validation samples.
        sample_seed: seed of those latents.
        train_noise_mode: generator noise while training (``random``).
    """

    def __init__(
        self,
        generator: dict,
        discriminator: dict | None = None,
        r1_gamma: float = 10.0,
        r1_interval: int = 16,
        mixing_prob: float = 0.9,
        ema_kimg: float = 10.0,
        ema_rampup: float | None = None,
        num_samples: int = 16,
        sample_seed: int = 0,
        train_noise_mode: str = "random",
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor_config(data_preprocessor), init_cfg=init_cfg)
        if r1_gamma < 0 or r1_interval < 0 or not 0 <= mixing_prob <= 1 or ema_kimg <= 0:
            raise P2SError(
                f"StyleGAN2GAN needs r1_gamma >= 0, r1_interval >= 0, 0 <= mixing_prob <= 1 and "
                f"ema_kimg > 0 (got {r1_gamma}, {r1_interval}, {mixing_prob}, {ema_kimg})"
            )
        self.generator = build(GENERATORS, generator, BaseGenerator)
        disc = dict(type="StyleGAN2Discriminator", resolution=self.generator.resolution)
        disc.update(discriminator or {})
        self.discriminator = build(MODELS, disc, nn.Module)
        if getattr(self.discriminator, "resolution", self.generator.resolution) != self.generator.resolution:
            raise P2SError(
                f"discriminator resolution {self.discriminator.resolution} differs from the "
                f"generator's {self.generator.resolution}"
            )
        self.g_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)
        self.mixing_prob = float(mixing_prob)
        self.ema_kimg, self.ema_rampup = float(ema_kimg), ema_rampup
        self.num_samples, self.sample_seed = int(num_samples), int(sample_seed)
        self.train_noise_mode = train_noise_mode
        # counters live in the state dict, so a resumed run keeps the R1 rhythm and EMA ramp
        self.register_buffer("d_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.long))
        # latents, mixing and noise come from the model's own generator (seeded from the
        # global stream at build time, saved with the weights): data loading, which draws
        # from the global stream, cannot shift them, and --resume continues them exactly
        self._seed = int(torch.randint(0, 2**62, (), device="cpu").item())
        self._rng: torch.Generator | None = None
        self._rng_pending: tuple[str, torch.Tensor] | None = None
        self.last_visuals: dict[str, torch.Tensor] = {}
        self.source_value_range = (-1.0, 1.0)

    def train(self, mode: bool = True) -> StyleGAN2GAN:
        super().train(mode)
        self.g_ema.eval()
        return self

    #: buffers that stay on the CPU when the model moves: every iteration reads them on
    #: the host (the R1 rhythm, the EMA ramp), and a GPU counter would be a sync each time
    HOST_COUNTERS = ("d_steps", "images_seen")

    def _apply(self, fn, recurse: bool = True):
        counters = {name: self._buffers[name] for name in self.HOST_COUNTERS}
        super()._apply(fn, recurse)
        self._buffers.update(counters)
        return self

    # --- randomness -----------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def rng(self) -> torch.Generator:
        """The model's random generator, on the model's device."""
        device = self._device
        if self._rng is None or self._rng.device != device:
            gen = torch.Generator(device=device)
            pending = self._rng_pending
            if pending is not None and pending[0] == device.type:
                gen.set_state(pending[1])
            elif self._rng is not None:  # moved to another device: continue from the old stream
                gen.manual_seed(int(torch.randint(0, 2**62, (), generator=self._rng, device=self._rng.device)))
            else:
                gen.manual_seed(self._seed)
            self._rng, self._rng_pending = gen, None
        return self._rng

    _DEVICE_CODES = {"cpu": 1, "cuda": 2}

    def get_extra_state(self) -> torch.Tensor:
        """``uint8`` tensor: seed (8 bytes), device code (0: not started), generator state."""
        if self._rng is not None and self._rng.device.type in self._DEVICE_CODES:
            kind, state = self._DEVICE_CODES[self._rng.device.type], self._rng.get_state()
        elif self._rng_pending is not None:
            kind, state = self._DEVICE_CODES[self._rng_pending[0]], self._rng_pending[1]
        else:
            kind, state = 0, torch.zeros(0, dtype=torch.uint8)
        header = torch.tensor([*self._seed.to_bytes(8, "little"), kind], dtype=torch.uint8)
        return torch.cat([header, state.cpu().to(torch.uint8)])

    def set_extra_state(self, state) -> None:
        if not isinstance(state, torch.Tensor) or state.numel() < 9:
            return
        data = state.cpu().to(torch.uint8)
        self._seed = int.from_bytes(bytes(data[:8].tolist()), "little")
        devices = {code: name for name, code in self._DEVICE_CODES.items()}
        kind = int(data[8])
        self._rng = None
        self._rng_pending = (devices[kind], data[9:].clone()) if kind in devices else None

    # --- sampling -------------------------------------------------------------------
    def sample_ws(self, n: int, generator: BaseGenerator | None = None, mixing: bool = True) -> torch.Tensor:
        """Mapped latents for ``n`` random ``z``: ``[n, w_dim]``, or W+ ``[n, num_ws, w_dim]``
        with rows ``< cut`` from one ``z`` and the rest from another (style mixing)."""
        g = generator or self.generator
        rng, device = self.rng(), self._device
        z = torch.randn(2, n, g.w_dim, generator=rng, device=device)
        if not (mixing and self.mixing_prob > 0):
            return g.mapping(z[0])
        if device.type != "cpu":
            return self._mixed_on_device(g, z, rng)
        if float(torch.rand((), generator=rng, device=device)) < self.mixing_prob:
            cut = int(torch.randint(1, g.num_ws, (), generator=rng, device=device))
            w1, w2 = g.mapping(z[0]), g.mapping(z[1])
            return torch.cat([w1[:, None].expand(-1, cut, -1), w2[:, None].expand(-1, g.num_ws - cut, -1)], 1)
        return g.mapping(z[0])

    def _mixed_on_device(self, g: BaseGenerator, z: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The style-mixing draw without reading it on the host (a sync per call on a GPU):
        rows ``< cut`` from ``z[0]``'s W and the rest from ``z[1]``'s, ``cut = num_ws`` (no
        mixing) with probability ``1 - mixing_prob``; the cut is drawn every time."""
        mix = torch.rand((), generator=rng, device=z.device) < self.mixing_prob
        cut = torch.randint(1, g.num_ws, (), generator=rng, device=z.device).where(mix, g.num_ws)
        first = torch.arange(g.num_ws, device=z.device) < cut
        return torch.where(first[None, :, None], g.mapping(z[0])[:, None], g.mapping(z[1])[:, None])

    def _synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        """Training images of ``ws`` (per-layer noise from :meth:`rng` in ``random`` mode)."""
        g = self.generator
        if self.train_noise_mode != "random":
            return g.synthesis(ws, noise_mode=self.train_noise_mode)
        rng, n = self.rng(), ws.shape[0]
        noise = [torch.randn(n, 1, noise_size(i), noise_size(i), generator=rng, device=ws.device, dtype=ws.dtype)
                 for i in range(g.num_layers)]
        return g.synthesis(ws, noise=noise)

    def fixed_latents(self) -> torch.Tensor:
        """The ``num_samples`` validation ``z``, the same in every call."""
        rng = torch.Generator().manual_seed(self.sample_seed)
        return torch.randn(self.num_samples, self.g_ema.w_dim, generator=rng).to(self._device)

    @torch.no_grad()
    def sample(self, z: torch.Tensor | None = None, noise_mode: str = "const") -> torch.Tensor:
        """``g_ema`` images ``[N, 3, R, R]`` for ``z`` (default: the fixed latents)."""
        z = self.fixed_latents() if z is None else z.to(self._device)
        return self.g_ema.synthesis(self.g_ema.mapping(z), noise_mode=noise_mode)

    # --- training -------------------------------------------------------------------
    def train_step(self, data, optim_wrapper: OptimWrapperDict) -> dict[str, torch.Tensor]:
        """One discriminator step (+ lazy R1), one generator step, one EMA update."""
        names = set(optim_wrapper.keys()) if isinstance(optim_wrapper, OptimWrapperDict) else set()
        if not {"generator", "discriminator"} <= names:
            raise P2SError(
                "StyleGAN2GAN needs optim_wrapper with 'generator' and 'discriminator' entries and "
                "constructor='GANOptimWrapperConstructor' (see configs/stylegan2/)"
            )
        data = self.data_preprocessor(data, True)
        real = data["inputs"]
        n = real.shape[0]
        g_optim, d_optim = optim_wrapper["generator"], optim_wrapper["discriminator"]
        log: dict[str, torch.Tensor] = {}

        # discriminator: softplus(D(fake)) + softplus(-D(real))
        self.discriminator.requires_grad_(True)
        with d_optim.optim_context(self.discriminator):
            with torch.no_grad():
                fake = self._synthesize(self.sample_ws(n))
            fake_pred = self.discriminator(fake)
            real_pred = self.discriminator(real)
            loss_d = F.softplus(fake_pred).mean() + F.softplus(-real_pred).mean()
        d_optim.update_params(loss_d)
        log.update(loss_d=loss_d.detach(), score_real=real_pred.mean().detach(), score_fake=fake_pred.mean().detach())

        # lazy R1 on real images, scaled by the interval
        if self.r1_interval > 0 and self.r1_gamma > 0 and int(self.d_steps) % self.r1_interval == 0:
            real_r1 = real.detach().requires_grad_(True)
            with d_optim.optim_context(self.discriminator):
                pred = self.discriminator(real_r1)
                (grad,) = torch.autograd.grad(pred.sum(), real_r1, create_graph=True)
                penalty = grad.square().flatten(1).sum(1).mean()
                loss_r1 = self.r1_gamma / 2 * penalty * self.r1_interval + 0 * pred[0, 0]
            d_optim.update_params(loss_r1)
            log.update(loss_r1=loss_r1.detach(), r1_penalty=penalty.detach())
        self.d_steps += 1

        # generator: softplus(-D(G(z))), with style mixing
        self.discriminator.requires_grad_(False)
        with g_optim.optim_context(self.generator):
            fake = self._synthesize(self.sample_ws(n))
            loss_g = F.softplus(-self.discriminator(fake)).mean()
        g_optim.update_params(loss_g)
        self.discriminator.requires_grad_(True)
        log["loss_g"] = loss_g.detach()

        self.images_seen += n
        # on the losses' device, as the runtime-info hook stacks every value (a fill, no host copy)
        log["ema_beta"] = torch.full((), self.update_ema(n), device=loss_g.device)
        self.last_visuals = dict(output=fake[:8].detach(), target=real[:8].detach())
        return log

    def ema_beta(self, batch_size: int) -> float:
        """Per-step EMA decay ``0.5 ** (batch / half_life_images)``."""
        half_life = self.ema_kimg * 1000.0
        if self.ema_rampup is not None:
            half_life = min(half_life, float(self.images_seen) * self.ema_rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update_ema(self, batch_size: int) -> float:
        """``g_ema <- beta g_ema + (1 - beta) generator``; buffers (noise) are copied."""
        beta = self.ema_beta(batch_size)
        # foreach: a few kernel launches for the whole generator, not one per tensor
        torch._foreach_lerp_(list(self.g_ema.parameters()), list(self.generator.parameters()), 1.0 - beta)
        torch._foreach_copy_(list(self.g_ema.buffers()), list(self.generator.buffers()))
        return beta

    # --- validation -----------------------------------------------------------------
    @torch.no_grad()
    def val_step(self, data) -> list[dict]:
        """``g_ema`` samples of the fixed latents (``last_visuals``) and cheap statistics:
        mean D scores of real and generated images, and the gap between their colour
        means and standard deviations (``colour_gap``, in [-1, 1] units)."""
        data = self.data_preprocessor(data, False)
        real = data["inputs"]
        fake = self.sample()
        d_real = float(self.discriminator(real).mean())
        d_fake = float(self.discriminator(fake).mean())
        gap = (fake.mean((0, 2, 3)) - real.mean((0, 2, 3))).abs().mean() + \
              (fake.std((0, 2, 3)) - real.std((0, 2, 3))).abs().mean()
        self.last_visuals = dict(output=fake[:8], target=real[:8])
        return [dict(losses=dict(score_real=d_real, score_fake=d_fake, colour_gap=float(gap)), batch_size=len(real))]

    test_step = val_step

    @classmethod
    def val_terms(cls, model_cfg: dict) -> list[str]:
        """The keys :meth:`val_step` returns (whatever the config), for the ``save_best`` check."""
        return ["score_real", "score_fake", "colour_gap"]

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = "tensor"):
        """``tensor``/``predict``: ``g_ema`` images for latents ``inputs`` ``[N, w_dim]`` (or
        for N random latents when ``inputs`` is a batch of images)."""
        if mode == "loss":
            raise P2SError(
                "StyleGAN2GAN trains through its own train_step (two optimizers); forward(mode='loss') "
                "is not supported, so it cannot run under DDP (--launcher pytorch)"
            )
        if mode not in ("tensor", "predict"):
            raise P2SError(f"StyleGAN2GAN.forward mode must be 'tensor' or 'predict', got {mode!r}")
        z = inputs if inputs.ndim == 2 else torch.randn(len(inputs), self.g_ema.w_dim, generator=self.rng(),
                                                        device=self._device)
        images = self.sample(z)
        return images if mode == "tensor" else dict(images=images, latents=z)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GANOptimWrapperConstructor:
    """One optimizer wrapper per named sub-module of the model, as an ``OptimWrapperDict``.

    Every key of the ``optim_wrapper`` config other than ``constructor`` (and
    ``paramwise_cfg``, applied to all) names a sub-module (``generator``,
    ``discriminator``) and holds that wrapper's config, built by MMEngine's
    ``DefaultOptimWrapperConstructor`` on the sub-module's parameters.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        if "type" in optim_wrapper_cfg or "optimizer" in optim_wrapper_cfg:
            raise P2SError(
                "GANOptimWrapperConstructor takes one wrapper per sub-module (optim_wrapper.generator, "
                "optim_wrapper.discriminator), not a top-level type/optimizer (p2s train --amp sets each one)"
            )
        if not optim_wrapper_cfg or not all(isinstance(v, dict) for v in optim_wrapper_cfg.values()):
            raise P2SError(
                "GANOptimWrapperConstructor expects optim_wrapper = dict(constructor=..., "
                "generator=dict(type='OptimWrapper', optimizer=...), discriminator=dict(...))"
            )
        self.cfgs = {name: dict(cfg) for name, cfg in optim_wrapper_cfg.items()}
        self.paramwise_cfg = paramwise_cfg

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = model.module if is_model_wrapper(model) else model
        wrappers = {}
        for name, cfg in self.cfgs.items():
            module = getattr(model, name, None)
            if not isinstance(module, nn.Module):
                raise P2SError(f"optim_wrapper.{name}: {type(model).__name__} has no sub-module '{name}'")
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, self.paramwise_cfg)(module)
        return OptimWrapperDict(**wrappers)


def lazy_regularization_ratio(interval: int) -> float:
    """``interval / (interval + 1)``: scale lr by it and betas to its power (StyleGAN2)."""
    return interval / (interval + 1) if interval > 0 else 1.0


__all__ = ["GANOptimWrapperConstructor", "StyleGAN2GAN", "lazy_regularization_ratio"]
