"""Training engine pieces for MMEngine's Runner: the Ranger optimizer and p2s hooks.

Importing this package registers ``Ranger`` (``OPTIMIZERS``), ``SafeCheckpointHook``,
``AtomicCheckpointHook``, ``ImageGridHook``, ``RNGStateHook``,
``DeferredRuntimeInfoHook`` and ``HostMemoryTrimHook`` (``HOOKS``),
``P2SDistributedDataParallel`` (``MODEL_WRAPPERS``), ``BF16AutocastOptimWrapper``
(``OPTIM_WRAPPERS``), ``P2SLogProcessor`` (``LOG_PROCESSORS``) under scope
``p2s``, the ``'p2s_atomic_local'`` file backend, and makes MMEngine load local
checkpoints with ``torch.load(weights_only=True)``.  The registries import it lazily, so
a config with ``default_scope='p2s'`` needs no ``custom_imports``.
"""

from p2s.engine.amp import BF16AutocastOptimWrapper
from p2s.engine.checkpoint_io import (
    AtomicLocalBackend,
    atomic_write,
    from_weights_only_safe,
    load_from_local_weights_only,
    to_weights_only_safe,
    use_weights_only_loader,
)
from p2s.engine.ddp import P2SDistributedDataParallel
from p2s.engine.checkpoint_hooks import AtomicCheckpointHook, SafeCheckpointHook
from p2s.engine.host_memory_hook import HostMemoryTrimHook
from p2s.engine.image_grid_hook import ImageGridHook
from p2s.engine.log_processor import P2SLogProcessor
from p2s.engine.optimizers import Ranger
from p2s.engine.rng_hook import RNGStateHook
from p2s.engine.runtime_info import DeferredRuntimeInfoHook
from p2s.engine.translation_hook import TranslationConfigHook
from p2s.engine.visual_grid import label_palette, make_visual_grid

use_weights_only_loader()

__all__ = [
    "AtomicCheckpointHook",
    "AtomicLocalBackend",
    "BF16AutocastOptimWrapper",
    "DeferredRuntimeInfoHook",
    "HostMemoryTrimHook",
    "ImageGridHook",
    "P2SDistributedDataParallel",
    "P2SLogProcessor",
    "RNGStateHook",
    "Ranger",
    "SafeCheckpointHook",
    "TranslationConfigHook",
    "atomic_write",
    "from_weights_only_safe",
    "label_palette",
    "load_from_local_weights_only",
    "make_visual_grid",
    "to_weights_only_safe",
    "use_weights_only_loader",
]
