"""``Translator``: a checkpoint's model and task, ready to translate images in Python."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2s.apis.checkpoint import build_task, build_translation_model, read_translation_checkpoint
from p2s.datasets.transforms.official import tensors_to_uint8
from p2s.models.psp import PSP
from p2s.tasks.base import TaskAdapter
from p2s.utils.compiling import check_compile_mode, compiled
from p2s.utils.cuda_graphs import GraphedPass, capture_cuda_graph, check_cuda_graphs_device
from p2s.utils.errors import P2SError
from p2s.utils.host_memory import trim_excess_freed_memory
from p2s.utils.precision import float32_precision, warn_if_cpu_bf16_is_slow


#: inference precisions: fp32 is exact IEEE float32 (matches the official outputs), also on a
#: GPU where PyTorch's default lets cuDNN round convolutions to TF32; tf32 is that default
#: (float32 with TF32 tensor cores, the official code's setting; fp32 on a CPU); bf16 autocasts
PRECISIONS = ("fp32", "tf32", "bf16")
#: what ``translate_images`` and ``prepare`` take: one image or path, or a list of them
ImageInputs = Image.Image | str | Path | Sequence[Image.Image | str | Path]
#: what ``mixing_latents`` draws from: a seed (the official ``RandomState`` draw) or a numpy generator
MixingRNG = int | np.random.RandomState | np.random.Generator


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


def check_mix_alpha(alpha: float | None) -> None:
    """``None`` replaces the rows; a blend weight outside [0, 1] (or NaN) extrapolates."""
    if alpha is None:
        return
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:  # nan fails too
        raise P2SError(f"--mix-alpha must be in [0, 1] (0: the input's rows, 1: the random ones), got {alpha}")


def encoder_input_size(encoder: torch.nn.Module, fallback: int) -> int:
    """The side the encoder was built for (its ``input_size``); encoders that pool any
    size keep none, and then the task's ``image_size`` is what they are fed."""
    size = getattr(encoder, "input_size", None)
    return int(size) if size is not None else fallback


def shape_text(tensor: torch.Tensor) -> str:
    return str(list(tensor.shape))


def check_source_tensor(sources: object) -> None:
    """Sources are float tensors made by the task, not arrays or raw uint8 pictures."""
    what = "sources must be float tensors prepared by the task (Translator.prepare)"
    if isinstance(sources, np.ndarray):
        raise P2SError(f"{what}, got a numpy array; wrap it with torch.from_numpy")
    if isinstance(sources, (list, tuple)):
        raise P2SError(f"{what}, got a {type(sources).__name__}; for images or paths use translate_images()")
    if not isinstance(sources, torch.Tensor):
        raise P2SError(f"{what}, got a {type(sources).__name__}")
    if not sources.is_floating_point():
        raise P2SError(f"{what}, got {sources.dtype}")


def check_mixing_seed(seed: int) -> None:
    """Refuse a seed ``np.random.RandomState`` cannot take, before any work is done."""
    if not 0 <= seed < 2**32:
        raise P2SError(f"mixing seed must be between 0 and 2**32 - 1, got {seed}")


def draw_mixing_z(count: int, w_dim: int, rng: MixingRNG) -> np.ndarray:
    """``[count, w_dim]`` float32 z: ``RandomState.randn`` (the official draw; an int seeds
    one) or ``Generator.standard_normal``."""
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        check_mixing_seed(rng)
        rng = np.random.RandomState(int(rng))
    if isinstance(rng, np.random.RandomState):
        z = rng.randn(count, w_dim)
    elif isinstance(rng, np.random.Generator):
        z = rng.standard_normal((count, w_dim))
    else:
        raise P2SError(
            f"rng must be an int seed, np.random.RandomState or np.random.Generator, got a {type(rng).__name__}"
        )
    return z.astype("float32")


