"""p2s.datasets."""
