"""StyleGAN2 generator in pure PyTorch, with rosinality's parameter layout.

Loads ``stylegan2-ffhq-config-f.pt`` (``g_ema``) and the ``decoder.*`` part of pSp
checkpoints strictly; see ``shared/formats/README.md`` (section StyleGAN2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from p2s.generators.base import BaseGenerator, check_shape
from p2s.generators.layers import (
    ConstantInput,
    EqualLinear,
    ModulatedConv2d,
    PixelNorm,
    StyledConv,
    ToRGB,
)
from p2s.registry import GENERATORS
from p2s.utils.checkpoint import check_finite, load_checkpoint_file, load_state_dict_strict
from p2s.utils.errors import CheckpointMismatchError

#: channels per resolution at ``channel_max=512`` (multiplied by ``channel_multiplier``
#: from 64 px up); config-f uses channel_multiplier=2.
BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
NOISE_MODES = ("const", "random", "none")
#: the entry where p2s-written generator files record their constructor options
STORED_CONFIG_KEY = "p2s_generator"
HOW_TO_GET = (
    "Put there the generator the config names, in rosinality's layout: for FFHQ "
    "stylegan2-ffhq-config-f.pt (the file pSp links); an NVlabs StyleGAN2-ADA .pkl (AFHQ cat, dog) "
    "converts with p2s convert ada-pkl; official TF weights with rosinality's convert_weight.py "
    "(the config's comment names its generator). Nothing is downloaded."
)


def _check_resolution(resolution: int) -> int:
    """Accept a power of two in 8..1024 (the 4x4 level always exists)."""
    valid = (
        isinstance(resolution, int)
        and not isinstance(resolution, bool)
        and 8 <= resolution <= 1024
        and resolution & (resolution - 1) == 0
    )
    if not valid:
        raise ValueError(
            f"StyleGAN2 resolution must be a power of two between 8 and 1024 "
            f"(8, 16, ..., 1024), got {resolution!r}"
        )
    return int(math.log2(resolution))


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"StyleGAN2 {name} must be > 0, got {value!r}")


def channel_table(channel_multiplier: int = 2, channel_max: int = 512) -> dict[int, int]:
    """Channels per resolution; ``channel_max`` scales the whole table (tiny test models)."""
    table = {}
    for res, base in BASE_CHANNELS.items():
        width = base if res <= 32 else base * channel_multiplier
        table[res] = max(1, width * channel_max // 512)
    return table


def _sample_noise(noises: Sequence[torch.Tensor], index: int, batch: int) -> list[torch.Tensor]:
    """Sample ``index``'s share of per-layer noise (shared ``[1, ...]`` noise as is)."""
    return [noise[index : index + 1] if noise.shape[0] == batch else noise for noise in noises]


