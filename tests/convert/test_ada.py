"""``p2s convert ada-pkl``: NVlabs StyleGAN2-ADA pickles -> StyleGAN2Generator (CPU, tiny)."""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from p2s.cli.convert import convert_app
from p2s.convert import ada as ada_module
from p2s.convert.ada import (
    ada_generator_to_p2s,
    choose_channels,
    convert_ada_pickle,
    read_ada_pickle,
    submodule,
)
from p2s.convert.unpickler import (
    PersistentStub,
    Stub,
    codecs_encode,
    reconstruct_persistent,
    restricted_load,
    stub_class,
)
from p2s.generators.stylegan2 import StyleGAN2Generator
from p2s.registry import GENERATORS
from p2s.utils.build import build
from p2s.utils.errors import P2SError

W_DIM = 8
EXPECTED_CONFIG = dict(
    type="StyleGAN2Generator", resolution=64, w_dim=W_DIM, n_mlp=3,
    channel_multiplier=1, channel_max=16, lr_mlp=0.01,
)


def generator_kwargs(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != "type"}


def assert_one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text, text
    return text


@pytest.fixture(scope="module")
def converted(ada_pkl, tmp_path_factory):
    """``(out path, file contents, loaded p2s generator, NVlabs G_ema)``."""
    path, g = ada_pkl
    out = tmp_path_factory.mktemp("converted") / "tiny.pt"
    convert_ada_pickle(path, out)
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    p2s_g = StyleGAN2Generator(**generator_kwargs(ckpt["p2s_generator"]), weights=out).eval()
    return out, ckpt, p2s_g, g


# --- the output file -------------------------------------------------------------------
def test_output_is_a_plain_file_that_loads_strictly(converted):
    out, ckpt, p2s_g, g = converted
    assert set(ckpt) == {"g_ema", "latent_avg", "p2s_generator", "converted_from"}
    assert ckpt["p2s_generator"] == EXPECTED_CONFIG
    assert ckpt["converted_from"] == dict(
        format="stylegan2-ada-pytorch", file="tiny.pkl", key="G_ema", conv_clamp=None
    )
    fresh = StyleGAN2Generator(**generator_kwargs(EXPECTED_CONFIG))
    assert list(ckpt["g_ema"]) == list(fresh.state_dict())  # nothing missing, nothing extra
    fresh.load_state_dict(ckpt["g_ema"], strict=True)
    for key, value in fresh.state_dict().items():
        if key.endswith(".kernel"):  # the constant FIR buffers of a fresh generator
            assert torch.equal(ckpt["g_ema"][key], value)
    built = build(GENERATORS, dict(ckpt["p2s_generator"], weights=str(out)))
    assert isinstance(built, StyleGAN2Generator) and built.weights_path == str(out)


