"""GANSpace directions of a tiny generator: PCA properties, reproducibility, files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from p2s.editing.ganspace import ganspace_directions, load_ganspace, save_ganspace
from p2s.utils.errors import P2SError

TINY_GENERATOR = dict(type="StyleGAN2Generator", resolution=16, w_dim=8, n_mlp=2, channel_max=16, channel_multiplier=1)


@pytest.fixture(scope="module")
def generator():
    from p2s.registry import GENERATORS
    from p2s.utils.build import build

    torch.manual_seed(3)
    return build(GENERATORS, TINY_GENERATOR).eval()


@pytest.fixture(scope="module")
def space(generator):
    return ganspace_directions(generator, n_samples=3000, n_components=5, seed=0)


def test_a_psp_model_gives_its_generators_directions(generator, space):
    """The API took a generator only: a PSP model failed with "'PSP' has no attribute 'w_dim'"."""
    psp = torch.nn.Module()
    psp.decoder = generator
    torch.testing.assert_close(ganspace_directions(psp, n_samples=3000, n_components=5, seed=0).components,
                               space.components)
    with pytest.raises(P2SError, match="GANSpace needs a StyleGAN generator or a PSP model, got Linear"):
        ganspace_directions(torch.nn.Linear(2, 2))


def test_no_graph_is_kept_when_the_mapping_requires_grad(generator, space):
    """The chunks' sums grew one autograd graph over every sample (memory, not O(w_dim**2))."""
    assert all(p.requires_grad for p in generator.parameters())
    for tensor in (space.components, space.stds, space.mean):
        assert not tensor.requires_grad and tensor.grad_fn is None


def test_components_are_orthonormal_and_sorted(space):
    components, stds, mean = space
    assert components.shape == (5, 8) and stds.shape == (5,) and mean.shape == (8,)
    torch.testing.assert_close(components @ components.T, torch.eye(5), atol=1e-5, rtol=0)
    assert (stds[:-1] >= stds[1:]).all() and (stds > 0).all()


def test_matches_svd_of_the_centred_samples(generator, space):
    """Same z stream as ganspace_directions (one chunk): PCA by SVD agrees."""
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = generator.mapping(torch.randn(3000, 8, generator=rng)).double()
    centred = w - w.mean(0)
    _, singular, vt = torch.linalg.svd(centred, full_matrices=False)
    torch.testing.assert_close(space.mean.double(), w.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(space.stds.double(), singular[:5] / (3000 - 1) ** 0.5, atol=1e-5, rtol=1e-4)
    cosines = (space.components.double() * vt[:5]).sum(1).abs()
    torch.testing.assert_close(cosines, torch.ones(5, dtype=torch.float64), atol=1e-4, rtol=0)


def test_reproducible_for_a_seed(generator, space):
    again = ganspace_directions(generator, n_samples=3000, n_components=5, seed=0)
    for a, b in zip(space, again):
        assert torch.equal(a, b)
    other = ganspace_directions(generator, n_samples=3000, n_components=5, seed=1)
    assert not torch.equal(other.mean, space.mean)


def test_npz_round_trip(tmp_path, space):
    path = save_ganspace(tmp_path / "g.npz", space, n_samples=3000, seed=0)
    loaded = load_ganspace(path)
    for a, b in zip(space, loaded):
        assert torch.equal(a, b)
    with np.load(path) as archive:
        assert int(archive["n_samples"]) == 3000


@pytest.mark.parametrize("write, expected", [
    (lambda p: np.savez(p, components=np.eye(3)), "lacks stds, mean"),
    (lambda p: np.savez(p, components=np.eye(3), stds=np.ones(2), mean=np.zeros(3)), "expected [k, w], [k], [w]"),
    (lambda p: p.write_bytes(b"garbage"), "not a readable .npz archive (it is text)"),
])
def test_bad_npz(tmp_path, write, expected):
    path = tmp_path / "bad.npz"
    write(path)
    with pytest.raises(P2SError, match=re.escape(expected)):
        load_ganspace(path)


def test_argument_checks(generator):
    with pytest.raises(P2SError, match="between 1 and 8"):
        ganspace_directions(generator, n_samples=100, n_components=9)
    with pytest.raises(P2SError, match="more than --components"):
        ganspace_directions(generator, n_samples=5, n_components=5)
