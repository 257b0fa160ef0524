"""``Translator``: a checkpoint's model and task, ready to translate images in Python."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2s.apis.checkpoint import build_task, build_translation_model, read_translation_checkpoint
from p2s.datasets.transforms.official import tensors_to_uint8
from p2s.models.psp import PSP
from p2s.tasks.base import TaskAdapter
from p2s.utils.errors import P2SError, P2SWarning


#: inference precisions: fp32 is exact (matches the official outputs); bf16 is for GPUs
PRECISIONS = ("fp32", "bf16")
#: ``torch.compile`` modes; ``reduce-overhead`` also captures CUDA graphs (fixed shapes)
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def resolve_device(name: str | None) -> torch.device:
    """``None`` picks CUDA when present; asking for CUDA without one is a user error."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise P2SError(f"--device must be cpu, cuda or cuda:N, got {name!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise P2SError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise P2SError("--device cuda was asked for, but PyTorch sees no CUDA device; use --device cpu")
    return device


def cpu_has_bf16_kernels() -> bool:
    """Whether oneDNN has bf16 convolutions for this CPU (AVX-512 or AMX); without them
    bf16 convolutions fall back to PyTorch's reference loops."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no fast bf16 either
        return False


def warn_if_bf16_is_slow(device: torch.device) -> None:
    if device.type == "cpu" and not cpu_has_bf16_kernels():
        warnings.warn(
            "--precision bf16 on this CPU runs PyTorch's reference convolutions (no AVX-512/AMX "
            "bf16 kernels): about 15x slower than fp32 (benchmarks/NOTES.md); use --precision fp32",
            P2SWarning,
            stacklevel=3,
        )


@dataclass
class Translation:
    """Generator images ``[N, 3, H, W]`` (nominally [-1, 1]) and the W+ codes fed to it."""

    images: torch.Tensor
    latents: torch.Tensor

    def to_uint8(self) -> np.ndarray:
        """``[N, H, W, 3]`` uint8 with the official conversion (clamp, x255, truncate)."""
        return tensors_to_uint8(self.images)


class Translator:
    """Runs a pSp model on sources prepared by its task.

    Example:
        >>> t = Translator.from_checkpoint("psp_celebs_sketch_to_face.pt", device="cpu")
        >>> faces = t.translate_images([Image.open("sketch.png")])  # list of PIL images
    """

    def __init__(
        self,
        model: PSP,
        task: TaskAdapter,
        device: str | torch.device | None = None,
        resize_outputs: bool = False,
        randomize_noise: bool = False,
        precision: str = "fp32",
        channels_last: bool = True,
        compile_mode: str = "none",
        compile_backend: str = "inductor",
    ) -> None:
        if precision not in PRECISIONS:
            raise P2SError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if compile_mode not in COMPILE_MODES:
            raise P2SError(f"--compile must be one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}")
        task.check_fits(model.encoder.in_channels)
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        if precision == "bf16":
            warn_if_bf16_is_slow(self.device)
        self.model = model.to(self.device).eval()
        if channels_last:
            # NHWC suits oneDNN (CPU) and tensor cores alike; the encoder is all 4-D convs
            self.model.encoder.to(memory_format=torch.channels_last)
            self.model.decoder.set_memory_format(torch.channels_last)
        self.precision = precision
        self.task = task
        self.resize_outputs = resize_outputs
        self.noise_mode = "random" if randomize_noise else "const"
        self.compile_mode = compile_mode
        self._encode, self._decode = self.model.encode, self.model.decode
        if compile_mode != "none":
            self._compile(compile_mode, compile_backend)

    def _own(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy where CUDA graphs would overwrite the output on the next call."""
        return tensor.clone() if self.compile_mode == "reduce-overhead" else tensor

    def _compile(self, mode: str, backend: str) -> None:
        """Compile the encoder pass and the generator pass separately (style mixing runs
        between them).  Shapes are static: each new batch size compiles once more."""
        options = dict(mode=mode if mode != "default" else None) if backend == "inductor" else {}
        self._encode = torch.compile(self.model.encode, backend=backend, dynamic=False, **options)
        self._decode = torch.compile(self.model.decode, backend=backend, dynamic=False, **options)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        device: str | None = None,
        resize_outputs: bool = False,
        randomize_noise: bool = False,
        precision: str = "fp32",
        compile_mode: str = "none",
        **task_options,
    ) -> Translator:
        """Read an official pSp or p2s checkpoint; ``task_options`` override the task's
        settings (e.g. ``resize_factor=8`` for super-resolution)."""
        device_obj = resolve_device(device)
        ckpt = read_translation_checkpoint(checkpoint)
        task = build_task(ckpt.task, **task_options)
        model = build_translation_model(ckpt, source=f"checkpoint '{checkpoint}'")
        return cls(model, task, device_obj, resize_outputs, randomize_noise, precision, compile_mode=compile_mode)

    def _autocast(self):
        """bf16 autocast for ``precision='bf16'``; fp32 is the exact path."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    @property
    def num_ws(self) -> int:
        return self.model.num_ws

    # --- tensors ------------------------------------------------------------------
    def prepare(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Stack the task's pre-processed sources into one batch on the device."""
        return torch.stack([self.task.prepare_source(im) for im in images]).to(self.device)

    @torch.inference_mode()
    def encode(self, sources: torch.Tensor) -> torch.Tensor:
        """W+ codes ``[N, num_ws, w_dim]`` (float32) of prepared sources, without generating."""
        with self._autocast():
            return self._own(self._encode(sources.to(self.device, torch.float32)).float())

    @torch.inference_mode()
    def translate(self, sources: torch.Tensor) -> Translation:
        """Encode and generate a batch of prepared sources."""
        with self._autocast():
            codes = self._encode(sources.to(self.device, torch.float32))
            images = self._decode(codes, noise_mode=self.noise_mode, resize=self.resize_outputs)
        return Translation(self._own(images.float()), self._own(codes.float()))

    @torch.inference_mode()
    def mixing_latents(self, count: int, rng: np.random.RandomState) -> torch.Tensor:
        """W+ latents of ``count`` random z through the mapping network, drawn as the
        official style-mixing script does (``randn(count, 512)`` in float32)."""
        z = rng.randn(count, self.model.decoder.w_dim).astype("float32")
        w = self.model.decoder.mapping(torch.from_numpy(z).to(self.device))
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    @torch.inference_mode()
    def style_mix(
        self,
        source: torch.Tensor,
        inject: torch.Tensor,
        layers: Sequence[int],
        alpha: float | None = None,
    ) -> Translation:
        """Variants of one source: rows ``layers`` taken from each latent in ``inject``."""
        with self._autocast():
            codes = self._encode(source.to(self.device, torch.float32).unsqueeze(0)).float()
            mixed = self.model.mix_codes(codes.expand(len(inject), -1, -1), inject, layers, alpha)
            images = self._decode(mixed, noise_mode=self.noise_mode, resize=self.resize_outputs)
        return Translation(self._own(images.float()), mixed)

    @torch.inference_mode()
    def interpolate(self, source_a: torch.Tensor, source_b: torch.Tensor, steps: int) -> Translation:
        """Linear interpolation in W+ between two encoded sources, both ends included."""
        if steps < 2:
            raise P2SError(f"--steps must be at least 2 (both ends), got {steps}")
        with self._autocast():
            codes = self._encode(torch.stack([source_a, source_b]).to(self.device, torch.float32)).float()
            t = torch.linspace(0, 1, steps, device=self.device).view(-1, 1, 1)
            path = (1 - t) * codes[0:1] + t * codes[1:2]
            frames = [
                self._own(self._decode(chunk, noise_mode=self.noise_mode, resize=self.resize_outputs).float())
                for chunk in path.split(8)
            ]
        return Translation(torch.cat(frames), path)

    # --- convenience for notebooks ------------------------------------------------
    def translate_images(self, images: Sequence[Image.Image | str | Path]) -> list[Image.Image]:
        """Translate PIL images or paths; returns uint8 RGB PIL images."""
        pil = [
            self.task.load_source(im) if isinstance(im, (str, Path)) else self.task.check_source(im, "image")
            for im in images
        ]
        arrays = self.translate(self.prepare(pil)).to_uint8()
        return [Image.fromarray(a) for a in arrays]
