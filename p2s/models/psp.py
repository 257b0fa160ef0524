"""The pSp model: an encoder into W+ of a frozen StyleGAN2 generator."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import nn

from p2s.encoders.base import BaseEncoder
from p2s.generators.base import BaseGenerator
from p2s.losses.base import BaseLoss, configured_loss_name
from p2s.models.preprocessing import data_preprocessor_config
from p2s.registry import ENCODERS, GENERATORS, LOSSES, MODELS
from p2s.utils.build import build
from p2s.utils.errors import P2SError
from p2s.utils.wplus import check_rows

#: default size generator images are pooled to for losses and ``resize_outputs`` (pSp's face_pool)
POOLED_SIZE = 256


@MODELS.register_module()
class PSP(BaseModel):
    """Encoder + generator (``decoder``) + ``latent_avg``, with pSp's module names so
    official checkpoints map one to one.

    Args:
        encoder: encoder config; ``num_ws`` and ``w_dim`` come from the generator.
        generator: generator config (its weights, if any, are loaded by the generator).
        start_from_latent_avg: add ``latent_avg`` to the codes, so the encoder learns
            a residual around the average face (all released models do).
        latent_avg_samples: how many mapping-network samples estimate ``latent_avg``
            when the generator file carries none (pSp uses 100,000).
        losses: name -> loss config (registry ``LOSSES``); needed for training only.
        train_generator: also train the generator (pSp's ``train_decoder``); frozen
            and in eval mode otherwise.
        train_noise_mode: generator noise in training (``random`` as pSp).
        source_value_range: value range of the encoder input, for image grids.
        pooled_size: side generator images are average-pooled to for losses and resized
            outputs (pSp: 256; a 64 px domain uses 64).
        data_preprocessor: MMEngine data preprocessor config (moves batches to device;
            default: asynchronous copies, see :mod:`p2s.models.preprocessing`).
    """

    #: config options built into components (checked before anything is built)
    component_options = {"encoder": ENCODERS, "generator": GENERATORS}
    named_component_options = {"losses": LOSSES}

    def __init__(
        self,
        encoder: dict,
        generator: dict,
        start_from_latent_avg: bool = True,
        latent_avg_samples: int = 100_000,
        losses: dict[str, dict] | None = None,
        train_generator: bool = False,
        train_noise_mode: str = "random",
        source_value_range: tuple[float, float] = (-1.0, 1.0),
        pooled_size: int = POOLED_SIZE,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor_config(data_preprocessor), init_cfg=init_cfg)
        self.decoder = build(GENERATORS, generator, BaseGenerator)
        self.encoder = build(
            ENCODERS,
            encoder,
            BaseEncoder,
            default_args=dict(num_ws=self.decoder.num_ws, w_dim=self.decoder.w_dim),
        )
        if (self.encoder.num_ws, self.encoder.w_dim) != (self.decoder.num_ws, self.decoder.w_dim):
            raise P2SError(
                f"encoder makes {self.encoder.num_ws}x{self.encoder.w_dim} codes but the "
                f"generator takes {self.decoder.num_ws}x{self.decoder.w_dim}"
            )
        if not isinstance(start_from_latent_avg, bool):  # "maybe" would count as True
            raise P2SError(f"model.start_from_latent_avg must be True or False, got {start_from_latent_avg!r}")
        self.start_from_latent_avg = start_from_latent_avg
        self.register_buffer("latent_avg", torch.zeros(self.decoder.num_ws, self.decoder.w_dim))
        if start_from_latent_avg:
            self._init_latent_avg(latent_avg_samples)
        self.pooled_size = int(pooled_size)
        self.face_pool = nn.AdaptiveAvgPool2d((self.pooled_size, self.pooled_size))
        if losses is not None and not isinstance(losses, dict):
            raise P2SError("model.losses must be a dict of loss configs (name -> dict(type=...)), "
                           f"got a {type(losses).__name__}")
        self.losses = nn.ModuleDict(
            {name: build(LOSSES, cfg, BaseLoss) for name, cfg in (losses or {}).items()}
        )
        self.train_generator = train_generator
        self.train_noise_mode = train_noise_mode
        self.source_value_range = tuple(source_value_range)
        self.last_visuals: dict[str, torch.Tensor] = {}
        if not train_generator:
            self.decoder.requires_grad_(False)
        # loss networks (LPIPS, IR-SE50, MoCo) come from their own files: keep them out
        # of checkpoints, and do not expect them when loading one
        self._register_state_dict_hook(_drop_loss_networks)
        self.register_load_state_dict_post_hook(_ignore_missing_loss_networks)

    def train(self, mode: bool = True) -> PSP:
        """Train the encoder; a frozen generator stays in eval mode."""
        super().train(mode)
        if not self.train_generator:
            self.decoder.eval()
        return self

    @property
    def num_ws(self) -> int:
        return self.decoder.num_ws

    @property
    def learn_in_w(self) -> bool:
        return self.encoder.learns_in_w

    def _init_latent_avg(self, samples: int) -> None:
        """Use the generator file's mean W, or estimate one when the file had none."""
        stored = getattr(self.decoder, "file_latent_avg", None)
        if stored is not None:
            self.set_latent_avg(stored)
        elif getattr(self.decoder, "weights_path", None):
            print_log(
                f"{self.decoder.weights_path} carries no latent_avg: estimating it as the mean "
                f"of {samples:,} mapping-network samples (seed 0)",
                logger="current",
            )
            self.set_latent_avg(self.decoder.mean_latent(samples))

    def set_latent_avg(self, latent_avg: torch.Tensor) -> None:
        """Store ``latent_avg`` in any official shape: ``[num_ws, w]``, ``[1, w]`` or ``[w]``."""
        self.latent_avg.copy_(expand_latent_avg(latent_avg, self.num_ws, self.decoder.w_dim))

    # --- inference ---------------------------------------------------------------
    def encode(self, sources: torch.Tensor) -> torch.Tensor:
        """Codes fed to the generator, ``[N, num_ws, w_dim]``, ``latent_avg`` included."""
        codes = self.encoder(sources)
        if codes.ndim == 2:
            codes = codes.unsqueeze(1).expand(-1, self.num_ws, -1)
        if self.start_from_latent_avg:
            codes = codes + self.latent_avg.unsqueeze(0)
        return codes

    def decode(self, codes: torch.Tensor, noise_mode: str = "const", resize: bool = False) -> torch.Tensor:
        """Generator image for W+ ``codes``; pooled to ``pooled_size`` when ``resize``."""
        images = self.decoder.synthesis(codes, noise_mode=noise_mode)
        return self.face_pool(images) if resize else images

    @staticmethod
    def mix_codes(
        codes: torch.Tensor,
        inject: torch.Tensor,
        layers: Sequence[int],
        alpha: float | None = None,
    ) -> torch.Tensor:
        """Replace (or blend by ``alpha``) the W+ rows ``layers`` of ``codes`` with ``inject``.

        This is pSp's multi-modal synthesis: the rows come from another latent, e.g.
        the mapping network's W of random z, so coarse structure stays and style varies.
        """
        num_ws = codes.shape[1]
        index = check_rows(layers, num_ws, "mix layers")
        if inject.ndim == 2:
            inject = inject.unsqueeze(1).expand(-1, num_ws, -1)
        mixed = codes.clone()
        if alpha is None:
            mixed[:, index] = inject[:, index].to(mixed)
        else:
            mixed[:, index] = alpha * inject[:, index].to(mixed) + (1 - alpha) * codes[:, index]
        return mixed

    def style_mix(
        self,
        sources: torch.Tensor,
        inject: torch.Tensor,
        layers: Sequence[int],
        alpha: float | None = None,
        noise_mode: str = "const",
        resize: bool = False,
    ) -> torch.Tensor:
        """Translate ``sources`` with rows ``layers`` taken from the W+ latent ``inject``."""
        codes = self.mix_codes(self.encode(sources), inject, layers, alpha)
        return self.decode(codes, noise_mode=noise_mode, resize=resize)

    # --- training -------------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples: dict, noise_mode: str | None = None) -> dict:
        """Weighted loss terms (``loss_*``) of a batch; losses see the output pooled to ``pooled_size``."""
        if not self.losses:
            raise P2SError("this PSP model has no losses configured (model.losses) and cannot train")
        target = data_samples["target"]
        codes = self.encode(inputs)
        images = self.decode(codes, noise_mode=noise_mode or self.train_noise_mode)
        pred = images if images.shape[-1] == self.pooled_size else self.face_pool(images)
        terms = {
            loss.loss_name: loss(pred, target, source=inputs, codes=codes, latent_avg=self.latent_avg)
            for loss in self.losses.values()
        }
        self.last_visuals = dict(
            source=inputs[:4].detach(), output=pred[:4].detach(), target=target[:4].detach()
        )
        return terms

    @torch.no_grad()
    def val_step(self, data: dict) -> list[dict]:
        """Validation losses of a batch (stored noise, so validation is deterministic)."""
        data = self.data_preprocessor(data, False)
        terms = self.loss(data["inputs"], data["data_samples"], noise_mode="const")
        values = {name: float(value) for name, value in terms.items()}
        values["loss"] = sum(values.values())
        return [dict(losses=values, batch_size=len(data["inputs"]))]

    test_step = val_step

    @classmethod
    def val_terms(cls, model_cfg: dict) -> list[str] | None:
        """The keys :meth:`val_step` returns for a model config (the total ``loss`` and each
        loss's ``loss_name``), so ``save_best`` is checked before training starts; None
        when a loss's name cannot be told from the config."""
        losses = model_cfg.get("losses")
        if not isinstance(losses, dict):
            return None
        names = [configured_loss_name(loss) for loss in losses.values()]
        return None if None in names else ["loss", *names]

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = "tensor"):
        """MMEngine entry point: ``loss`` returns the loss terms, ``tensor`` images,
        ``predict`` images and codes."""
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "tensor":
            return self.decode(self.encode(inputs))
        if mode == "predict":
            codes = self.encode(inputs)
            return dict(images=self.decode(codes), latents=codes)
        raise P2SError(f"PSP.forward mode must be 'loss', 'tensor' or 'predict', got {mode!r}")


def _drop_loss_networks(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "losses.")]:
        del state_dict[key]


def _ignore_missing_loss_networks(module, incompatible_keys) -> None:
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith("losses.")]


def expand_latent_avg(latent_avg: torch.Tensor, num_ws: int, w_dim: int) -> torch.Tensor:
    """Bring a stored mean latent to ``[num_ws, w_dim]``.

    Official files hold ``[num_ws, w]`` (W+ encoders; rows used as stored), ``[1, w]``
    (``learn_in_w``) or ``[w]`` (estimated in training); the last two broadcast to every
    row, exactly as the official forward adds them.
    """
    latent_avg = torch.as_tensor(latent_avg, dtype=torch.float32).detach()
    rows = latent_avg.reshape(-1, latent_avg.shape[-1])
    if rows.shape[-1] != w_dim or rows.shape[0] not in (1, num_ws):
        raise P2SError(
            f"latent_avg of shape {list(latent_avg.shape)} fits neither [{num_ws}, {w_dim}], "
            f"[1, {w_dim}] nor [{w_dim}]"
        )
    return rows.expand(num_ws, w_dim).clone()
