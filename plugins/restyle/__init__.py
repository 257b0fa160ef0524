"""ReStyle (Alaluf et al., ICCV 2021): iterative refinement of pSp encodings.

Importing this package registers the ``ReStylePSP`` model; nothing in p2s imports it.
A config names it in ``custom_imports``; code that reads a ReStyle checkpoint saved by
``save_translation_checkpoint`` imports it first (``import p2s_plugins.restyle``).
"""

from p2s_plugins.restyle.model import ReStyleEncoder, ReStylePSP

__all__ = ["ReStyleEncoder", "ReStylePSP"]
