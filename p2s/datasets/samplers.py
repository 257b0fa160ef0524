"""A sampler whose draws carry their position in the stream.

Augmentation randomness is then a pure function of (seed, position): a resumed run
sees exactly the samples an uninterrupted run would, whatever the number of
workers and whatever else consumed the global random state.
"""

from __future__ import annotations

from collections.abc import Iterator

from mmengine.dataset import InfiniteSampler

from p2s.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class PositionedInfiniteSampler(InfiniteSampler):
    """MMEngine's ``InfiniteSampler`` yielding ``(index, position)`` pairs, where
    ``position`` counts draws over all ranks (so every rank's draws differ)."""

    def _indices_of_rank(self) -> Iterator[tuple[int, int]]:
        for position, index in enumerate(self._infinite_indices()):
            if position % self.world_size == self.rank:
                yield index, position
