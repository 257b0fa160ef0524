"""User-facing errors.

A :class:`P2SError` carries one line that says what went wrong and what to do; the CLI
prints it without a traceback and exits with code 2.
"""


class P2SError(Exception):
    """An error caused by the user's input (file, config, option), not by a bug."""


class P2SWarning(UserWarning):
    """Something that works, but not as the user most likely wants (a slow path, say);
    the CLI prints it as one ``warning:`` line."""


class TrainingDivergedError(P2SError):
    """A loss or the weights of a running training turned NaN or infinite: the run stops
    (keeping its logs) before any checkpoint is written from it."""


class SourceImageError(P2SError):
    """An image file that cannot be used (unreadable, wrong mode, bad labels): inference
    skips it and reports it, training skips it with a warning."""


class MissingWeightsError(P2SError, FileNotFoundError):
    """A weight file that p2s needs is not on disk (nothing is ever downloaded)."""

    def __init__(self, what: str, path: str | None = None, how_to_get: str = "") -> None:
        # one-argument form: MMEngine re-raises build errors as ``type(e)(message)``
        message = what if path is None else f"{what} not found at '{path}'. {how_to_get}".strip()
        super().__init__(message)
        self.path = path


class CheckpointMismatchError(P2SError):
    """A state dict does not fit the model it is loaded into."""
