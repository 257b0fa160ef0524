"""Image-quality metrics of predictions against targets (folder-level evaluation:
:mod:`p2s.evaluation.pairs`).

Value ranges:

* :func:`mse`, :func:`psnr` and :func:`ssim` take ``[N, C, H, W]`` float tensors in
  ``[0, 1]`` (``data_range=1``); ``p2s evaluate`` feeds them ``[0, 1]`` images. Rescale
  ``[-1, 1]`` images with ``(x + 1) / 2`` first: :func:`mse` is computed in whatever range it
  is given (four times the ``[0, 1]`` value for ``[-1, 1]``), :func:`psnr` with
  ``data_range=2.0`` would agree, but SSIM's luminance term is not shift-invariant, so
  :func:`ssim` on ``[-1, 1]`` data gives a different (non-standard) number.
* :class:`LPIPSMetric` and :class:`IDSimilarity` take ``[0, 1]`` images by default and map
  them to the ``[-1, 1]`` the networks expect; pass ``input_range=(-1, 1)`` for images
  already in that range.

Every function returns one value per image (``[N]``, float64). PSNR of identical images
is ``+inf``; :func:`summary_json` writes non-finite numbers as ``null``.

LPIPS and the identity similarity need real weights: a random backbone is not a metric,
so a missing file is a one-line :class:`~p2s.utils.errors.P2SError`, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from p2s.utils.errors import P2SError
from p2s.utils.precision import float32_precision

__all__ = [
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "MetricFn",
    "IDSimilarity",
    "LPIPSMetric",
    "build_metrics",
    "gaussian_window",
    "id_similarity",
    "l2",
    "lpips",
    "mse",
    "parse_metric_names",
    "psnr",
    "ssim",
]

#: metrics ``p2s evaluate`` knows, in its default display order
METRIC_NAMES = ("mse", "psnr", "ssim", "lpips", "id", "l2")
HIGHER_IS_BETTER = {"mse": False, "psnr": True, "ssim": True, "lpips": False, "id": True, "l2": False}


# --------------------------------------------------------------------------------------------
# Pixel metrics


def _as_batch(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two images ``[C, H, W]`` or batches ``[N, C, H, W]`` of one shape, as float64."""
    if pred.shape != target.shape:
        raise P2SError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    if pred.ndim != 4:
        raise P2SError(f"metrics take [N, C, H, W] or [C, H, W] tensors, got shape {tuple(pred.shape)}")
    for name, images in (("pred", pred), ("target", target)):
        if not images.is_floating_point():  # uint8 would be read as values up to 255 on a [0, 1] scale
            raise P2SError(f"metrics take float images in [0, 1], got {name} of {images.dtype} (divide uint8 by 255)")
    return pred.to(torch.float64), target.to(pred.device, torch.float64)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image: ``[N]``."""
    pred, target = _as_batch(pred, target)
    return (pred - target).pow(2).flatten(1).mean(dim=1)


def l2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pSp's L2 of ``calc_losses_on_images.py``: the mean squared error of images in
    ``[-1, 1]``, i.e. 4x :func:`mse` on ``[0, 1]``: ``[N]``."""
    return 4.0 * mse(pred, target)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, ``10 log10(data_range^2 / mse)``; ``+inf``
    where the images are identical."""
    error = mse(pred, target)
    return 10.0 * torch.log10(data_range**2 / error)


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on the middle one."""
    offsets = torch.arange(size, dtype=dtype) - (size - 1) / 2
    window = torch.exp(-(offsets**2) / (2 * sigma**2))
    return window / window.sum()


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of every channel of ``[N, C, H, W]`` with ``window``."""
    channels = x.shape[1]
    taps = window.numel()
    rows = window.view(1, 1, taps, 1).expand(channels, 1, taps, 1)
    cols = window.view(1, 1, 1, taps).expand(channels, 1, 1, taps)
    return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004): ``[N]``.

    Local statistics use a Gaussian window (11 taps, sigma 1.5) over each channel
    separately, population (not sample) covariances, ``C1 = (k1 L)^2`` and
    ``C2 = (k2 L)^2`` with ``L = data_range``; the SSIM map is taken where the window fits
    entirely inside the image ('valid') and averaged over positions and channels. This is
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)``. Computed in float64.
    """
    pred, target = _as_batch(pred, target)
    if min(pred.shape[-2:]) < window_size:
        raise P2SError(f"ssim needs images of at least {window_size}x{window_size}, got {tuple(pred.shape[-2:])}")
    window = gaussian_window(window_size, sigma).to(pred.device)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_x = _filter(pred, window)
    mu_y = _filter(target, window)
    var_x = _filter(pred * pred, window) - mu_x**2
    var_y = _filter(target * target, window) - mu_y**2
    cov = _filter(pred * target, window) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (numerator / denominator).flatten(1).mean(dim=1)


# --------------------------------------------------------------------------------------------
# Network metrics


def _to_pm1(images: torch.Tensor, input_range: tuple[float, float]) -> torch.Tensor:
    low, high = input_range
    return (images.float() - low) * (2.0 / (high - low)) - 1.0


#: smallest image side each LPIPS trunk takes (AlexNet's strided conv and two 3x3 pools,
#: VGG16's four 2x2 pools); a smaller image fails inside torch's max-pool
LPIPS_MIN_SIZE = {"alex": 31, "vgg": 16}


