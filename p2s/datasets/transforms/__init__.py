"""p2s.datasets.transforms."""
