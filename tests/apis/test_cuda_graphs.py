"""``Translator(cuda_graphs=True)``: the passes replayed from recorded graphs give the eager
results, and no result is overwritten by the next call.

CI has no GPU: the device check is lifted and the recording is
:func:`~p2s.utils.cuda_graphs.replay_eagerly` (the graph's contract, the work rerun), so
these tests prove the Translator's side (what is recorded, when, and what is cloned).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from p2s.apis import translator as translator_module
from p2s.apis.translator import Translator
from p2s.tasks.inversion import Inversion
from p2s.utils.cuda_graphs import replay_eagerly
from p2s.utils.errors import P2SError


@pytest.fixture
def graphs_on_cpu(monkeypatch):
    monkeypatch.setattr(translator_module, "check_cuda_graphs_device", lambda device: None)
    monkeypatch.setattr(translator_module, "capture_cuda_graph", replay_eagerly)


def sources(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 256, 256, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_graphed_translation_is_the_eager_one_and_owns_its_results(tiny, graphs_on_cpu):
    model = tiny.build_tiny_model(3, seed=2)
    eager = Translator(model, Inversion(), "cpu", resize_outputs=True)
    graphed = Translator(model, Inversion(), "cpu", resize_outputs=True, cuda_graphs=True)
    first, second = sources(2, 0), sources(2, 1)
    got = graphed.translate(first)
    kept = got.images.clone(), got.latents.clone()
    graphed.translate(second)  # replays the same graphs into their outputs
    torch.testing.assert_close(got.images, kept[0], rtol=0, atol=0)
    torch.testing.assert_close(got.latents, kept[1], rtol=0, atol=0)
    expected = eager.translate(first)
    torch.testing.assert_close(got.images, expected.images, rtol=0, atol=0)
    torch.testing.assert_close(got.latents, expected.latents, rtol=0, atol=0)
    assert (graphed._encode.captures, graphed._decode.captures) == (1, 1)

    graphed.translate(sources(3))  # a new batch size is recorded once more
    graphed.translate(sources(3, 4))
    assert (graphed._encode.captures, graphed._decode.captures) == (2, 2)


def test_every_translator_method_runs_graphed(tiny, graphs_on_cpu):
    model = tiny.build_tiny_model(3, seed=2)
    eager = Translator(model, Inversion(), "cpu")
    graphed = Translator(model, Inversion(), "cpu", cuda_graphs=True)
    batch = sources(2)
    codes = graphed.encode(batch)
    torch.testing.assert_close(codes, eager.encode(batch), rtol=0, atol=0)
    torch.testing.assert_close(graphed.decode(codes * 0.5).images, eager.decode(codes * 0.5).images, rtol=0, atol=0)
    inject = eager.mixing_latents(3, np.random.RandomState(0))
    torch.testing.assert_close(graphed.style_mix(batch[0], inject, [3, 4, 5], 0.5).images,
                               eager.style_mix(batch[0], inject, [3, 4, 5], 0.5).images, rtol=0, atol=0)
    path = graphed.interpolate(batch[0], batch[1], steps=10)  # chunks of 8 and 2: two decode graphs more
    torch.testing.assert_close(path.images, eager.interpolate(batch[0], batch[1], steps=10).images, rtol=0, atol=0)


def test_restyle_is_recorded_again_when_its_steps_change(tiny, graphs_on_cpu):
    """``p2s translate --iterations N`` sets the steps after the Translator is built: a graph
    recorded with the old number would replay the wrong refinement."""
    importlib.import_module("p2s_plugins.restyle")  # registers ReStylePSP
    from p2s.registry import MODELS
    from p2s.utils.build import build

    cfg = dict(tiny.tiny_model_cfg(in_channels=6), type="ReStylePSP", iterations=1)
    torch.manual_seed(0)
    model = build(MODELS, cfg).eval()
    eager = Translator(model, Inversion(), "cpu")
    graphed = Translator(model, Inversion(), "cpu", cuda_graphs=True)
    batch = sources(2)
    one_step = graphed.translate(batch).latents
    model.iterations = 3
    torch.testing.assert_close(graphed.translate(batch).latents, eager.translate(batch).latents, rtol=0, atol=0)
    assert not torch.equal(graphed.translate(batch).latents, one_step)
    assert graphed._encode.captures == 2


@pytest.mark.filterwarnings("ignore:--precision bf16 on this CPU")  # a slow CPU path, not under test
def test_bf16_graphs_cast_the_weights_inside_the_pass(tiny, graphs_on_cpu):
    """Autocast caches cast weights until its scope ends; a recorded graph would keep
    reading the freed copies, so graphed translators autocast without the cache."""
    graphed = Translator(tiny.build_tiny_model(3, seed=2), Inversion(), "cpu", precision="bf16", cuda_graphs=True)
    seen = []
    real = torch.autocast

    def spy(*args, **kwargs):
        seen.append(kwargs.get("cache_enabled"))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(translator_module.torch, "autocast", spy)
        images = graphed.translate(sources(1)).images
    assert seen == [False] and images.dtype == torch.float32 and torch.isfinite(images).all()


def test_graphs_need_a_cuda_device_and_no_compile(tiny):
    model = tiny.build_tiny_model(3)
    with pytest.raises(P2SError, match="--cuda-graphs needs a CUDA device"):
        Translator(model, Inversion(), "cpu", cuda_graphs=True)
    with pytest.raises(P2SError, match="with --compile use reduce-overhead"):
        Translator(model, Inversion(), "cpu", cuda_graphs=True, compile_mode="default")
