"""Face detection with insightface's SCRFD (``det_10g.onnx``) from a local folder.

insightface and onnxruntime are optional (``pip install 'p2s[align]'``) and imported only
when a detector is built. Nothing is downloaded: the model file must already be on disk,
e.g. the ``buffalo_l`` pack unpacked in ``~/.insightface/models/buffalo_l``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from p2s.utils.errors import P2SError

__all__ = ["DEFAULT_DETECTOR_DIR", "DETECTOR_FILE", "FaceDetector", "resolve_detector_file"]

#: where insightface unpacks its default model pack
DEFAULT_DETECTOR_DIR = Path("~/.insightface/models/buffalo_l")
#: the SCRFD-10G detector (with 5 keypoints) of the buffalo_l pack
DETECTOR_FILE = "det_10g.onnx"

_WHAT_TO_DO = f"put the buffalo_l pack ({DETECTOR_FILE}) there, or pass --landmarks FILE"


def resolve_detector_file(location: str | Path) -> Path:
    """The detector ONNX file in folder ``location`` (or ``location`` itself if it is an
    ``.onnx`` file): ``det_10g.onnx``, else the first ``det_*.onnx`` / ``scrfd*.onnx``."""
    path = Path(location).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise P2SError(f"face detector '{path}' is not an .onnx file; {_WHAT_TO_DO}")
        return path
    if not path.is_dir():
        raise P2SError(f"face detector folder '{path}' does not exist: {_WHAT_TO_DO}")
    preferred = path / DETECTOR_FILE
    if preferred.is_file():
        return preferred
    others = sorted(p for p in path.glob("*.onnx") if p.name.lower().startswith(("det_", "scrfd")))
    if others:
        return others[0]
    raise P2SError(f"face detector folder '{path}' has no {DETECTOR_FILE}: {_WHAT_TO_DO}")


def _model_zoo():
    """insightface's model zoo, or a one-line error saying how to install it."""
    try:
        from insightface.model_zoo import model_zoo  # noqa: PLC0415 - optional, slow import
    except ImportError as err:
        missing = getattr(err, "name", None) or "insightface"
        raise P2SError(
            f"face detection needs insightface and onnxruntime ({missing} is not importable): "
            "pip install 'p2s[align]', or pass --landmarks FILE"
        ) from None
    return model_zoo


def _providers(device: str | None) -> tuple[list[str], int]:
    """onnxruntime providers and insightface ``ctx_id`` for ``device`` (None: CUDA if present)."""
    import onnxruntime  # noqa: PLC0415 - imported with insightface

    available = onnxruntime.get_available_providers()
    want_cuda = device is None or str(device).startswith("cuda")
    if want_cuda and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], 0
    if device is not None and str(device).startswith("cuda"):
        raise P2SError("onnxruntime has no CUDA provider here (install onnxruntime-gpu), use --device cpu")
    return ["CPUExecutionProvider"], -1


class FaceDetector:
    """Faces of an image as 5-point landmarks, largest face first.

    Args:
        model: an insightface SCRFD model (anything with ``detect(bgr, input_size=...)``
            returning ``(boxes [N, 5], keypoints [N, 5, 2])``).
        det_size: square detector input size (insightface's default is 640).
        det_thresh: minimum detection score.
    """

    def __init__(self, model, det_size: int = 640, det_thresh: float = 0.5) -> None:
        self.model = model
        self.det_size = int(det_size)
        self.det_thresh = float(det_thresh)

    @classmethod
    def from_dir(
        cls,
        location: str | Path = DEFAULT_DETECTOR_DIR,
        det_size: int = 640,
        det_thresh: float = 0.5,
        device: str | None = "cpu",
    ) -> FaceDetector:
        """Load the SCRFD detector from a local folder (see :func:`resolve_detector_file`)."""
        path = resolve_detector_file(location)
        zoo = _model_zoo()
        providers, ctx_id = _providers(device)
        try:
            model = zoo.get_model(str(path), providers=providers)
        except Exception as err:  # onnxruntime raises its own types for broken files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise P2SError(f"could not load face detector '{path}': {first}") from None
        if model is None or not hasattr(model, "detect"):
            raise P2SError(f"'{path}' is not a face detection model; {_WHAT_TO_DO}")
        model.prepare(ctx_id=ctx_id, input_size=(det_size, det_size), det_thresh=det_thresh)
        if not getattr(model, "use_kps", True):
            raise P2SError(f"face detector '{path}' gives no keypoints; use an SCRFD *kps model such as {DETECTOR_FILE}")
        return cls(model, det_size=det_size, det_thresh=det_thresh)

    def __call__(self, image: Image.Image, path: str | Path | None = None) -> list[np.ndarray]:
        """``[5, 2]`` landmarks of each face found, sorted by box area (largest first);
        ``path`` is unused (face sources are called with the image and its path)."""
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        boxes, keypoints = self.model.detect(bgr, input_size=(self.det_size, self.det_size))
        if boxes is None or len(boxes) == 0:
            return []
        if keypoints is None:
            raise P2SError("the face detector returned no keypoints; use an SCRFD *kps model")
        boxes = np.asarray(boxes, dtype=np.float64)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        order = np.argsort(-areas, kind="stable")
        return [np.asarray(keypoints[i], dtype=np.float64).reshape(5, 2) for i in order]

