"""DistributedDataParallel that also runs on CPU (gloo), for tests and CPU clusters.

MMEngine passes ``device_ids=[LOCAL_RANK]`` to DDP, which PyTorch rejects for CPU
modules; this wrapper drops them when the module is not on a GPU.
"""

from __future__ import annotations

import torch
from mmengine.model import MMDistributedDataParallel

from p2s.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class P2SDistributedDataParallel(MMDistributedDataParallel):
    """MMEngine's DDP wrapper; ``device_ids`` are ignored for CPU modules."""

    def __init__(self, module: torch.nn.Module, device_ids=None, **kwargs) -> None:
        on_gpu = any(p.is_cuda for p in module.parameters())
        super().__init__(module=module, device_ids=device_ids if on_gpu else None, **kwargs)
