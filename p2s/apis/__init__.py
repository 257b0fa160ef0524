"""High-level Python API: build translators from checkpoints, run them on images."""

from p2s.apis.projector import ProjectionResult, Projector
from p2s.apis.translator import Translation, Translator

__all__ = ["ProjectionResult", "Projector", "Translation", "Translator"]
