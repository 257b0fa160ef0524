"""FFHQ face alignment (``p2s align``): landmarks -> oriented square -> aligned crop.

* :mod:`p2s.alignment.ffhq`: the pure numpy/PIL transform from 5 (or 68) landmarks;
* :mod:`p2s.alignment.landmarks`: landmarks from a JSON file (no detector needed);
* :mod:`p2s.alignment.detector`: insightface SCRFD from a local folder (optional extra
  ``p2s[align]``, imported only when a detector is built);
* :mod:`p2s.alignment.files`: :func:`align_paths` over image files.
"""

from p2s.alignment.detector import DEFAULT_DETECTOR_DIR, DETECTOR_FILE, FaceDetector, resolve_detector_file
from p2s.alignment.ffhq import (
    LANDMARK_NAMES,
    align_face,
    aligned_points,
    ffhq_quad,
    quad_to_output_affine,
    to_five_landmarks,
)
from p2s.alignment.files import FaceSource, align_paths, aligned_names
from p2s.alignment.landmarks import LandmarkTable, load_landmarks

__all__ = [
    "DEFAULT_DETECTOR_DIR",
    "DETECTOR_FILE",
    "LANDMARK_NAMES",
    "FaceDetector",
    "FaceSource",
    "LandmarkTable",
    "align_face",
    "align_paths",
    "aligned_names",
    "aligned_points",
    "ffhq_quad",
    "load_landmarks",
    "quad_to_output_affine",
    "resolve_detector_file",
    "to_five_landmarks",
]
