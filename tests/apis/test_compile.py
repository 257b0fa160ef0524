"""``Translator(compile_mode=...)``: the compiled passes give the eager results (traced
by TorchDynamo; the ``eager`` backend keeps the test free of C++ code generation)."""

from __future__ import annotations

import pytest
import torch

from p2s.apis.translator import Translator
from p2s.tasks.inversion import Inversion
from p2s.utils.errors import P2SError


def test_compiled_translation_matches_eager(tiny):
    model = tiny.build_tiny_model(3, seed=2)
    sources = torch.rand(2, 3, 256, 256) * 2 - 1
    eager = Translator(model, Inversion(), "cpu")
    compiled = Translator(model, Inversion(), "cpu", compile_mode="default", compile_backend="eager")
    expected = eager.translate(sources)
    got = compiled.translate(sources)
    torch.testing.assert_close(got.latents, expected.latents, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.images, expected.images, rtol=1e-5, atol=1e-5)
    inject = eager.mixing_latents(2, __import__("numpy").random.RandomState(0))
    torch.testing.assert_close(compiled.style_mix(sources[0], inject, [3, 4, 5]).images,
                               eager.style_mix(sources[0], inject, [3, 4, 5]).images, rtol=1e-5, atol=1e-5)


def test_unknown_compile_mode_is_a_one_line_error(tiny):
    with pytest.raises(P2SError, match="--compile must be one of none, default, reduce-overhead, max-autotune"):
        Translator(tiny.build_tiny_model(3), Inversion(), "cpu", compile_mode="fast")


@pytest.mark.parametrize("modulation", ["auto", "batched"])  # batched: the GPU route, traced here
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_encoder_and_generator_passes_trace_without_graph_breaks(tiny, modulation, precision):
    """A graph break splits the compiled pass (and its CUDA graph) into pieces; one in a
    layer helper once made inductor recompile per call site and give up."""
    from p2s.generators.layers import set_modulation_mode

    model = tiny.build_tiny_model(3, seed=2).eval()
    set_modulation_mode(model.decoder, modulation)
    model.encoder.to(memory_format=torch.channels_last)
    model.decoder.set_memory_format(torch.channels_last)
    sources = torch.rand(2, 3, 256, 256) * 2 - 1
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.inference_mode(), autocast:
        for fn, args in ((model.encode, (sources,)), (model.decode, (model.encode(sources),))):
            torch._dynamo.reset()
            explained = torch._dynamo.explain(fn)(*args)
            assert explained.graph_break_count == 0, (fn.__name__, explained.break_reasons[:1])
            assert explained.graph_count == 1
