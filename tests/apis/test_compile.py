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
