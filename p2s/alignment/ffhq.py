"""FFHQ-style face alignment from five (or 68) landmarks, in numpy and PIL.

Coordinates are pixel coordinates ``(x, y)`` of the image as stored (no EXIF rotation is
applied), with pixel centres at integers. The five points are, in this order and in *image*
terms: left eye, right eye, nose tip, left mouth corner, right mouth corner ("left" means
smaller x for an upright face, i.e. the subject's right eye; insightface's ``kps`` and the
dlib 68-point layout both follow this order).

The oriented square ("quad") is the FFHQ recipe: from the eye centres and the mouth centre,

* ``x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]``, normalised and scaled to
  ``max(2.0 * |eye_to_eye|, 1.8 * |eye_to_mouth|)`` (half the side of the square),
* ``y = flipud(x) * [-1, 1]`` (``x`` turned by +90 degrees, pointing down the face),
* centre ``c = eye_avg + 0.1 * eye_to_mouth``,
* corners ``[c - x - y, c - x + y, c + x + y, c + x - y]`` (top-left, bottom-left,
  bottom-right, top-right), which is PIL's ``Image.QUAD`` order.

:func:`align_face` samples that square into a ``size`` x ``size`` image as pSp's
``align_all_parallel.py`` does (the transform is evaluated directly at the output size):

1. *pre-shrink*: when the quad is at least four times the output size, the image is first
   reduced by an integer factor with a Lanczos filter (a bilinear quad transform would alias);
2. *crop* to the quad's bounding box plus a 10 % border;
3. *reflect-pad* where the quad leaves the image (by at least 30 % of the quad size), then
   blend the padding towards a Gaussian blur of itself (sigma 2 % of the quad size) and
   towards the image median, the further from the real pixels the more, as FFHQ does;
4. ``Image.transform(QUAD, BILINEAR)`` to ``size`` x ``size``.

Steps 1-3 move the quad with the pixels, so the result is, up to resampling, the direct
transform of :func:`quad_to_output_affine`; :func:`aligned_points` maps any point with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from p2s.utils.errors import P2SError

__all__ = [
    "LANDMARK_NAMES",
    "aligned_points",
    "align_face",
    "ffhq_quad",
    "quad_to_output_affine",
    "to_five_landmarks",
]

#: the order of the five landmarks (image left/right)
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# dlib / iBUG 68-point indices used to make the five points
_EYE_LEFT_68 = slice(36, 42)
_EYE_RIGHT_68 = slice(42, 48)
_NOSE_TIP_68 = 30
_MOUTH_LEFT_68 = 48
_MOUTH_RIGHT_68 = 54


def to_five_landmarks(points: Sequence | np.ndarray) -> np.ndarray:
    """``[5, 2]`` or ``[68, 2]`` landmarks -> ``[5, 2]`` float64 (eyes, nose, mouth corners).

    From 68 points: the eye centres are the means of points 36-41 and 42-47, the nose is
    point 30 and the mouth corners are points 48 and 54.
    """
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise P2SError("landmarks must be 5 or 68 [x, y] number pairs") from None
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] not in (5, 68):
        raise P2SError(f"landmarks must be 5 or 68 [x, y] points, got an array of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise P2SError("landmarks must be finite numbers")
    if array.shape[0] == 5:
        return array.copy()
    return np.stack(
        [
            array[_EYE_LEFT_68].mean(axis=0),
            array[_EYE_RIGHT_68].mean(axis=0),
            array[_NOSE_TIP_68],
            array[_MOUTH_LEFT_68],
            array[_MOUTH_RIGHT_68],
        ]
    )


def _rot90(v: np.ndarray) -> np.ndarray:
    """``flipud(v) * [-1, 1]``: ``(a, b) -> (-b, a)``, a quarter turn (clockwise on screen)."""
    return np.array([-v[1], v[0]], dtype=np.float64)


def ffhq_quad(landmarks: Sequence | np.ndarray) -> np.ndarray:
    """The FFHQ crop square of a face: ``[4, 2]`` corners (top-left, bottom-left,
    bottom-right, top-right) in image pixel coordinates; see the module docstring."""
    lm = to_five_landmarks(landmarks)
    eye_left, eye_right, _, mouth_left, mouth_right = lm
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - _rot90(eye_to_mouth)
    length = math.hypot(*x)
    half_side = max(math.hypot(*eye_to_eye) * 2.0, math.hypot(*eye_to_mouth) * 1.8)
    if not length > 1e-6 or not half_side > 1e-6:
        raise P2SError("landmarks are degenerate (eyes and mouth coincide); cannot align")
    x = x / length * half_side
    y = _rot90(x)
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_output_affine(quad: np.ndarray, size: int) -> np.ndarray:
    """The ``[2, 3]`` affine map from image pixel coordinates to aligned-image pixel
    coordinates that ``Image.transform(QUAD, quad + 0.5)`` realises for a square quad.

    PIL samples output pixel ``q`` (centre ``q + 0.5``) at input position
    ``quad[0] + 0.5 + E (q + 0.5) / size`` with ``E = [quad[3] - quad[0], quad[1] - quad[0]]``,
    in coordinates whose pixel centres sit at ``+0.5``; this is the inverse of that map.
    """
    quad = np.asarray(quad, dtype=np.float64)
    edges = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)  # columns: x and y edges
    inverse = np.linalg.inv(edges) * size
    offset = -inverse @ quad[0] - 0.5
    return np.concatenate([inverse, offset[:, None]], axis=1)


def aligned_points(points: Sequence | np.ndarray, quad: np.ndarray, size: int) -> np.ndarray:
    """Where image points ``[K, 2]`` land in the ``size`` x ``size`` image aligned on ``quad``."""
    affine = quad_to_output_affine(quad, size)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts @ affine[:, :2].T + affine[:, 2]


def _gaussian_blur(array: np.ndarray, sigma: float) -> np.ndarray:
    """Blur an ``[H, W, C]`` float32 array over H and W (reflect borders)."""
    import cv2  # noqa: PLC0415 - opencv comes with mmcv-lite; only needed for padding

    if sigma <= 0:
        return array
    blurred = cv2.GaussianBlur(array, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return blurred.reshape(array.shape)


def _pad_and_blend(image: Image.Image, pad: tuple[int, int, int, int], quad_size: float) -> Image.Image:
    """Reflect-pad by ``(left, top, right, bottom)`` and fade the padding (FFHQ style)."""
    left, top, right, bottom = pad
    pixels = np.asarray(image, dtype=np.float32)
    pixels = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    height, width = pixels.shape[:2]
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    # 0 on real pixels, rising to 1 at the outer edge of the padding
    from_x = 1.0 - np.minimum(cols / max(left, 1), (width - 1 - cols) / max(right, 1))
    from_y = 1.0 - np.minimum(rows / max(top, 1), (height - 1 - rows) / max(bottom, 1))
    mask = np.maximum(from_x, from_y)
    blurred = _gaussian_blur(pixels, quad_size * 0.02)
    pixels = pixels + (blurred - pixels) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    median = np.median(pixels.reshape(-1, pixels.shape[2]), axis=0)
    pixels = pixels + (median - pixels) * np.clip(mask, 0.0, 1.0)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def align_face(
    image: Image.Image | np.ndarray,
    landmarks: Sequence | np.ndarray,
    size: int = 256,
    enable_padding: bool = True,
) -> Image.Image:
    """Crop the face given by ``landmarks`` (5 or 68 points) to an FFHQ-aligned RGB image.

    Args:
        image: a PIL image (converted to RGB) or an ``[H, W, 3]`` uint8 array.
        landmarks: ``[5, 2]`` or ``[68, 2]`` pixel coordinates (see the module docstring).
        size: output side (256 for pSp, 1024 for FFHQ).
        enable_padding: reflect-pad and blend where the square leaves the image (FFHQ);
            without it those areas are black.
    """
    if size < 1:
        raise P2SError(f"alignment size must be positive, got {size}")
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image = image.convert("RGB")
    quad = ffhq_quad(landmarks)
    quad_size = math.hypot(*(quad[3] - quad[0]))
    extent = max(image.size)
    # wrong coordinates (and a padded crop that would not fit in memory): refuse them
    where = f"a {quad_size:.0f}-px face for a {image.width}x{image.height} image"
    if not np.isfinite(quad).all() or quad.min() < -2 * extent or quad.max() > 3 * extent:
        raise P2SError(f"the face lies outside the image ({where}); check that the landmarks are this "
                       "image's pixel coordinates")
    if quad_size > 4 * extent:
        raise P2SError(f"the landmarks describe {where}; check that they are this image's pixel coordinates")

    # 1. pre-shrink big faces (integer factor, as FFHQ); the quad follows the pixel grid
    shrink = int(math.floor(quad_size / size * 0.5))
    if shrink > 1:
        new_size = (max(1, round(image.width / shrink)), max(1, round(image.height / shrink)))
        scale = np.array([new_size[0] / image.width, new_size[1] / image.height])
        image = image.resize(new_size, Image.Resampling.LANCZOS)
        quad = (quad + 0.5) * scale - 0.5
        quad_size *= float(scale.mean())

    # 2. crop to the quad plus a border
    border = max(int(round(quad_size * 0.1)), 3)
    low = np.floor(quad.min(axis=0)).astype(int)
    high = np.ceil(quad.max(axis=0)).astype(int)
    crop = (
        max(low[0] - border, 0),
        max(low[1] - border, 0),
        min(high[0] + border, image.width),
        min(high[1] + border, image.height),
    )
    if crop[2] <= crop[0] or crop[3] <= crop[1]:
        raise P2SError("the face lies outside the image; check the landmarks")
    if crop[2] - crop[0] < image.width or crop[3] - crop[1] < image.height:
        image = image.crop(crop)
        quad = quad - np.array(crop[:2], dtype=np.float64)

    # 3. pad where the quad leaves the (cropped) image
    low = np.floor(quad.min(axis=0)).astype(int)
    high = np.ceil(quad.max(axis=0)).astype(int)
    pad = [
        max(-low[0] + border, 0),
        max(-low[1] + border, 0),
        max(high[0] - image.width + border, 0),
        max(high[1] - image.height + border, 0),
    ]
    if enable_padding and max(pad) > border - 4:
        pad = [max(p, int(round(quad_size * 0.3))) for p in pad]
        image = _pad_and_blend(image, (pad[0], pad[1], pad[2], pad[3]), quad_size)
        quad = quad + np.array(pad[:2], dtype=np.float64)

    # 4. sample the square
    return image.transform(
        (size, size), Image.Transform.QUAD, tuple((quad + 0.5).flatten().tolist()), Image.Resampling.BILINEAR
    )
