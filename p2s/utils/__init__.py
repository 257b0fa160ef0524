"""Shared helpers: user-facing errors, typed registry builds, safe checkpoint I/O."""

from p2s.utils.errors import P2SError

__all__ = ["P2SError"]
