"""GANSpace (Härkönen et al., 2020): principal directions of StyleGAN's W space.

W samples of the mapping network (seeded Gaussian ``z``) are reduced to their mean and
covariance in float64, chunk by chunk, so memory stays ``O(w_dim^2)`` whatever the
sample count; the eigenvectors of the covariance are the principal components (the same
as an SVD of the centred samples), sorted by explained variance.  A component ``K`` used
as an editing direction is scaled by its standard deviation (``ganspace:K``).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from p2s.generators.base import BaseGenerator
from p2s.utils.atomic import write_atomically
from p2s.utils.errors import P2SError, P2SWarning
from p2s.utils.filekind import numpy_load_failure
from p2s.utils.weights import why_not_a_file

#: keys of a GANSpace ``.npz`` (extra keys, e.g. ``n_samples`` and ``seed``, are allowed)
NPZ_KEYS = ("components", "stds", "mean")
#: the ``.npz`` key of the mapping network's fingerprint (files of p2s 0.1 may lack it)
MAPPING_KEY = "mapping_sha256"


class GanSpace(NamedTuple):
    """``components [k, w_dim]`` (orthonormal rows), ``stds [k]`` (descending), ``mean [w_dim]``."""

    components: torch.Tensor
    stds: torch.Tensor
    mean: torch.Tensor


def _generator_of(model: BaseGenerator | nn.Module) -> BaseGenerator:
    """A generator, or the generator (``decoder``) of a PSP model."""
    generator = getattr(model, "decoder", model)
    if not isinstance(generator, BaseGenerator):
        raise P2SError(f"GANSpace needs a StyleGAN generator or a PSP model, got {type(model).__name__}")
    return generator


@torch.no_grad()  # the mapping's parameters may require grad: no graph may grow over the chunks
def ganspace_directions(
    generator: BaseGenerator | nn.Module,
    n_samples: int = 20_000,
    n_components: int = 10,
    seed: int = 0,
    chunk: int = 4096,
) -> GanSpace:
    """PCA of ``generator.mapping(z)`` over ``n_samples`` seeded Gaussian ``z``
    (``generator`` may be a PSP model: its generator is used).

    ``z`` is drawn on the CPU from a seeded generator (the same samples on any device)
    and mapped in chunks of ``chunk``.  Each component's sign is fixed so that its
    largest-magnitude entry is positive, so results are reproducible for a seed.

    Returns:
        :class:`GanSpace` of float32 CPU tensors (a ``(components, stds, mean)`` tuple).
    """
    generator = _generator_of(generator)
    w_dim = int(generator.w_dim)
    if not 1 <= n_components <= w_dim:
        raise P2SError(f"--components must be between 1 and {w_dim} (the W size), got {n_components}")
    if n_samples < 2 or n_samples <= n_components:
        raise P2SError(f"--samples must be more than --components ({n_components}) and at least 2, got {n_samples}")
    if chunk < 1:
        raise P2SError(f"chunk must be >= 1, got {chunk}")
    rng = torch.Generator().manual_seed(int(seed))
    device = generator.device
    total = torch.zeros(w_dim, dtype=torch.float64)
    outer = torch.zeros(w_dim, w_dim, dtype=torch.float64)
    for start in range(0, n_samples, chunk):
        count = min(chunk, n_samples - start)
        z = torch.randn(count, w_dim, generator=rng)
        w = generator.mapping(z.to(device, generator.dtype)).to("cpu", torch.float64)
        total += w.sum(dim=0)
        outer += w.T @ w
    mean = total / n_samples
    cov = (outer - n_samples * torch.outer(mean, mean)) / (n_samples - 1)
    cov = (cov + cov.T) / 2
    variances, vectors = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(variances, descending=True)[:n_components]
    components = vectors[:, order].T.contiguous()
    peak = components.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(components.gather(1, peak))
    components = components * torch.where(signs == 0, torch.ones_like(signs), signs)
    stds = variances[order].clamp_min(0).sqrt()
    return GanSpace(components.float(), stds.float(), mean.float())


def mapping_fingerprint(model: BaseGenerator | nn.Module) -> str | None:
    """sha256 of the mapping network's weights (``style.*``), all GANSpace depends on:
    FFHQ and AFHQ generators share the W size, so only this tells their directions
    apart.  None for a generator without a ``style`` mapping."""
    generator = _generator_of(model)
    digest, found = hashlib.sha256(), False
    for name, tensor in sorted(generator.state_dict().items()):
        if name.startswith("style."):
            found = True
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest() if found else None


def warn_if_other_mapping(directions_file: str | Path, model: BaseGenerator | nn.Module) -> None:
    """A ``P2SWarning`` when ``directions_file`` was computed from another mapping network
    than ``model``'s (its directions would not mean what they did); files without a
    fingerprint pass."""
    with np.load(directions_file, allow_pickle=False) as archive:
        recorded = str(archive[MAPPING_KEY]) if MAPPING_KEY in archive.files else None
    if recorded is not None and recorded != mapping_fingerprint(model):
        warnings.warn(f"directions file '{directions_file}' was computed from another generator (its mapping "
                      "network differs from this checkpoint's): recompute it with 'p2s directions ganspace "
                      "--checkpoint' of this model", P2SWarning, stacklevel=2)


def save_ganspace(path: str | Path, space: GanSpace, **extra: int | float | str) -> Path:
    """Write ``components``, ``stds`` and ``mean`` (plus ``extra`` scalars or strings,
    e.g. ``mapping_sha256``) to ``.npz``, atomically."""
    path = Path(path)
    arrays = {key: getattr(space, key).detach().cpu().numpy().astype("float32") for key in NPZ_KEYS}
    arrays.update({key: np.asarray(value) for key, value in extra.items()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    write_atomically(path, write)
    return path


def load_ganspace(path: str | Path) -> GanSpace:
    """Read a GANSpace ``.npz`` (as :func:`save_ganspace` writes); one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise P2SError(f"directions file '{path}' {why_not_a_file(path)} (make one with 'p2s directions ganspace')")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = numpy_load_failure(path, err)
        raise P2SError(f"directions file '{path}' is not a readable .npz archive ({reason})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise P2SError(f"directions file '{path}' is a single array, not the .npz 'p2s directions ganspace' writes")
    with archive:
        missing = [key for key in NPZ_KEYS if key not in archive.files]
        if missing:
            raise P2SError(
                f"directions file '{path}' lacks {', '.join(missing)}; it was not written by "
                "'p2s directions ganspace'"
            )
        try:
            arrays = {key: np.asarray(archive[key], dtype=np.float32) for key in NPZ_KEYS}
        except (ValueError, TypeError, OSError) as err:
            raise P2SError(f"directions file '{path}' holds unreadable arrays ({err})") from None
    components, stds, mean = (torch.from_numpy(arrays[key]) for key in NPZ_KEYS)
    k = components.shape[0] if components.ndim == 2 else -1
    if components.ndim != 2 or stds.shape != (k,) or mean.shape != (components.shape[1],):
        raise P2SError(
            f"directions file '{path}' has components {list(components.shape)}, stds "
            f"{list(stds.shape)}, mean {list(mean.shape)}; expected [k, w], [k], [w]"
        )
    return GanSpace(components, stds, mean)


def generator_from_checkpoint(path: str | Path) -> BaseGenerator:
    """The generator of a pSp or p2s translation checkpoint (its config and ``decoder.*``
    weights), without building the encoder; works for plugin models too, since only the
    generator config is read."""
    from p2s.apis.checkpoint import read_translation_checkpoint, without_weight_files
    from p2s.registry import GENERATORS
    from p2s.utils.build import build
    from p2s.utils.checkpoint import load_state_dict_strict, strip_prefix

    ckpt = read_translation_checkpoint(path)
    generator_cfg = ckpt.model.get("generator") if isinstance(ckpt.model, dict) else None
    if not isinstance(generator_cfg, dict):
        raise P2SError(f"checkpoint '{path}' has no model.generator config")
    generator = build(GENERATORS, without_weight_files(generator_cfg), BaseGenerator)
    state = strip_prefix(ckpt.state_dict, "decoder.")
    if not state:
        raise P2SError(f"checkpoint '{path}' holds no generator weights (decoder.*)")
    load_state_dict_strict(generator, state, f"checkpoint '{path}' (decoder)", ignore_missing=(".kernel",))
    return generator.eval()


def generator_from_weights(path: str | Path, **options) -> BaseGenerator:
    """A ``StyleGAN2Generator`` with the rosinality weights at ``path``: built with the
    options the file records (p2s-written files) or config-f 1024, then ``options``
    (e.g. ``resolution=256``) on top."""
    from p2s.generators.stylegan2 import StyleGAN2Generator
    from p2s.registry import GENERATORS
    from p2s.utils.build import build

    cfg = dict(type="StyleGAN2Generator", **StyleGAN2Generator.stored_config(path))
    cfg.update(options)
    cfg["weights"] = str(path)
    try:
        return build(GENERATORS, cfg, BaseGenerator).eval()
    except ValueError as err:  # the generator's own argument checks
        raise P2SError(str(err)) from None