class LPIPSMetric:
    """LPIPS distance per image (lower is better) with p2s's :class:`LPIPSLoss`.

    Args:
        backbone_weights: torchvision's ``alexnet-owt-7be5be79.pth`` (or ``vgg16-397923af.pth``
            for ``net='vgg'``); by default looked up in ``<torch hub dir>/checkpoints``. A
            missing file is a one-line error (a random trunk is never used).
        net: ``'alex'`` (as pSp) or ``'vgg'``.
        device: where to run.
    """

    def __init__(self, backbone_weights: str | Path | None = None, net: str = "alex", device: str | torch.device = "cpu") -> None:
        from p2s.losses.lpips import LPIPSLoss  # noqa: PLC0415 - imports the lpips package

        weights = None if backbone_weights is None else str(backbone_weights)
        self.loss = LPIPSLoss(loss_weight=1.0, net=net, backbone_weights=weights).to(device).eval()
        self.device = torch.device(device)
        self.min_size = LPIPS_MIN_SIZE[net]

    @torch.no_grad()
    def __call__(
        self, pred: torch.Tensor, target: torch.Tensor, input_range: tuple[float, float] = (0.0, 1.0)
    ) -> torch.Tensor:
        pred, target = _as_batch(pred, target)
        if min(pred.shape[-2:]) < self.min_size:
            raise P2SError(f"lpips needs images of at least {self.min_size}x{self.min_size}, "
                           f"got {tuple(pred.shape[-2:])}")
        a = _to_pm1(pred, input_range).to(self.device)
        b = _to_pm1(target, input_range).to(self.device)
        with float32_precision("ieee"):  # the same figure on a GPU, where cuDNN would round to TF32
            distance = self.loss.lpips(a, b, normalize=False)
        return distance.flatten(1).mean(dim=1).double().cpu()


class IDSimilarity:
    """Cosine similarity of ArcFace (IR-SE50) embeddings per image (higher is better).

    As pSp's identity loss: images that are not 256x256 are average-pooled to 256x256, the
    face region ``FACE_CROP`` (rows 35:223, columns 32:220 of an FFHQ-aligned 256 image) is
    cropped and pooled to 112x112, and the L2-normalised embeddings are compared.

    Args:
        weights: path of ``model_ir_se50.pth`` (required).
        device: where to run.
    """

    def __init__(self, weights: str | Path | None, device: str | torch.device = "cpu") -> None:
        from p2s.backbones.irse import IRSE50_HOW_TO_GET  # noqa: PLC0415
        from p2s.losses.identity import IDLoss  # noqa: PLC0415

        if weights is None:
            raise P2SError(
                "the id metric needs the IR-SE50 ArcFace weights: pass --id-weights PATH "
                f"(model_ir_se50.pth). {IRSE50_HOW_TO_GET}"
            )
        self.loss = IDLoss(weights=str(weights), loss_weight=1.0).to(device).eval()
        self.device = torch.device(device)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in ``[-1, 1]`` -> ``[N, 512]`` unit embeddings."""
        if tuple(images.shape[-2:]) != (256, 256):
            images = F.adaptive_avg_pool2d(images, (256, 256))
        with float32_precision("ieee"):  # the same figure on a GPU, where cuDNN would round to TF32
            return self.loss.embed(images)

    @torch.no_grad()
    def __call__(
        self, pred: torch.Tensor, target: torch.Tensor, input_range: tuple[float, float] = (0.0, 1.0)
    ) -> torch.Tensor:
        pred, target = _as_batch(pred, target)
        both = torch.cat([_to_pm1(pred, input_range), _to_pm1(target, input_range)]).to(self.device)
        embeddings = self.embed(both)
        a, b = embeddings.split(pred.shape[0])
        return (a * b).sum(dim=1).double().cpu()


_NETWORK_CACHE: dict[tuple, object] = {}


def lpips(
    pred: torch.Tensor,
    target: torch.Tensor,
    backbone_weights: str | Path | None = None,
    net: str = "alex",
    input_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """LPIPS per image (``[N]``); the network is built once per weight file and cached."""
    key = ("lpips", net, None if backbone_weights is None else str(backbone_weights))
    if key not in _NETWORK_CACHE:
        _NETWORK_CACHE[key] = LPIPSMetric(backbone_weights, net=net)
    return _NETWORK_CACHE[key](pred, target, input_range)  # type: ignore[operator]


def id_similarity(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: str | Path,
    input_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Identity cosine similarity per image (``[N]``); network cached per weight file."""
    key = ("id", str(weights))
    if key not in _NETWORK_CACHE:
        _NETWORK_CACHE[key] = IDSimilarity(weights)
    return _NETWORK_CACHE[key](pred, target, input_range)  # type: ignore[operator]


MetricFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def parse_metric_names(text: str | Sequence[str]) -> list[str]:
    """``'mse,lpips'`` -> ``['mse', 'lpips']`` (order kept, duplicates dropped)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for part in parts:
        name = part.strip().lower()
        if not name:
            continue
        if name not in METRIC_NAMES:
            raise P2SError(f"unknown metric '{name}'; choose from {', '.join(METRIC_NAMES)}")
        if name not in names:
            names.append(name)
    if not names:
        raise P2SError(f"no metric given; choose from {', '.join(METRIC_NAMES)}")
    return names


def build_metrics(
    names: str | Iterable[str],
    lpips_weights: str | Path | None = None,
    id_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, MetricFn]:
    """Metric name -> ``f(pred, target) -> [N]`` on ``[0, 1]`` images (networks built now,
    so missing weights fail before any image is read)."""
    metrics: dict[str, MetricFn] = {}
    for name in parse_metric_names(names if isinstance(names, str) else list(names)):
        if name == "mse":
            metrics[name] = mse
        elif name == "l2":
            metrics[name] = l2
        elif name == "psnr":
            metrics[name] = psnr
        elif name == "ssim":
            metrics[name] = ssim
        elif name == "lpips":
            metrics[name] = LPIPSMetric(lpips_weights, device=device)
        elif name == "id":
            metrics[name] = IDSimilarity(id_weights, device=device)
    return metrics
