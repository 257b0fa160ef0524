"""Colorization: a grayscale face in, the colour face out (not a task of the paper).

Importing this package registers the ``Colorization`` task; nothing in p2s imports it.
"""

from p2s_plugins.colorization.task import Colorization

__all__ = ["Colorization"]
