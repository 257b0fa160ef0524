"""Generators: ``ws`` -> image.  Importing this package registers them in ``GENERATORS``."""

from p2s.generators.base import BaseGenerator, check_shape
from p2s.generators.discriminator import StyleGAN2Discriminator
from p2s.generators.stylegan2 import StyleGAN2Generator

__all__ = ["BaseGenerator", "StyleGAN2Discriminator", "StyleGAN2Generator", "check_shape"]
