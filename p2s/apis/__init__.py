"""High-level Python API: build translators from checkpoints, run them on images."""
