"""ReStyle-pSp: iterative refinement of pSp's W+ codes (Alaluf et al., ICCV 2021).

The encoder sees the source next to the current reconstruction (6 channels) and
predicts a residual in W+::

    codes_0 = latent_avg                      (every row)
    image_0 = G(codes_0), pooled to the source size
    codes_t = codes_{t-1} + E([x, image_{t-1}])       t = 1..N
    image_t = G(codes_t)

``encode`` runs the N steps and returns ``codes_N``, so the p2s ``Translator`` (encode,
then decode) uses a ReStyle model unchanged; ``iterations`` sets N at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from p2s.encoders.base import BaseEncoder
from p2s.generators.base import BaseGenerator
from p2s.models.psp import POOLED_SIZE, PSP
from p2s.registry import ENCODERS, GENERATORS, MODELS
from p2s.utils.build import build
from p2s.utils.checkpoint import load_checkpoint_file
from p2s.utils.errors import P2SError

#: channels of the source image and of the reconstruction paired with it (RGB each)
IMAGE_CHANNELS = 3


def check_iterations(value, name: str = "iterations") -> int:
    """A positive int (bools and fractional numbers are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise P2SError(f"ReStylePSP {name} must be a positive integer, got {value!r}")
    return value


class ReStyleEncoder(BaseEncoder):
    """The pair encoder of ReStyle: wraps an encoder built for ``3 + 3`` input channels.

    ``in_channels`` is the *source* channel count (3), which is what tasks and the
    ``Translator`` check; :meth:`forward` takes the 6-channel ``[source, reconstruction]``
    pair.  State-dict keys are the wrapped encoder's own (``encoder.input_layer.*``,
    ``encoder.styles.*``, ...), as for a plain pSp encoder.

    Not registered in ``ENCODERS``: :class:`ReStylePSP` builds it around the configured
    encoder (e.g. a ``GradualStyleEncoder`` whose backbone has ``in_channels=6``).
    """

    def __init__(self, encoder: BaseEncoder) -> None:
        super().__init__()
        expected = 2 * IMAGE_CHANNELS
        if encoder.in_channels != expected:
            raise P2SError(
                f"ReStylePSP needs an encoder that takes {expected} channels (RGB source + RGB "
                f"reconstruction), got {encoder.in_channels}; set model.encoder.backbone.in_channels={expected}"
            )
        self.net = encoder
        self.in_channels = IMAGE_CHANNELS
        self.pair_channels = expected
        self.num_ws, self.w_dim = encoder.num_ws, encoder.w_dim
        self.learns_in_w = encoder.learns_in_w
        self._register_state_dict_hook(_flatten_keys)
        self.register_load_state_dict_pre_hook(_nest_keys)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.net(pairs)


def _flatten_keys(module, state_dict, prefix, local_metadata) -> None:
    """``encoder.net.X`` -> ``encoder.X`` when saving."""
    nested = prefix + "net."
    for key in [k for k in state_dict if k.startswith(nested)]:
        state_dict[prefix + key[len(nested):]] = state_dict.pop(key)


def _nest_keys(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """``encoder.X`` -> ``encoder.net.X`` when loading."""
    nested = prefix + "net."
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(nested)]:
        state_dict[nested + key[len(prefix):]] = state_dict.pop(key)


@MODELS.register_module()
class ReStylePSP(PSP):
    """pSp with ReStyle's iterative residual encoder.

    Args:
        encoder: encoder config whose backbone takes 6 channels, e.g.
            ``dict(type='GradualStyleEncoder', backbone=dict(type='IRSEBackbone',
            in_channels=6))``.  With a pretrained backbone file, the first 3 input
            channels of its input layer come from the file (ReStyle's initialisation).
        generator: generator config (frozen unless ``train_generator``).
        iterations: refinement steps at inference (ReStyle uses 5); see
            :meth:`set_iterations`.
        train_iterations: refinement steps per training batch (default: ``iterations``).
        **kwargs: the other :class:`~p2s.models.psp.PSP` options (losses, ...).
            ``start_from_latent_avg`` must stay true: ReStyle starts from the average.

    Training: every step's output gets the losses, with the previous codes and image
    detached (each step learns to improve the previous one, as in ReStyle); the terms
    are summed over the steps, so one backward gives the same gradient as ReStyle's
    backward per step before a single optimiser step.  The logged ``loss_*`` values are
    these sums.  All steps' graphs are kept until the backward, so activation memory
    grows with ``train_iterations``.
    """

    def __init__(
        self,
        encoder: dict,
        generator: dict,
        iterations: int = 5,
        train_iterations: int | None = None,
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
        if not start_from_latent_avg:
            raise P2SError("ReStylePSP starts from latent_avg: start_from_latent_avg must be True")
        # the encoder is built here, around the generator's W+ layout, and wrapped as a
        # pair encoder before PSP adopts both (build() passes built modules through)
        decoder = build(GENERATORS, generator, BaseGenerator)
        net = build(
            ENCODERS, encoder, BaseEncoder, default_args=dict(num_ws=decoder.num_ws, w_dim=decoder.w_dim)
        )
        super().__init__(
            encoder=ReStyleEncoder(net),
            generator=decoder,
            start_from_latent_avg=True,
            latent_avg_samples=latent_avg_samples,
            losses=losses,
            train_generator=train_generator,
            train_noise_mode=train_noise_mode,
            source_value_range=source_value_range,
            pooled_size=pooled_size,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        self.iterations = iterations
        self.train_iterations = iterations if train_iterations is None else train_iterations
        backbone = encoder.get("backbone") if isinstance(encoder, dict) else None
        if isinstance(backbone, dict) and backbone.get("weights"):
            init_pair_input_layer(net, backbone["weights"])

    @property
    def iterations(self) -> int:
        """Refinement steps of :meth:`encode`; settable (``p2s translate --iterations N``)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = check_iterations(value)

    @property
    def train_iterations(self) -> int:
        """Refinement steps per training batch."""
        return self._train_iterations

    @train_iterations.setter
    def train_iterations(self, value: int) -> None:
        self._train_iterations = check_iterations(value, "train_iterations")

    def set_iterations(self, iterations: int) -> None:
        """Same as ``model.iterations = iterations`` (validated)."""
        self.iterations = iterations

    # --- the refinement --------------------------------------------------------------
    def _check_sources(self, sources: torch.Tensor) -> None:
        if sources.ndim != 4 or sources.shape[1] != IMAGE_CHANNELS:
            raise P2SError(
                f"ReStylePSP takes RGB sources [N, {IMAGE_CHANNELS}, H, W], got {list(sources.shape)}"
            )

    def initial_codes(self, batch: int) -> torch.Tensor:
        """``latent_avg`` repeated for ``batch`` sources, ``[batch, num_ws, w_dim]``."""
        return self.latent_avg.unsqueeze(0).expand(batch, -1, -1)

    def _to_source_size(self, images: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        size = tuple(sources.shape[-2:])
        return images if tuple(images.shape[-2:]) == size else F.adaptive_avg_pool2d(images, size)

    @torch.no_grad()
    def average_image(self, sources: torch.Tensor) -> torch.Tensor:
        """``G(latent_avg)`` with the stored noise, at the sources' size, one per source."""
        image = self.decode(self.latent_avg.unsqueeze(0), noise_mode="const")
        image = self._to_source_size(image, sources).to(sources.dtype)
        return image.expand(sources.shape[0], -1, -1, -1)

    def residual(self, sources: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The encoder's W+ step for ``[source, reconstruction]`` pairs."""
        delta = self.encoder(torch.cat([sources, images], dim=1))
        return delta.unsqueeze(1).expand(-1, self.num_ws, -1) if delta.ndim == 2 else delta

    def encode(self, sources: torch.Tensor, iterations: int | None = None,
               noise_mode: str = "const") -> torch.Tensor:
        """W+ codes after ``iterations`` (default :attr:`iterations`) refinement steps.

        The intermediate reconstructions use ``noise_mode`` (the stored noise by
        default, so encoding is deterministic); the final codes are returned undecoded.
        """
        self._check_sources(sources)
        steps = self.iterations if iterations is None else check_iterations(iterations)
        codes = self.initial_codes(sources.shape[0])
        images = self.average_image(sources)
        for step in range(steps):
            codes = codes + self.residual(sources, images)
            if step + 1 < steps:
                images = self._to_source_size(self.decode(codes, noise_mode=noise_mode), sources)
        return codes

    def loss(self, inputs: torch.Tensor, data_samples: dict, noise_mode: str | None = None) -> dict:
        """Loss terms summed over ``train_iterations`` steps (see the class docstring)."""
        if not self.losses:
            raise P2SError("this ReStylePSP model has no losses configured (model.losses) and cannot train")
        self._check_sources(inputs)
        target = data_samples["target"]
        noise_mode = noise_mode or self.train_noise_mode
        codes = self.initial_codes(inputs.shape[0])
        images = self.average_image(inputs)
        terms: dict[str, torch.Tensor] = {}
        for _ in range(self.train_iterations):
            codes = codes.detach() + self.residual(inputs, images.detach())
            output = self.decode(codes, noise_mode=noise_mode)
            pred = output if output.shape[-1] == self.pooled_size else self.face_pool(output)
            for loss in self.losses.values():
                value = loss(pred, target, source=inputs, codes=codes, latent_avg=self.latent_avg)
                terms[loss.loss_name] = terms[loss.loss_name] + value if loss.loss_name in terms else value
            images = self._to_source_size(pred, inputs)
        self.last_visuals = dict(
            source=inputs[:4].detach(), output=pred[:4].detach(), target=target[:4].detach()
        )
        return terms


@torch.no_grad()
def init_pair_input_layer(encoder: BaseEncoder, weights: str) -> None:
    """Start the 6-channel input layer from a pretrained 3-channel one (ReStyle's init).

    The backbone skips a pretrained ``input_layer`` when it does not take 3 channels;
    here its conv weights fill the source channels (the reconstruction channels keep
    their random init) and the rest of the layer (BN, PReLU) is copied as is.  Files
    without an IR-SE style ``input_layer`` are left alone.
    """
    state = load_checkpoint_file(weights, "encoder backbone weights")
    state = state.get("state_dict", state) if isinstance(state, dict) else {}
    layer = getattr(encoder, "input_layer", None)
    if layer is None or not isinstance(state, dict):
        return
    own = layer.state_dict()
    given = {k[len("input_layer."):]: v for k, v in state.items() if k.startswith("input_layer.")}
    if not given or set(given) - set(own):
        return
    conv = given.get("0.weight")
    if conv is None or conv.shape[0] != own["0.weight"].shape[0] or conv.shape[1] != IMAGE_CHANNELS:
        return
    merged = dict(own)
    for key, value in given.items():
        if key == "0.weight":
            weight = own[key].clone()
            weight[:, :IMAGE_CHANNELS] = value
            merged[key] = weight
        elif value.shape == own[key].shape:
            merged[key] = value
    layer.load_state_dict(merged)