def image_list(images: ImageInputs, method: str) -> list[Image.Image | str | Path]:
    """One image or path becomes a one-item list; tensors and empty lists are refused."""
    if isinstance(images, (Image.Image, str, Path)):
        return [images]
    if isinstance(images, torch.Tensor):
        raise P2SError(f"{method}() takes PIL images or paths, got a tensor; pass prepared sources to translate()")
    if isinstance(images, np.ndarray):
        raise P2SError(f"{method}() takes PIL images or paths, got a numpy array; "
                       "wrap it as Image.fromarray(array), or pass a prepared tensor to translate()")
    try:
        items = list(images)
    except TypeError:
        raise P2SError(f"{method}() takes PIL images or paths, got a {type(images).__name__}") from None
    if not items:
        raise P2SError("no images to translate")
    for item in items:
        if not isinstance(item, (Image.Image, str, Path)):
            raise P2SError(f"{method}() takes PIL images or paths, got a {type(item).__name__} in the list")
    return items


def batches(items: list, batch_size: int | None) -> Iterator[list]:
    """``items`` in runs of ``batch_size`` (``None``: all at once), the last one shorter."""
    if batch_size is None:
        yield items
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise P2SError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    for first in range(0, len(items), batch_size):
        yield items[first:first + batch_size]


