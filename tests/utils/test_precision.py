"""float32_precision: the TF32 switches inside the scope, and exactly the old ones after it."""

from __future__ import annotations

import pytest
import torch

from p2s.utils.precision import float32_precision, set_float32_precision

B = torch.backends


def legacy() -> tuple[bool, bool]:
    return B.cudnn.allow_tf32, B.cuda.matmul.allow_tf32


def settings() -> tuple[str, ...]:
    return (B.cudnn.conv.fp32_precision, B.cudnn.rnn.fp32_precision, B.cuda.matmul.fp32_precision,
            B.mkldnn.conv.fp32_precision, B.mkldnn.matmul.fp32_precision)


@pytest.fixture(autouse=True)
def torch_defaults():
    """Every test starts from and leaves PyTorch's defaults (cuDNN TF32 on, cuBLAS off)."""
    B.cudnn.allow_tf32, B.cuda.matmul.allow_tf32 = True, False
    B.mkldnn.conv.fp32_precision = B.mkldnn.matmul.fp32_precision = "none"
    before = legacy(), settings()
    yield before
    B.cudnn.allow_tf32, B.cuda.matmul.allow_tf32 = True, False
    B.mkldnn.conv.fp32_precision = B.mkldnn.matmul.fp32_precision = "none"
    assert (legacy(), settings()) == before


def test_torch_defaults_let_cudnn_round_float32_convolutions_to_tf32(torch_defaults):
    # why the exact path needs a scope: a plain float32 convolution on an Ampere+ GPU is TF32
    (conv_tf32, matmul_tf32), _ = torch_defaults
    assert conv_tf32 and not matmul_tf32


def test_ieee_turns_every_rounding_off_and_restores_both_records(torch_defaults):
    with float32_precision("ieee"):
        assert legacy() == (False, False)  # the legacy flags stay readable inside
        assert settings() == ("ieee",) * 5
    assert (legacy(), settings()) == torch_defaults


def test_tf32_turns_tensor_cores_on_for_convolutions_and_matrix_products(torch_defaults):
    with float32_precision("tf32"):
        assert legacy() == (True, True)
        assert settings()[:3] == ("tf32",) * 3
        assert settings()[3:] == ("ieee", "ieee")  # TF32 is NVIDIA's: on a CPU tf32 is exact float32
    assert (legacy(), settings()) == torch_defaults


def test_tf32_is_exact_float32_on_a_cpu_whatever_onednn_was_set_to():
    B.mkldnn.conv.fp32_precision = B.mkldnn.matmul.fp32_precision = "bf16"  # a user's own setting
    with float32_precision("tf32"):
        assert settings()[3:] == ("ieee", "ieee")
    assert settings()[3:] == ("bf16", "bf16")


def test_the_old_settings_come_back_after_an_error(torch_defaults):
    with pytest.raises(KeyError):
        with float32_precision("ieee"):
            raise KeyError("inside")
    assert (legacy(), settings()) == torch_defaults


def test_a_user_of_the_new_api_gets_the_same_settings_back():
    B.cudnn.conv.fp32_precision = "ieee"  # new API only: conv and rnn now disagree
    B.cuda.matmul.fp32_precision = "tf32"
    before = settings()
    with pytest.raises(RuntimeError, match="mix of the legacy and new APIs"):
        B.cudnn.allow_tf32  # noqa: B018 - torch refuses this read: the state the user made
    with float32_precision("tf32"):
        assert legacy() == (True, True)
    assert settings() == before


def test_nested_scopes_unwind_in_order(torch_defaults):
    with float32_precision("tf32"):
        with float32_precision("ieee"):
            assert legacy() == (False, False)
        assert legacy() == (True, True)
    assert (legacy(), settings()) == torch_defaults


def test_set_float32_precision_stays_set():
    set_float32_precision("ieee")
    assert legacy() == (False, False) and settings()[0] == "ieee"


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'ieee', 'tf32'"):
        with float32_precision("bf16"):
            pass
    with pytest.raises(ValueError, match="'ieee', 'tf32'"):
        set_float32_precision("highest")
