"""Task models trained and run by p2s (registry ``MODELS``)."""

from p2s.models.psp import PSP, expand_latent_avg
from p2s.models.stylegan2_gan import GANOptimWrapperConstructor, StyleGAN2GAN  # noqa: F401  (registers them)

__all__ = ["PSP", "expand_latent_avg"]
