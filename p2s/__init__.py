"""p2s: pixel2style2pixel as a modular, registry-driven toolkit.

Importing the package is cheap on purpose: registries and models load lazily.
"""

import os

__version__ = "0.1.0"

# p2s reaches no network at run time: albumentations would ask PyPI for a newer release at
# every import (seconds of DNS waiting and a warning on an offline machine).  A user who
# wants the check sets NO_ALBUMENTATIONS_UPDATE=0.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