def test_ganspace_reads_a_converted_file(converted, tmp_path):
    """The file records its class as well as its options; GANSpace built it with both
    (TypeError: dict() got multiple values for keyword argument 'type')."""
    from typer.testing import CliRunner

    from p2s.cli.main import app

    out = tmp_path / "gs.npz"
    result = CliRunner().invoke(app, ["directions", "ganspace", "--generator", str(converted[0]), "--output", str(out),
                                      "--components", "3", "--samples", "200", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_latent_avg_is_w_avg(converted):
    _, ckpt, p2s_g, g = converted
    assert torch.equal(ckpt["latent_avg"], g.mapping.w_avg)
    assert torch.equal(p2s_g.file_latent_avg, g.mapping.w_avg)


def test_tensor_mapping_table(converted):
    """Spot checks of the layout table in ``p2s/convert/ada.py``."""
    _, ckpt, _, g = converted
    sd, syn = ckpt["g_ema"], g.synthesis
    assert torch.equal(sd["style.1.weight"], g.mapping.fc0.weight)
    assert torch.equal(sd["style.3.bias"], g.mapping.fc2.bias)
    assert torch.equal(sd["input.input"], syn.b4.const[None])
    assert torch.equal(sd["conv1.conv.weight"], syn.b4.conv1.weight[None])
    assert torch.equal(sd["conv1.noise.weight"], syn.b4.conv1.noise_strength.reshape(1))
    assert torch.equal(sd["noises.noise_0"], syn.b4.conv1.noise_const[None, None])
    assert torch.equal(sd["to_rgb1.bias"], syn.b4.torgb.bias.reshape(1, 3, 1, 1))
    assert torch.equal(sd["convs.6.conv.weight"], syn.b64.conv0.weight[None])  # not flipped
    assert torch.equal(sd["convs.7.activate.bias"], syn.b64.conv1.bias)
    assert torch.equal(sd["convs.6.conv.modulation.bias"], syn.b64.conv0.affine.bias)
    assert torch.equal(sd["noises.noise_7"], syn.b64.conv0.noise_const[None, None])
    assert torch.equal(sd["noises.noise_8"], syn.b64.conv1.noise_const[None, None])
    assert torch.equal(sd["to_rgbs.3.conv.weight"], syn.b64.torgb.weight[None])


# --- numerical agreement with the NVlabs-semantics reference ------------------------------
def test_mapping_matches_reference(converted):
    _, _, p2s_g, g = converted
    z = torch.randn(4, W_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = g.mapping(z)
        got = p2s_g.mapping(z)
    assert expected.shape == (4, p2s_g.num_ws, W_DIM)
    torch.testing.assert_close(got, expected[:, 0], rtol=1e-5, atol=1e-5)


def test_4x4_level_matches_reference(converted):
    """const -> conv1 (with const noise) -> torgb at 4x4."""
    _, _, p2s_g, g = converted
    ws = torch.randn(3, 2, W_DIM, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x_ref, img_ref = g.synthesis.b4(None, None, ws)
        x = p2s_g.conv1(p2s_g.input(3), ws[:, 0], p2s_g.noises.noise_0)
        img = p2s_g.to_rgb1(x, ws[:, 1])
    torch.testing.assert_close(x, x_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(img, img_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("res, conv_index, noise_index", [(8, 0, 1), (64, 6, 7)])
def test_upsampling_layer_matches_reference_without_flip(converted, res, conv_index, noise_index):
    """NVlabs' conv0 (``up=2``, ``flip_weight=False``) equals p2s's unflipped upsampling conv.

    The same reference with ``flip_weight=True`` (a spatially flipped kernel) differs
    clearly, so the comparison would catch a missing or extra flip.
    """
    _, _, p2s_g, g = converted
    layer = getattr(g.synthesis, f"b{res}").conv0
    in_ch = layer.weight.shape[1]
    gen = torch.Generator().manual_seed(res)
    x = torch.randn(2, in_ch, res // 2, res // 2, generator=gen)
    w = torch.randn(2, W_DIM, generator=gen)
    with torch.no_grad():
        expected = layer(x, w)
        flipped = layer(x, w, flip_weight=True)
        got = p2s_g.convs[conv_index](x, w, getattr(p2s_g.noises, f"noise_{noise_index}"))
    assert got.shape == (2, layer.weight.shape[0], res, res)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (got - flipped).abs().max() > 0.1 * expected.abs().max()


def test_whole_synthesis_matches_reference_on_random_wplus(converted):
    _, _, p2s_g, g = converted
    ws = torch.randn(2, p2s_g.num_ws, W_DIM, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = g.synthesis(ws)
        got = p2s_g.synthesis(ws, noise_mode="const")
    assert got.shape == (2, 3, 64, 64)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4 * expected.abs().max().item())


def test_generate_from_z_matches_reference(converted):
    _, _, p2s_g, g = converted
    z = torch.randn(2, W_DIM, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = g(z)
        got = p2s_g.generate_from_z(z)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4 * expected.abs().max().item())


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_every_pickle_protocol_gives_the_same_weights(nv, converted, tmp_path, protocol):
    _, ckpt, _, g = converted
    path = nv.nvlabs_pickle(tmp_path / "p.pkl", nv.snapshot(g), protocol=protocol)
    sd, config, latent_avg = ada_generator_to_p2s(read_ada_pickle(path)["G_ema"])
    assert config == EXPECTED_CONFIG
    assert sd.keys() == ckpt["g_ema"].keys()
    assert all(torch.equal(sd[k], ckpt["g_ema"][k]) for k in sd)
    assert torch.equal(latent_avg, ckpt["latent_avg"])


def test_conv_clamp_is_recorded(nv, tmp_path):
    g = nv.tiny_generator(seed=5, resolution=16, conv_clamp=256)
    path = nv.nvlabs_pickle(tmp_path / "c.pkl", nv.snapshot(g))
    result = convert_ada_pickle(path, tmp_path / "c.pt")
    assert result.conv_clamp == 256
    assert "clamped activations to +-256" in result.summary()
    ckpt = torch.load(tmp_path / "c.pt", weights_only=True)
    assert ckpt["converted_from"]["conv_clamp"] == 256
    # resolution 16 <= 32: every multiplier fits, the default 2 is chosen
    assert ckpt["p2s_generator"]["channel_multiplier"] == 2


@pytest.mark.parametrize(
    "channel_base, resolution, expected",
    [(32768, 1024, (2, 512)), (16384, 512, (1, 512)), (16384, 1024, (1, 512)), (32768, 256, (2, 512))],
)
def test_nvlabs_channel_tables_map_to_multipliers(channel_base, resolution, expected):
    resolutions = [2**i for i in range(2, resolution.bit_length())]
    channels = {r: min(channel_base // r, 512) for r in resolutions}
    assert choose_channels(channels) == expected


def test_inexpressible_channel_table_is_refused():
    with pytest.raises(P2SError, match="cannot be expressed") as err:
        choose_channels({4: 512, 8: 256, 16: 128})
    assert_one_line(err)


# --- refused generators ------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, edit, message",
    [
        (dict(c_dim=4), None, "conditional"),
        (dict(z_dim=6), None, "z_dim == w_dim"),
        (dict(resolution=16), "resnet", "architecture='resnet'"),
    ],
)
def test_unsupported_generators_are_refused(nv, tmp_path, kwargs, edit, message):
    g = nv.tiny_generator(seed=6, **{"resolution": 16, **kwargs})
    if edit == "resnet":
        g.synthesis.b8.architecture = "resnet"
    path = nv.nvlabs_pickle(tmp_path / "u.pkl", nv.snapshot(g))
    with pytest.raises(P2SError, match=message) as err:
        convert_ada_pickle(path, tmp_path / "u.pt")
    assert_one_line(err)
    assert not (tmp_path / "u.pt").exists()


@pytest.mark.parametrize("tensor", ["mapping.w_avg", "synthesis.b8.conv0.weight"])
def test_nonfinite_tensors_are_refused_before_writing(nv, tmp_path, tensor):
    g = nv.tiny_generator(seed=7, resolution=16)
    g.state_dict()[tensor].view(-1)[0] = float("nan")  # state_dict() shares the storage
    path = nv.nvlabs_pickle(tmp_path / "diverged.pkl", nv.snapshot(g))
    with pytest.raises(P2SError, match="NaN or infinite values in") as err:
        convert_ada_pickle(path, tmp_path / "d.pt")
    assert f"'{path}'" in assert_one_line(err)
    assert not (tmp_path / "d.pt").exists()


# --- malformed networks inside a readable pickle ------------------------------------------
def _set(g, path: str, name: str, value, group: str = "_parameters"):
    submodule(g, path).state[group][name] = value


def _set_attr(g, path: str, name: str, value):
    submodule(g, path).state[name] = value


def _loop(g):
    b4 = submodule(g, "synthesis.b4")
    b4.state["_modules"]["loop"] = b4


MALFORMED = {
    "1-D affine weight": (lambda g: _set(g, "synthesis.b4.conv1.affine", "weight", torch.zeros(8)),
                          r"'synthesis.b4.conv1.affine.weight' has shape \[8\]"),
    "no input features": (lambda g: _set(g, "synthesis.b4.conv1.affine", "weight", torch.zeros(16, 0)),
                          r"affine.weight' has shape \[16, 0\]"),
    "0-d mapping weight": (lambda g: _set(g, "mapping.fc2", "weight", torch.tensor(1.0)),
                           r"'mapping.fc2.weight' has shape \[\]"),
    "2 noise strengths": (lambda g: _set(g, "synthesis.b4.conv1", "noise_strength", torch.zeros(2)),
                          "noise_strength' has shape .2.; expected a single number"),
    "ToRGB bias of 5": (lambda g: _set(g, "synthesis.b4.torgb", "bias", torch.zeros(5)),
                        r"torgb.bias' has shape \[5\], expected \[3\]"),
    "ToRGB of 0 inputs": (lambda g: _set(g, "synthesis.b4.torgb", "weight", torch.zeros(3, 0, 1, 1)),
                          "1x1 conv to 3 channels"),
    "array activation": (lambda g: _set_attr(g, "synthesis.b4.conv1", "activation", np.array([1, 2])),
                         r"activation=array\(\[1, 2\]\); only 'lrelu'"),
    "module in itself": (_loop, "synthesis.b4.loop appears twice in the module tree"),
    "stride-0 view": (lambda g: _set(g, "synthesis.b4", "const", torch.zeros(1).expand(2**35)),
                      "views 34359738368 elements of a 1-element storage"),
    "complex weight": (lambda g: _set(g, "synthesis.b8.conv0", "weight", torch.zeros(16, 16, 3, 3, dtype=torch.cfloat)),
                       "holds torch.complex64 values"),
    "zero weight gain": (lambda g: _set_attr(g, "mapping.fc0", "weight_gain", 0.0), "weight_gain=0.0; a gain must"),
    "infinite lr": (lambda g: [_set_attr(g, f"mapping.fc{i}", "bias_gain", float("inf")) for i in range(3)],
                    "lr multiplier must be a finite number > 0"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_networks_are_one_line_naming_the_file(ada_pkl, tmp_path, monkeypatch, case):
    mutate, message = MALFORMED[case]
    data = read_ada_pickle(ada_pkl[0])  # a fresh stub tree
    mutate(data["G_ema"])
    monkeypatch.setattr(ada_module, "read_ada_pickle", lambda path: data)
    with pytest.raises(P2SError, match=message) as err:
        convert_ada_pickle(ada_pkl[0], tmp_path / "m.pt")
    assert assert_one_line(err).startswith(f"'{ada_pkl[0]}' [G_ema]: ")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("error", [ZeroDivisionError("float division by zero"), RecursionError(), MemoryError()])
def test_any_other_failure_is_one_line_naming_the_file(ada_pkl, tmp_path, monkeypatch, error):
    def fail(g):
        raise error

    monkeypatch.setattr(ada_module, "conv_clamps", fail)
    with pytest.raises(P2SError, match=type(error).__name__) as err:
        convert_ada_pickle(ada_pkl[0], tmp_path / "m.pt")
    assert f"'{ada_pkl[0]}' [G_ema]" in assert_one_line(err)
    assert not (tmp_path / "m.pt").exists()


def test_keyboard_interrupt_is_not_swallowed(ada_pkl, tmp_path, monkeypatch):
    def interrupt(g):
        raise KeyboardInterrupt

    monkeypatch.setattr(ada_module, "conv_clamps", interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert_ada_pickle(ada_pkl[0], tmp_path / "m.pt")


def test_missing_key_names_the_entries(ada_pkl, tmp_path):
    with pytest.raises(P2SError, match="no 'G_avg' entry .*G_ema") as err:
        convert_ada_pickle(ada_pkl[0], tmp_path / "x.pt", key="G_avg")
    assert_one_line(err)


def test_missing_input_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="StyleGAN2-ADA pickle not found") as err:
        convert_ada_pickle(tmp_path / "nope.pkl", tmp_path / "x.pt")
    assert isinstance(err.value, P2SError)


# --- malicious pickles ---------------------------------------------------------------------
def proto0_call(module: str, name: str, arg: str) -> bytes:
    """A protocol-0 pickle of ``module.name(arg)``, spelled out by hand."""
    return f"c{module}\n{name}\n(V{arg}\ntR.".encode()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "module, name, code",
    [
        ("os", "system", "touch {marker}"),
        ("posix", "system", "touch {marker}"),
        ("subprocess", "Popen", "touch {marker}"),
        ("builtins", "eval", "open({marker!r}, 'w')"),
        ("builtins", "exec", "open({marker!r}, 'w').close()"),
        ("__builtin__", "eval", "open({marker!r}, 'w')"),
    ],
)
def test_calls_to_dangerous_globals_are_refused(tmp_path, module, name, code):
    marker = str(tmp_path / "MARKER")
    path = write(tmp_path / "evil.pkl", proto0_call(module, name, code.format(marker=marker)))
    with pytest.raises(P2SError) as err:
        convert_ada_pickle(path, tmp_path / "out.pt")
    text = assert_one_line(err)
    shown = "builtins" if module == "__builtin__" else module
    assert f"refused to unpickle {shown}.{name}" in text
    assert not Path(marker).exists()
    assert not (tmp_path / "out.pt").exists()


def test_getattr_gadget_is_refused(tmp_path):
    """``getattr(dict, 'get')``-style gadgets: refused at the first global."""
    marker = tmp_path / "MARKER"
    data = b"cbuiltins\ngetattr\n(cbuiltins\ndict\nVget\ntR."
    with pytest.raises(P2SError, match=r"refused to unpickle builtins\.getattr"):
        restricted_load(io.BytesIO(data))
    assert not marker.exists()


class _CallsSystem:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_dangerous_call_nested_in_a_snapshot_is_refused(nv, tmp_path):
    marker = tmp_path / "MARKER"
    g = nv.tiny_generator(seed=7, resolution=8)
    snap = {**nv.snapshot(g), "augment_pipe": _CallsSystem(marker)}
    path = nv.nvlabs_pickle(tmp_path / "nested.pkl", snap)
    with pytest.raises(P2SError, match=r"refused to unpickle \w+\.system") as err:
        read_ada_pickle(path)
    assert_one_line(err)
    assert not marker.exists()


def test_module_src_is_never_executed(nv, tmp_path):
    """The persistence meta carries source that writes MARKER when exec'd: it never runs."""
    marker = tmp_path / "MARKER"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('pwned')\n"
    compile(source, "module_src", "exec")  # valid code that would run under NVlabs' loader
    g = nv.tiny_generator(seed=8, resolution=8)
    path = nv.nvlabs_pickle(tmp_path / "src.pkl", nv.snapshot(g), module_src=source)
    data = read_ada_pickle(path)
    stub = data["G_ema"]
    assert isinstance(stub, PersistentStub) and stub.class_name == "Generator"
    assert stub.module_name == "training.networks" and stub.src_sha256
    assert source not in repr(vars(stub))  # the source text is not even kept
    result = convert_ada_pickle(path, tmp_path / "src.pt")
    assert result.config["resolution"] == 8
    assert not marker.exists()


def test_storage_bytes_are_loaded_weights_only(tmp_path):
    """``torch.storage._load_from_bytes`` upstream is an unrestricted ``torch.load``."""
    marker = tmp_path / "MARKER"
    inner = proto0_call("os", "system", f"touch {marker}")
    data = (
        b"\x80\x04ctorch.storage\n_load_from_bytes\n"
        + b"B" + len(inner).to_bytes(4, "little") + inner
        + b"\x85R."
    )
    with pytest.raises(P2SError, match=r"refused to unpickle os\.system inside a tensor storage") as err:
        restricted_load(io.BytesIO(data))
    assert_one_line(err)
    assert not marker.exists()


def test_garbage_names_its_first_bad_byte():
    with pytest.raises(P2SError, match=r"not a readable pickle \(UnpicklingError: invalid load key, '<'\.\)"):
        restricted_load(io.BytesIO(b"<!DOCTYPE html><html>404</html>"))


def test_persistent_ids_are_refused():
    with pytest.raises(P2SError, match="not a readable pickle"):
        restricted_load(io.BytesIO(b"\x80\x02X\x01\x00\x00\x00xQ."))


def test_stubs_record_data_only():
    stub_cls = stub_class("dnnlib.util", "EasyDict")
    obj = stub_cls.__new__(stub_cls)
    obj["a"] = 1
    obj.__setstate__({"b": 2})
    assert isinstance(obj, Stub) and obj.dict_items == {"a": 1} and obj.attrs() == {"b": 2}
    assert obj.qualname == "dnnlib.util.EasyDict"
    # the reconstructor works without the optional module name (real NVlabs metas lack it)
    meta = dict(type="class", version=6, module_src="x = 1", class_name="MappingNetwork", state={})
    assert reconstruct_persistent(meta).qualname == "<persistent>.MappingNetwork"
    with pytest.raises(P2SError):
        reconstruct_persistent(dict(meta, type="function"))


def build_pickle(target: bytes, state) -> bytes:
    """Protocol 2: the opcodes ``target`` (pushing one object), then ``state`` and BUILD."""
    return b"\x80\x02" + target + pickle.dumps(state, protocol=2)[2:-1] + b"b."


def _tensor_opcodes() -> bytes:
    return pickle.dumps(torch.zeros(2), protocol=2)[2:-1]


def _storage():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.zeros(2).storage()


@pytest.mark.parametrize(
    "target, state, refused",
    [
        (b"c_codecs\nencode\n", (None, {"__defaults__": ("latin1",)}), "the function codecs_encode"),
        (b"c_codecs\nencode\n", {"marker": 1}, "the function codecs_encode"),
        (b"ctorch._utils\n_rebuild_tensor_v2\n", (None, {"__kwdefaults__": {}}), "the function rebuild_tensor_v2"),
        (b"ctraining.networks\nGenerator\n", (None, {"attrs": 1}), "the class Generator"),
        (b"ccollections\nOrderedDict\n", {"x": 1}, "the class OrderedDict"),
        (_tensor_opcodes(), (_storage(), 0, (10**6,), (1,)), "a Tensor"),  # an unchecked set_: past the storage
    ],
)
def test_build_on_anything_but_stubs_and_arrays_is_refused(target, state, refused):
    defaults = codecs_encode.__defaults__
    with pytest.raises(P2SError, match=f"refused to set the state of {refused} \\(pickle BUILD\\)") as err:
        restricted_load(io.BytesIO(build_pickle(target, state)))
    assert_one_line(err)
    assert codecs_encode.__defaults__ == defaults and not hasattr(codecs_encode, "marker")
    assert stub_class("training.networks", "Generator").attrs is Stub.attrs


def test_arrays_cannot_ask_for_memory_their_file_does_not_hold():
    """``numpy.ndarray((10**10,))`` by REDUCE is refused before any allocation; an array
    whose BUILD state claims a larger shape than its bytes is refused by numpy's check."""
    called = b"\x80\x02cnumpy\nndarray\n(J\x00\xe4\x0bT\x85tR."  # ndarray((1410065408,))
    with pytest.raises(P2SError, match=r"refused to call numpy\.ndarray \(pickle REDUCE\)") as err:
        restricted_load(io.BytesIO(called))
    assert_one_line(err)
    claimed = pickle.dumps(np.zeros(2, dtype="f4"), protocol=2).replace(b"K\x02\x85", b"J\x00\xe4\x0bT\x85")
    assert claimed != pickle.dumps(np.zeros(2, dtype="f4"), protocol=2)
    with pytest.raises(P2SError, match="size") as err:
        restricted_load(io.BytesIO(claimed))
    assert_one_line(err)


def test_numpy_arrays_keep_their_byte_order():
    """A dtype is a fresh copy that BUILD may set: '>f4' data is not read as '<f4'."""
    data = {"big": np.array([1.5, -2.0], dtype=">f4"), "little": np.arange(3, dtype="<i8")}
    for protocol in (2, 4, 5):
        out = restricted_load(io.BytesIO(pickle.dumps(data, protocol=protocol)))
        assert out["big"].dtype.newbyteorder("=") == np.dtype("f4") and out["big"].tolist() == [1.5, -2.0]
        assert out["little"].tolist() == [0, 1, 2]
    assert np.dtype("f4").byteorder == "="


def test_plain_pickles_of_data_round_trip():
    data = {"t": torch.arange(6.0).view(2, 3)[:, 1:], "p": torch.nn.Parameter(torch.ones(2)), "s": {1, 2}}
    for protocol in (2, 4, 5):
        out = restricted_load(io.BytesIO(pickle.dumps(data, protocol=protocol)))
        assert torch.equal(out["t"], data["t"]) and torch.equal(out["p"], data["p"])
        assert out["s"] == {1, 2}


# --- command line ------------------------------------------------------------------------
def cli() -> typer.Typer:
    """The sub-app mounted the way ``p2s.cli.main`` mounts it."""
    app = typer.Typer()
    app.add_typer(convert_app, name="convert")
    return app


def test_cli_writes_the_output(ada_pkl, tmp_path):
    out = tmp_path / "sub" / "g.pt"
    result = CliRunner().invoke(cli(), ["convert", "ada-pkl", str(ada_pkl[0]), str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "generator: dict(type='StyleGAN2Generator', resolution=64, w_dim=8, n_mlp=3" in result.output
    assert f"weights='{out}'" in result.output
    assert f"wrote {out}: 64px StyleGAN2Generator" in result.output
    direct = CliRunner().invoke(convert_app, ["ada-pkl", str(ada_pkl[0]), str(out), "--key", "G"])
    assert direct.exit_code == 0, direct.output


@pytest.mark.parametrize("case", ["missing", "evil", "folder", "torch file", "truncated torch file",
                                  "legacy torch file"])
def test_cli_errors_are_one_line_exit_2(tmp_path, case):
    src = tmp_path / "nope.pkl"
    if case == "evil":
        write(src, proto0_call("os", "system", f"touch {tmp_path / 'MARKER'}"))
    elif case == "folder":
        src.mkdir()
    elif case in ("torch file", "truncated torch file"):
        torch.save({"g_ema": {"w": torch.zeros(64)}}, src)
        if case == "truncated torch file":
            src.write_bytes(src.read_bytes()[:300])
    elif case == "legacy torch file":
        torch.save({"g_ema": {}}, src, _use_new_zipfile_serialization=False)
    result = CliRunner().invoke(cli(), ["convert", "ada-pkl", str(src), str(tmp_path / "o.pt")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    expected = {"missing": "not found", "evil": "refused to unpickle os.system", "folder": "is a folder, not a file",
                "torch file": "is a PyTorch checkpoint (zip), not an NVlabs .pkl",
                "truncated torch file": "is a damaged zip archive (a PyTorch checkpoint cut short?), not an NVlabs",
                "legacy torch file": "is a PyTorch checkpoint in the legacy (non-zip) format, not an NVlabs .pkl"}[case]
    assert expected in errors[0], errors[0]
    assert not (tmp_path / "o.pt").exists() and not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("case", ["same file", "a folder", "under a file"])
def test_cli_output_mistakes_are_one_line_and_keep_the_pickle(ada_pkl, tmp_path, case):
    src = tmp_path / "in.pkl"
    src.write_bytes(Path(ada_pkl[0]).read_bytes())
    (tmp_path / "afolder").mkdir()
    (tmp_path / "afile").write_text("x")
    out = {"same file": src, "a folder": tmp_path / "afolder", "under a file": tmp_path / "afile" / "g.pt"}[case]
    result = CliRunner().invoke(cli(), ["convert", "ada-pkl", str(src), str(out)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    expected = {"same file": "is the input pickle itself", "a folder": "Is a directory",
                "under a file": "could not write"}[case]
    assert expected in " ".join(result.output.split())
    assert src.read_bytes() == Path(ada_pkl[0]).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "afolder", "in.pkl"]
    assert list((tmp_path / "afolder").iterdir()) == []
