"""A synthetic face domain: a procedural renderer of aligned faces with label maps,
sketches and frontal views (``p2s data synthfaces``), a GAN image dataset, and the export
of generators trained on it (``configs/stylegan2/``, ``p2s data export-generator``).

The renderer needs only numpy and PIL; the dataset and the export import torch.
"""

from p2s.synthfaces.generate import GenerateStats, generate, render_sample, sample_attributes, write_sample
from p2s.synthfaces.params import frontal_params, sample_params
from p2s.synthfaces.renderer import CLASSES, EYE_ROW, LABEL, Rendered, landmarks, render

__all__ = [
    "CLASSES",
    "EYE_ROW",
    "GenerateStats",
    "LABEL",
    "Rendered",
    "frontal_params",
    "generate",
    "landmarks",
    "render",
    "render_sample",
    "sample_attributes",
    "sample_params",
    "write_sample",
]
