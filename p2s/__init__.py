"""p2s: pixel2style2pixel as a modular, registry-driven toolkit.

Importing the package is cheap on purpose: registries and models load lazily.
"""

__version__ = "0.1.0"
