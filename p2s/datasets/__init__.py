"""Datasets and samplers (registries ``DATASETS``, ``DATA_SAMPLERS``)."""

from p2s.datasets.folders import ImageFolderDataset, PairedImageDataset
from p2s.datasets.samplers import PositionedInfiniteSampler

__all__ = ["ImageFolderDataset", "PairedImageDataset", "PositionedInfiniteSampler"]