@dataclass
class Translation:
    """Generator images ``[N, 3, H, W]`` (nominally [-1, 1], not clamped) and the W+ codes fed
    to it.  The images are channels_last in memory when the translator runs so (its default:
    ``to_uint8`` then permutes without a copy), so reshape them rather than ``view``."""

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
        cuda_graphs: bool = False,
    ) -> None:
        if precision not in PRECISIONS:
            raise P2SError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        check_compile_mode(compile_mode)
        if cuda_graphs and compile_mode != "none":
            raise P2SError("--cuda-graphs records the eager model; with --compile use reduce-overhead, "
                           "which records graphs of the compiled one")
        task.check_fits(model.encoder.in_channels)
        self.source_size = encoder_input_size(model.encoder, task.image_size)
        if task.image_size != self.source_size:
            raise P2SError(
                f"task '{task.name}' makes {task.image_size}x{task.image_size} sources but the encoder takes "
                f"{self.source_size}x{self.source_size}; build the task with image_size={self.source_size}"
            )
        # a torch.device is taken as given (the meta device counts kernels in benchmarks and tests)
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        if cuda_graphs:
            check_cuda_graphs_device(self.device)
        if precision == "bf16":
            if self.device.type == "cpu":
                warn_if_cpu_bf16_is_slow("--precision bf16", "use --precision fp32")
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
        self.cuda_graphs = cuda_graphs
        self._encode, self._decode = self.model.encode, self.model.decode
        if compile_mode != "none":
            self._compile(compile_mode, compile_backend)
        if cuda_graphs:
            self._record_graphs()

    def _own(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy where CUDA graphs would overwrite the output on the next call."""
        return tensor.clone() if self.cuda_graphs or self.compile_mode == "reduce-overhead" else tensor

    def _record_graphs(self) -> None:
        """Replay the encoder pass and the generator pass from CUDA graphs, one per batch
        size (and ReStyle's number of refinement steps, which a user may change)."""
        self._encode = GraphedPass(self.model.encode, capture_cuda_graph, settings=self._refinement_steps)
        self._decode = GraphedPass(self.model.decode, capture_cuda_graph)

    def _refinement_steps(self) -> int | None:
        return getattr(self.model, "iterations", None)

    def _compile(self, mode: str, backend: str) -> None:
        """Compile the encoder pass and the generator pass separately (style mixing runs
        between them).  Shapes are static: each new batch size compiles once more."""
        self._encode = compiled(self.model.encode, mode, backend, dynamic=False)
        self._decode = compiled(self.model.decode, mode, backend, dynamic=False)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        device: str | None = None,
        resize_outputs: bool = False,
        randomize_noise: bool = False,
        precision: str = "fp32",
        compile_mode: str = "none",
        channels_last: bool = True,
        compile_backend: str = "inductor",
        cuda_graphs: bool = False,
        **task_options,
    ) -> Translator:
        """Read an official pSp or p2s checkpoint; ``task_options`` override the task's
        settings (e.g. ``resize_factor=8`` for super-resolution; a misspelt one is refused)."""
        device_obj = resolve_device(device)
        ckpt = read_translation_checkpoint(checkpoint)
        task = build_task(ckpt.task, **task_options)
        model = build_translation_model(ckpt, source=f"checkpoint '{checkpoint}'")
        return cls(
            model, task, device_obj, resize_outputs, randomize_noise, precision,
            channels_last=channels_last, compile_mode=compile_mode, compile_backend=compile_backend,
            cuda_graphs=cuda_graphs,
        )

    @contextlib.contextmanager
    def _arithmetic(self) -> Iterator[None]:
        """The scope every forward runs in: bf16 autocast, or float32 exact (``fp32``) or
        with TF32 tensor cores (``tf32``) whatever the process's TF32 flags are outside it.
        On leaving, a command's CPU process hands back freed memory beyond its budget
        (:func:`~p2s.utils.host_memory.trim_excess_freed_memory`; nothing otherwise)."""
        if self.precision == "bf16":
            # autocast's cache of cast weights is freed when the scope ends, so a recorded
            # graph must cast them itself
            scope = torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=not self.cuda_graphs)
        else:
            scope = float32_precision("ieee" if self.precision == "fp32" else "tf32")
        with scope:
            yield
        trim_excess_freed_memory()

    @property
    def num_ws(self) -> int:
        return self.model.num_ws

    # --- input checks ---------------------------------------------------------------
    def _check_sources(self, sources: object, method: str, batched: bool = True) -> None:
        """One line for what would fail deep in the model, or silently multiply the batch
        (a larger picture leaves the heads' maps above 1x1, which are flattened into rows)."""
        check_source_tensor(sources)
        shape = shape_text(sources)
        if batched and sources.ndim != 4:
            raise P2SError(f"{method}() takes a batch [N, C, H, W] of sources, got {shape}; "
                           "for one source use source.unsqueeze(0)")
        if not batched and sources.ndim != 3:
            raise P2SError(f"{method}() takes one source [C, H, W], got {shape}; pick one with sources[k]")
        if batched and len(sources) == 0:
            raise P2SError(f"{method}() got an empty batch of sources {shape}")
        channels, height, width = sources.shape[-3:]
        if channels != self.model.encoder.in_channels:
            raise P2SError(f"sources have {channels} channels but the encoder takes "
                           f"{self.model.encoder.in_channels} (shape {shape})")
        if (height, width) != (self.source_size, self.source_size):
            raise P2SError(f"sources are {height}x{width} but the encoder takes {self.source_size}x{self.source_size}; "
                           "make them with Translator.prepare")

    # --- tensors ------------------------------------------------------------------
    def prepare(self, images: ImageInputs) -> torch.Tensor:
        """Stack the task's pre-processed sources into one batch on the device.  Takes PIL
        images or paths; a single one becomes a batch of one."""
        items = image_list(images, "prepare")
        return torch.stack([self.task.prepare_source(self._checked(im)) for im in items]).to(self.device)

    def _checked(self, image: str | Path | Image.Image) -> Image.Image:
        """A path or PIL image through the task's checks: a PIL image is no less likely to be
        of a mode the task cannot read (an RGB picture for a label-map task)."""
        if isinstance(image, (str, Path)):
            return self.task.load_source(image)
        return self.task.check_source(image, "image")

    @torch.no_grad()
    def encode(self, sources: torch.Tensor) -> torch.Tensor:
        """W+ codes ``[N, num_ws, w_dim]`` (float32) of prepared sources, without generating."""
        self._check_sources(sources, "encode")
        with self._arithmetic():
            return self._own(self._encode(sources.to(self.device, torch.float32)).float())

    @torch.no_grad()
    def translate(self, sources: torch.Tensor) -> Translation:
        """Encode and generate a batch of prepared sources."""
        self._check_sources(sources, "translate")
        with self._arithmetic():
            codes = self._encode(sources.to(self.device, torch.float32))
            images = self._decode(codes, noise_mode=self.noise_mode, resize=self.resize_outputs)
        return Translation(self._own(images.float()), self._own(codes.float()))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> Translation:
        """Generate from W+ codes ``[N, num_ws, w_dim]`` (edited ones, say) as
        :meth:`translate` does: the same noise, resizing, precision and compiled generator."""
        expected = (self.num_ws, self.model.decoder.w_dim)
        if not (isinstance(codes, torch.Tensor) and codes.is_floating_point() and codes.ndim == 3
                and tuple(codes.shape[1:]) == expected and len(codes) > 0):
            shown = list(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
            raise P2SError(f"decode() takes float W+ codes [N, {expected[0]}, {expected[1]}] (N >= 1), got {shown}")
        codes = codes.detach().to(self.device, torch.float32, copy=True)  # the result's own, not the caller's
        with self._arithmetic():
            images = self._decode(codes, noise_mode=self.noise_mode, resize=self.resize_outputs)
        return Translation(self._own(images.float()), codes)

    @torch.no_grad()
    def mixing_latents(self, count: int, rng: MixingRNG) -> torch.Tensor:
        """W+ latents ``[count, num_ws, w_dim]`` of random z through the mapping network.

        ``rng`` is a seed or ``np.random.RandomState`` (the official style-mixing draw,
        ``randn(count, w_dim)`` in float32) or an ``np.random.Generator`` (``standard_normal``).
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise P2SError(f"mixing_latents() needs a count of at least 1, got {count!r}")
        z = draw_mixing_z(count, self.model.decoder.w_dim, rng)
        with self._arithmetic():
            w = self.model.decoder.mapping(torch.from_numpy(z).to(self.device)).float()
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)  # rows of their own (an expand would alias them)

    @torch.no_grad()
    def style_mix(
        self,
        source: torch.Tensor,
        inject: torch.Tensor,
        layers: Sequence[int],
        alpha: float | None = None,
    ) -> Translation:
        """Variants of one source ``[C, H, W]``: rows ``layers`` taken from each latent in
        ``inject``, blended by ``alpha`` in [0, 1] (``None`` replaces them)."""
        self._check_sources(source, "style_mix", batched=False)
        check_mix_alpha(alpha)
        self._check_inject(inject)
        with self._arithmetic():
            codes = self._encode(source.to(self.device, torch.float32).unsqueeze(0)).float()
            mixed = self.model.mix_codes(codes.expand(len(inject), -1, -1), inject, layers, alpha)
            images = self._decode(mixed, noise_mode=self.noise_mode, resize=self.resize_outputs)
        return Translation(self._own(images.float()), mixed)

    def _check_inject(self, inject: torch.Tensor) -> None:
        """Latents to mix in: float ``[count, num_ws, w_dim]`` or ``[count, w_dim]``."""
        w_dim = self.model.decoder.w_dim
        if not (isinstance(inject, torch.Tensor) and inject.is_floating_point()
                and tuple(inject.shape[1:]) in ((self.num_ws, w_dim), (w_dim,))):
            shown = list(inject.shape) if isinstance(inject, torch.Tensor) else type(inject).__name__
            raise P2SError(f"style_mix() injects float latents [count, {self.num_ws}, {w_dim}] or "
                           f"[count, {w_dim}] (mixing_latents() draws them), got {shown}")
        if len(inject) == 0:
            raise P2SError("style_mix() got no latents to inject (inject is empty)")

    @torch.no_grad()
    def interpolate(self, source_a: torch.Tensor, source_b: torch.Tensor, steps: int) -> Translation:
        """Linear interpolation in W+ between two encoded sources, both ends included."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise P2SError(f"--steps must be an integer of at least 2 (both ends), got {steps!r}")
        for source in (source_a, source_b):
            self._check_sources(source, "interpolate", batched=False)
        with self._arithmetic():
            codes = self._encode(torch.stack([source_a, source_b]).to(self.device, torch.float32)).float()
            t = torch.linspace(0, 1, steps, device=self.device).view(-1, 1, 1)
            path = (1 - t) * codes[0:1] + t * codes[1:2]
            frames = [
                self._own(self._decode(chunk, noise_mode=self.noise_mode, resize=self.resize_outputs).float())
                for chunk in path.split(8)
            ]
        return Translation(torch.cat(frames), path)

    # --- convenience for notebooks ------------------------------------------------
    def translate_images(self, images: ImageInputs, batch_size: int | None = None) -> list[Image.Image]:
        """Translate PIL images or paths (a single one is a list of one) ``batch_size`` at
        a time (``None``: all in one batch); returns uint8 RGB PIL images."""
        items = image_list(images, "translate_images")
        outputs: list[Image.Image] = []
        for batch in batches(items, batch_size):
            outputs += [Image.fromarray(a) for a in self.translate(self.prepare(batch)).to_uint8()]
        return outputs
