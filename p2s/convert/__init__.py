"""Offline conversion of foreign checkpoints to plain p2s weight files.

Foreign pickles are read only through :class:`~p2s.convert.unpickler.RestrictedUnpickler`
(nothing from the file is imported or run); the outputs are plain dicts of tensors that
load with ``torch.load(weights_only=True)``.  Convert once, never at train or translate
time.
"""

from p2s.convert.ada import ada_generator_to_p2s, convert_ada_pickle, read_ada_pickle
from p2s.convert.unpickler import PersistentStub, RestrictedUnpickler, Stub, restricted_load

__all__ = [
    "PersistentStub",
    "RestrictedUnpickler",
    "Stub",
    "ada_generator_to_p2s",
    "convert_ada_pickle",
    "read_ada_pickle",
    "restricted_load",
]
