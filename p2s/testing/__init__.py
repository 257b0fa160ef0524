"""Test helpers that ship with p2s (importable by downstream tests, never by runtime code).

* :mod:`p2s.testing.shared` locates the ``shared/`` folder of format manifests and parity
  fixtures, skipping (or failing, with ``P2S_REQUIRE_SHARED=1``) when it is absent.
* :mod:`p2s.testing.official_layout` rebuilds the random-weight checkpoints of
  ``shared/fixtures/psp256`` bit for bit from a manifest and a seed, and makes cheap
  placeholder state dicts of any official layout for strict-load tests.

Submodules are imported explicitly, so ``import p2s.testing`` costs nothing.
"""
