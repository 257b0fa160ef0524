"""The contract every p2s generator follows, so encoders and models stay generator-agnostic."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn


def check_shape(t: torch.Tensor, expected: Sequence[int | None], name: str) -> None:
    """Raise ``ValueError`` unless ``t.shape`` matches ``expected`` (``None`` = any size).

    Failing early with both shapes beats a cryptic matmul error deep inside a layer.
    """
    shape = list(t.shape)
    fits = len(shape) == len(expected) and all(
        e is None or s == e for s, e in zip(shape, expected)
    )
    if not fits:
        wanted = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise ValueError(f"{name}: expected shape {wanted} (* = any), got {shape}")


class BaseGenerator(nn.Module, metaclass=ABCMeta):
    """A style-based generator: latent ``z`` -> ``w`` (mapping) -> image (synthesis).

    Subclasses set:

    * ``resolution``: output side in pixels; images are ``[N, 3, R, R]`` in about [-1, 1].
    * ``w_dim``: size of one latent code ``w``.
    * ``num_ws``: number of W+ rows the synthesis network consumes.

    and implement :meth:`mapping` and :meth:`synthesis`.  :meth:`mean_latent` is
    generic (average of mapped Gaussian samples) and used for truncation and as the
    pSp latent average when a weight file carries none.
    """

    resolution: int
    w_dim: int
    num_ws: int
    #: layout of the synthesis activations (see :meth:`set_memory_format`)
    memory_format: torch.memory_format = torch.contiguous_format

    @abstractmethod
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map ``z`` ``[N, w_dim]`` to ``w`` ``[N, w_dim]``."""
        """Implemented by every concrete subclass."""

    @abstractmethod
    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """Render ``ws`` (``[N, num_ws, w_dim]`` or ``[N, w_dim]``) to ``[N, 3, R, R]``."""
        """Implemented by every concrete subclass."""

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(ws, noise_mode=noise_mode)

    def set_memory_format(self, memory_format: torch.memory_format) -> None:
        """Run the synthesis in ``memory_format``: ``torch.channels_last`` (NHWC) suits
        oneDNN and tensor cores; the default keeps NCHW, the official layout.

        ``Module.to(memory_format=...)`` cannot do this: it rejects 5-D modulated weights,
        and the activations' layout follows the first one, not the parameters.
        """
        if memory_format not in (torch.contiguous_format, torch.channels_last):
            raise ValueError(f"memory_format must be contiguous_format or channels_last, got {memory_format}")
        self.memory_format = memory_format

    @property
    def device(self) -> torch.device:
        """Device of the first parameter (CPU for a parameter-less module)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the first parameter (float32 for a parameter-less module)."""
        first = next(self.parameters(), None)
        return first.dtype if first is not None else torch.float32

    @torch.no_grad()
    def mean_latent(
        self, n_samples: int = 100_000, seed: int = 0, chunk: int = 4096
    ) -> torch.Tensor:
        """Mean of ``mapping(z)`` over ``n_samples`` seeded Gaussian ``z`` -> ``[w_dim]``.

        ``z`` is drawn on the CPU from a seeded generator (same result on any device),
        and mapped in chunks to bound memory.
        """
        if n_samples < 1 or chunk < 1:
            raise ValueError(f"n_samples and chunk must be >= 1, got {n_samples}, {chunk}")
        rng = torch.Generator().manual_seed(seed)
        total = torch.zeros(self.w_dim, dtype=torch.float64, device=self.device)
        for start in range(0, n_samples, chunk):
            count = min(chunk, n_samples - start)
            z = torch.randn(count, self.w_dim, generator=rng)
            total += self.mapping(z.to(self.device, self.dtype)).double().sum(dim=0)
        return (total / n_samples).to(self.dtype)
