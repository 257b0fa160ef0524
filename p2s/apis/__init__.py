"""High-level Python API: build translators from checkpoints, run them on images."""

from p2s.apis.translator import Translation, Translator

__all__ = ["Translation", "Translator"]
