"""Random weight files for the network metrics (LPIPS AlexNet trunk, IR-SE50 ArcFace)."""

from __future__ import annotations

import math

import pytest
import torch


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A private, empty torch hub dir, so a real cache cannot supply LPIPS weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture(scope="session")
def alexnet_weights(tmp_path_factory):
    """torchvision's AlexNet with random weights, saved as a plain state dict."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.alexnet(weights=None)
    path = tmp_path_factory.mktemp("alexnet") / "alexnet-owt-7be5be79.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def irse50_weights(tmp_path_factory):
    """A random IR-SE50 file in the official ``model_ir_se50.pth`` layout.

    Built from the shared manifest: conv / linear weights are normals scaled by
    ``1/sqrt(fan_in)`` (activations stay in range through the 24 units), BatchNorm scales
    near 1, PReLU slopes near 0.25, small biases and means, positive running variances.
    """
    from p2s.testing.official_layout import random_state_dict_like, read_manifest
    from p2s.testing.shared import shared_dir_for_tests

    rows = read_manifest(shared_dir_for_tests("formats", "ir_se50_model_ir_se50.tsv"))
    state = random_state_dict_like(rows, materialize=True)
    gen = torch.Generator().manual_seed(3)
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        normal = torch.randn(tensor.shape, generator=gen)
        if key.endswith(".running_var"):
            tensor.copy_(1.0 + 0.1 * normal.abs())
        elif tensor.ndim >= 2:
            tensor.copy_(normal / math.sqrt(math.prod(tensor.shape[1:])))
        elif key.endswith(".weight") and key[: -len("weight")] + "running_mean" in state:
            tensor.copy_(1.0 + 0.05 * normal)  # BatchNorm scale
        elif key.endswith(".weight"):
            tensor.copy_(0.25 + 0.05 * normal)  # PReLU slope
        else:
            tensor.copy_(0.05 * normal)  # biases, running means
    path = tmp_path_factory.mktemp("irse50") / "model_ir_se50.pth"
    torch.save(state, path)
    return path


