"""Latent editing on top of pSp encodings.

* :mod:`~p2s.editing.directions`: load ``.npy`` directions (InterFaceGAN-style) or
  ``ganspace:K`` and add them to W+ codes;
* :mod:`~p2s.editing.ganspace`: GANSpace principal directions of the mapping network;
* :mod:`~p2s.editing.patch`: local patch editing (paste, then re-encode);
* :mod:`~p2s.editing.editor`: the same with a :class:`~p2s.apis.translator.Translator`
  and files (``p2s edit``).
"""

from p2s.editing.directions import apply_direction, check_strength, load_direction
from p2s.editing.ganspace import GanSpace, ganspace_directions, load_ganspace, save_ganspace
from p2s.editing.patch import local_edit, parse_box, paste_patch

__all__ = [
    "GanSpace",
    "apply_direction",
    "check_strength",
    "ganspace_directions",
    "load_direction",
    "load_ganspace",
    "local_edit",
    "parse_box",
    "paste_patch",
    "save_ganspace",
]
