"""Task models trained and run by p2s (registry ``MODELS``)."""

from p2s.models.psp import PSP, expand_latent_avg

__all__ = ["PSP", "expand_latent_avg"]