def noise_size(index: int) -> int:
    """Side of ``noises.noise_{index}``: conv1 at 4x4, then two layers per resolution."""
    return 2 ** ((index + 5) // 2)


@GENERATORS.register_module()
class StyleGAN2Generator(BaseGenerator):
    """StyleGAN2 (config-f by default) generator, rosinality state-dict layout.

    Args:
        resolution: output side, a power of two in 8..1024.
        w_dim: latent size (``style_dim``); 512 for the released models.
        n_mlp: depth of the mapping MLP.
        channel_multiplier: 2 for config-f.
        lr_mlp: learning-rate multiplier of the mapping MLP.
        channel_max: scales the channel table (512 = the released models).
        weights: optional weight file, loaded strictly (see :meth:`load_weights`).
        weights_key: entry of the file holding the state dict.
    """

    def __init__(
        self,
        resolution: int = 1024,
        w_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        lr_mlp: float = 0.01,
        channel_max: int = 512,
        weights: str | os.PathLike | None = None,
        weights_key: str = "g_ema",
    ) -> None:
        super().__init__()
        log_res = _check_resolution(resolution)
        _check_positive(
            w_dim=w_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
            lr_mlp=lr_mlp, channel_max=channel_max,
        )
        self.resolution = resolution
        self.w_dim = w_dim
        #: the architecture options, to compare with those a weights file records
        self.architecture = dict(resolution=resolution, w_dim=w_dim, n_mlp=n_mlp,
                                 channel_multiplier=channel_multiplier, lr_mlp=lr_mlp, channel_max=channel_max)
        self.num_ws = 2 * log_res - 2
        self.num_layers = (log_res - 2) * 2 + 1
        self.channels = channel_table(channel_multiplier, channel_max)

        mlp = [
            EqualLinear(w_dim, w_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)
        ]
        self.style = nn.Sequential(PixelNorm(), *mlp)
        ch4 = self.channels[4]
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, 3, w_dim)
        self.to_rgb1 = ToRGB(ch4, w_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = ch4
        for level in range(3, log_res + 1):
            out_ch = self.channels[2**level]
            self.convs.append(StyledConv(in_ch, out_ch, 3, w_dim, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, 3, w_dim))
            self.to_rgbs.append(ToRGB(out_ch, w_dim))
            in_ch = out_ch
        self.noises = nn.Module()
        for i in range(self.num_layers):
            size = noise_size(i)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, size, size))
        self.register_buffer("latent_avg", None, persistent=False)
        #: the file the weights came from (``None`` for random init)
        self.weights_path: str | None = None
        if weights is not None:
            self.load_weights(weights, key=weights_key)

    # --- latent space -------------------------------------------------------------
    def mapping(
        self,
        z: torch.Tensor,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``z`` ``[N, w_dim]`` -> ``w`` ``[N, w_dim]``, optionally truncated.

        With ``truncation < 1``, ``w = avg + truncation * (w - avg)`` pulls codes toward
        ``truncation_latent`` (default: the file's ``latent_avg``) for cleaner images.
        """
        check_shape(z, [None, self.w_dim], "StyleGAN2Generator.mapping z")
        w = self.style(z)
        if truncation < 1:
            avg = self._truncation_center(truncation_latent).to(w)
            w = avg + truncation * (w - avg)
        return w

    def _truncation_center(self, truncation_latent: torch.Tensor | None) -> torch.Tensor:
        if truncation_latent is not None:
            return truncation_latent
        if self.latent_avg is None:
            raise ValueError(
                "truncation < 1 needs a truncation_latent (e.g. generator.mean_latent()); "
                "the loaded weights carry no latent_avg"
            )
        return self.latent_avg.reshape(-1, self.w_dim).mean(dim=0)

    @property
    def file_latent_avg(self) -> torch.Tensor | None:
        """``latent_avg`` from the weight file (``[w_dim]`` or ``[n, w_dim]``), or ``None``."""
        return self.latent_avg

    # --- synthesis ----------------------------------------------------------------
    def synthesis(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Render W+ ``[N, num_ws, w_dim]`` (or W ``[N, w_dim]``) to ``[N, 3, R, R]``.

        ``noise_mode``: ``'const'`` uses the stored ``noises.noise_i`` buffers (pSp's
        inference default), ``'random'`` draws fresh noise, ``'none'`` adds none.  An
        explicit ``noise`` list (one entry per layer, ``None`` = use ``noise_mode``)
        overrides.
        """
        ws = self._as_wplus(ws)
        noises = self._noise_list(noise_mode, noise, ws)
        n = ws.shape[0]
        if n > 1 and self._renders_per_sample(n, ws.device):
            # Every layer would modulate one sample at a time anyway: run the whole network
            # per sample and join only the RGB images, not every layer's activations.
            return torch.cat([self._render(ws[i : i + 1], _sample_noise(noises, i, n)) for i in range(n)])
        return self._render(ws, noises)

    def _renders_per_sample(self, batch: int, device: torch.device) -> bool:
        return all(
            layer.modulates_per_sample(batch, device)
            for layer in self.modules()
            if isinstance(layer, ModulatedConv2d)
        )

    def _render(self, ws: torch.Tensor, noises: Sequence[torch.Tensor]) -> torch.Tensor:
        """The synthesis network proper: W+ and one noise tensor per layer -> RGB."""
        out = self.input(ws.shape[0]).contiguous(memory_format=self.memory_format)
        out = self.conv1(out, ws[:, 0], noises[0])
        image = self.to_rgb1(out, ws[:, 1])
        for k, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * k](out, ws[:, 2 * k + 1], noises[2 * k + 1])
            out = self.convs[2 * k + 1](out, ws[:, 2 * k + 2], noises[2 * k + 2])
            image = to_rgb(out, ws[:, 2 * k + 3], image)
        return image

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        noise: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    def generate_from_z(
        self,
        z: torch.Tensor,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """Sample images from ``z`` (mapping, optional truncation, then synthesis)."""
        return self.synthesis(self.mapping(z, truncation, truncation_latent), noise_mode)

    def _as_wplus(self, ws: torch.Tensor) -> torch.Tensor:
        """Broadcast W ``[N, w_dim]`` to W+ ``[N, num_ws, w_dim]``; check the shape."""
        if ws.ndim == 2:
            check_shape(ws, [None, self.w_dim], "StyleGAN2Generator ws (W)")
            return ws[:, None, :].expand(-1, self.num_ws, -1)
        check_shape(ws, [None, self.num_ws, self.w_dim], "StyleGAN2Generator ws (W+)")
        return ws

    def _noise_list(
        self,
        noise_mode: str,
        noise: Sequence[torch.Tensor | None] | None,
        ws: torch.Tensor,
    ) -> list[torch.Tensor]:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise is not None and len(noise) != self.num_layers:
            raise ValueError(
                f"noise must hold {self.num_layers} entries (one per layer), got {len(noise)}"
            )
        given = list(noise) if noise is not None else [None] * self.num_layers
        return [
            entry if entry is not None else self._layer_noise(i, noise_mode, ws)
            for i, entry in enumerate(given)
        ]

    def _layer_noise(self, index: int, noise_mode: str, ws: torch.Tensor) -> torch.Tensor:
        if noise_mode == "const":
            return getattr(self.noises, f"noise_{index}")
        size = noise_size(index)
        if noise_mode == "random":
            return torch.randn(ws.shape[0], 1, size, size, device=ws.device, dtype=ws.dtype)
        return torch.zeros(1, 1, size, size, device=ws.device, dtype=ws.dtype)

    # --- weights --------------------------------------------------------------------
    @staticmethod
    def stored_config(path: str | os.PathLike) -> dict[str, Any]:
        """The constructor options a p2s-written file records (``p2s data export-generator``,
        ``p2s convert ada-pkl``: its ``p2s_generator`` entry); ``{}`` for other files."""
        ckpt = load_checkpoint_file(path, what="StyleGAN2 weights", how_to_get=HOW_TO_GET)
        stored = ckpt.get(STORED_CONFIG_KEY) if isinstance(ckpt, Mapping) else None
        options = dict(stored) if isinstance(stored, Mapping) else {}
        options.pop("type", None)  # ada-pkl files name their class too; a constructor takes options only
        return options

    def load_weights(self, path: str | os.PathLike, key: str = "g_ema") -> None:
        """Load a rosinality-layout file strictly (constant FIR kernels may be absent).

        ``ckpt[key]`` is used when present, otherwise the file must be a bare state
        dict.  A top-level ``latent_avg`` is kept as :attr:`file_latent_avg`.
        """
        ckpt = load_checkpoint_file(path, what="StyleGAN2 weights", how_to_get=HOW_TO_GET)
        if not isinstance(ckpt, Mapping):
            raise CheckpointMismatchError(
                f"StyleGAN2 weights '{path}' hold a {type(ckpt).__name__}, not a dict"
            )
        state_dict, latent_avg = self._split_checkpoint(ckpt, key, path)
        try:
            load_state_dict_strict(
                self, state_dict, source=f"StyleGAN2 weights '{path}'", ignore_missing=(".kernel",)
            )
        except CheckpointMismatchError as err:
            stored = ckpt.get(STORED_CONFIG_KEY)
            if not isinstance(stored, Mapping):
                raise
            raise CheckpointMismatchError(self._architecture_mismatch(path, stored) or str(err)) from None
        self.latent_avg = self._checked_latent_avg(latent_avg, path)
        self.weights_path = str(path)

    def _architecture_mismatch(self, path: str | os.PathLike, stored: Mapping[str, Any]) -> str | None:
        """A short message naming the options where a file's recorded architecture differs
        from this generator's (instead of dozens of mismatched keys); None if none differs."""
        differs = {k: v for k, v in sorted(stored.items()) if k in self.architecture and self.architecture[k] != v}
        if not differs:
            return None
        wanted = ", ".join(f"{k}={v!r}" for k, v in differs.items())
        built = ", ".join(f"{k}={self.architecture[k]!r}" for k in differs)
        settings = " ".join(f"model.generator.{k}={v!r}" for k, v in differs.items())
        return (f"StyleGAN2 weights '{path}' were written for a generator with {wanted}, but this one was built "
                f"with {built}: build it with the file's options (in a config: {settings})")

    def _split_checkpoint(
        self, ckpt: Mapping[str, Any], key: str, path: str | os.PathLike
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """``(state_dict, latent_avg)`` from a ``{key: sd, ...}`` file or a bare state dict."""
        if key in ckpt and isinstance(ckpt[key], Mapping):
            return dict(ckpt[key]), ckpt.get("latent_avg")
        if all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            state_dict = dict(ckpt)
            return state_dict, state_dict.pop("latent_avg", None)
        if "state_dict" in ckpt:
            raise CheckpointMismatchError(
                f"'{path}' is a translation or training checkpoint (it holds 'state_dict'), not StyleGAN2 weights "
                f"with a '{key}' entry: give it where a translation checkpoint goes (--checkpoint, e.g. "
                "p2s directions ganspace --checkpoint)"
            )
        raise CheckpointMismatchError(
            f"StyleGAN2 weights '{path}' have no '{key}' entry and are not a bare state dict "
            f"(top-level keys: {', '.join(map(str, list(ckpt)[:8]))}); the generator's weights_key option names "
            "the entry to read"
        )

    def _checked_latent_avg(
        self, latent_avg: Any, path: str | os.PathLike
    ) -> torch.Tensor | None:
        if latent_avg is None:
            return None
        is_tensor = isinstance(latent_avg, torch.Tensor)
        if not is_tensor or latent_avg.ndim not in (1, 2) or latent_avg.shape[-1] != self.w_dim:
            got = list(latent_avg.shape) if is_tensor else type(latent_avg).__name__
            raise CheckpointMismatchError(
                f"StyleGAN2 weights '{path}': latent_avg must be [{self.w_dim}] or "
                f"[n, {self.w_dim}], got {got}"
            )
        # a NaN mean W would make truncation, pSp's start code and projection NaN
        check_finite({"latent_avg": latent_avg}, f"StyleGAN2 weights '{path}'")
        return latent_avg.detach().to(self.device, self.dtype)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, w_dim={self.w_dim}, num_ws={self.num_ws}"
