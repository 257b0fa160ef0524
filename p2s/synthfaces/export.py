"""Turn a ``StyleGAN2GAN`` training checkpoint into a rosinality-layout generator file."""

from __future__ import annotations

import os
from collections.abc import Mapping

from p2s.generators.stylegan2 import StyleGAN2Generator
from p2s.utils.checkpoint import atomic_torch_save, load_checkpoint_file, load_state_dict_strict, strip_prefix
from p2s.utils.errors import P2SError

#: generator options that describe the weight file, not the architecture
_FILE_OPTIONS = ("type", "weights", "weights_key")


def generator_config_from_checkpoint(ckpt: Mapping) -> dict:
    """``model.generator`` of the config an MMEngine checkpoint carries (``meta.cfg``)."""
    from mmengine.config import Config

    meta = ckpt.get("meta")
    text = meta.get("cfg") if isinstance(meta, Mapping) else None
    if not isinstance(text, str):
        raise P2SError("the checkpoint carries no config (meta.cfg); pass generator_cfg explicitly")
    model = Config.fromstring(text, file_format=".py").to_dict().get("model", {})
    if model.get("type") != "StyleGAN2GAN" or not isinstance(model.get("generator"), dict):
        raise P2SError(f"the checkpoint's config trains a {model.get('type')!r}, not a StyleGAN2GAN")
    return model["generator"]


def export_generator(
    checkpoint_path: str | os.PathLike,
    out_path: str | os.PathLike,
    generator_cfg: dict | None = None,
    latent_samples: int = 10_000,
    seed: int = 0,
) -> dict:
    """Write ``{'g_ema', 'latent_avg', 'p2s_generator'}`` from a ``p2s train`` checkpoint.

    ``g_ema`` is the EMA generator's state dict (rosinality names, loads strictly into
    ``StyleGAN2Generator(**cfg, weights=out_path)`` and rosinality's ``Generator``),
    ``latent_avg`` the mean W of ``latent_samples`` seeded ``z``, and ``p2s_generator``
    the constructor options ``cfg`` (from the checkpoint's config unless given).
    Returns ``cfg``.
    """
    ckpt = load_checkpoint_file(checkpoint_path, what="StyleGAN2GAN checkpoint")
    if not isinstance(ckpt, Mapping):
        raise P2SError(f"'{checkpoint_path}' holds a {type(ckpt).__name__}, not a checkpoint dict")
    state = ckpt.get("state_dict", ckpt)
    g_ema = strip_prefix(state, "g_ema.")
    if not g_ema:
        raise P2SError(f"'{checkpoint_path}' has no g_ema.* weights (is it a StyleGAN2GAN checkpoint?)")
    cfg = dict(generator_cfg) if generator_cfg is not None else generator_config_from_checkpoint(ckpt)
    if cfg.get("type", "StyleGAN2Generator") != "StyleGAN2Generator":
        raise P2SError(f"export_generator writes StyleGAN2Generator files, not {cfg['type']!r}")
    cfg = {k: v for k, v in cfg.items() if k not in _FILE_OPTIONS}
    generator = StyleGAN2Generator(**cfg)
    load_state_dict_strict(generator, g_ema, source=f"g_ema of '{checkpoint_path}'")
    latent_avg = generator.mean_latent(latent_samples, seed=seed)
    g_ema = {k: v.detach().clone().contiguous() for k, v in generator.state_dict().items()}
    atomic_torch_save(dict(g_ema=g_ema, latent_avg=latent_avg, p2s_generator=cfg), out_path)
    return cfg
