"""NVlabs StyleGAN2-ADA (PyTorch) generator pickles -> p2s :class:`StyleGAN2Generator` weights.

The ``.pkl`` snapshots of stylegan2-ada-pytorch (``afhqcat.pkl``, ``ffhq.pkl``,
``metfaces.pkl``, ...) hold ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}``
pickled through ``torch_utils.persistence``.  :func:`read_ada_pickle` reads them with
:class:`~p2s.convert.unpickler.RestrictedUnpickler` (nothing from the file is imported
or run), and :func:`ada_generator_to_p2s` maps ``G_ema`` onto rosinality's layout:

* ``mapping.fc{i}.weight`` / ``.bias`` -> ``style.{i+1}.weight`` / ``.bias``
* ``mapping.w_avg`` -> ``latent_avg`` (top level of the written file)
* ``synthesis.b4.const`` ``[C,4,4]`` -> ``input.input`` ``[1,C,4,4]``
* ``synthesis.b4.conv1`` -> ``conv1``; ``synthesis.b4.torgb`` -> ``to_rgb1``
* ``synthesis.b{r}.conv0`` / ``.conv1`` / ``.torgb`` with ``r = 2^(k+3)`` ->
  ``convs.{2k}`` / ``convs.{2k+1}`` / ``to_rgbs.{k}``
* per layer: ``weight`` ``[O,I,k,k]`` -> ``conv.weight`` ``[1,O,I,k,k]`` (no flip);
  ``affine.weight``/``.bias`` -> ``conv.modulation.weight``/``.bias``;
  ``noise_strength`` ``[]`` -> ``noise.weight`` ``[1]``; ``bias`` ``[O]`` ->
  ``activate.bias`` (ToRGB: ``bias`` ``[1,3,1,1]``)
* ``noise_const`` ``[r,r]`` -> ``noises.noise_{j}`` ``[1,1,r,r]``: ``j = 0`` for b4's conv1,
  ``j = 2k+1`` / ``2k+2`` for conv0 / conv1 of ``b{2^(k+3)}``
* ``*.resample_filter`` buffers: checked to be the [1,3,3,1] filter, then dropped; p2s's
  constant ``*.kernel`` buffers are filled from a freshly built generator

Why the numbers carry over unchanged:

* **Equalized learning rate.**  NVlabs' ``FullyConnectedLayer`` stores ``randn / lr`` and
  multiplies by ``weight_gain = lr / sqrt(in)`` and the bias by ``bias_gain = lr``,
  exactly like rosinality's ``EqualLinear`` with ``lr_mul = lr``; ``lr_mlp`` is read from
  the mapping layers' ``bias_gain``.  Should a file store other gains, the ratio is folded
  into the copied weights.
* **ToRGB** multiplies the *styles* by ``1/sqrt(in k^2)``; p2s multiplies the weight by the
  same factor.  Without demodulation both give ``W * s / sqrt(in k^2)``.
* **Modulated 3x3 layers** demodulate, so the weight scale cancels (up to where the
  ``1e-8`` of the demodulation lands: NVlabs adds it to the unscaled energy, p2s to the
  scaled one, a relative difference far below float32 precision for real weights).
* **Upsampling layers need no flip.**  ``SynthesisLayer`` passes ``flip_weight=(up == 1)``,
  i.e. ``False`` for ``conv0``; ``conv2d_resample`` then calls its transposed-conv wrapper
  with ``flip_weight=not False``, which leaves the kernel as stored.  So NVlabs computes
  ``conv_transpose2d(x, W^T, stride=2, padding=0)`` (the padding arithmetic for a 3x3 kernel
  and a 4-tap filter gives ``pxt = 0``) and then ``upfirdn2d`` with the normalized
  [1,3,3,1] filter, gain 4 and padding (1, 1): the same as p2s/rosinality's
  ``conv_transpose2d`` + ``Blur(pad=(1, 1), upsample_factor=2)``.  Both ports flip only when
  converting *TensorFlow* weights.  ``tests/convert`` checks this against an independent
  NVlabs-semantics forward.
* **W+ indexing** matches: block ``b4`` uses ``ws[0]`` (conv1) and ``ws[1]`` (torgb); block
  ``b{r}`` uses two conv rows and shares the torgb row with the next block's conv0.

Differences p2s does not reproduce: NVlabs clamps synthesis activations (after bias,
activation and gain) and the ToRGB outputs to ``+-conv_clamp`` (256 in
stylegan2-ada-pytorch's training configs); p2s does not clamp, which changes nothing
unless an activation exceeds 256 (rare in fp32).  The file records the value under
``converted_from``.  Conditional generators (``c_dim > 0``), ``z_dim != w_dim``, the
'orig'/'resnet' architectures and channel tables that ``channel_multiplier``/``channel_max``
cannot express are refused with a one-line :class:`~p2s.utils.errors.P2SError`.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2s.convert.unpickler import PersistentStub, Stub, error_line, restricted_load
from p2s.generators.ops import make_fir_kernel
from p2s.generators.stylegan2 import StyleGAN2Generator, channel_table
from p2s.utils.checkpoint import atomic_torch_save, check_finite, describe_mismatch
from p2s.utils.errors import MissingWeightsError, P2SError

HOW_TO_GET = (
    "Download the .pkl from NVlabs' stylegan2-ada-pytorch release yourself "
    "(nothing is downloaded)."
)
#: ``channel_multiplier`` values tried, most common first
_MULTIPLIERS = (2, 1, 4, 3, 5, 6, 7, 8)
_REL_TOL = 1e-6
#: what torch.save's legacy (non-zip) format pickles first: its magic number, as a LONG1
_LEGACY_TORCH_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_AS_IS = "p2s reads PyTorch checkpoints as they are (--checkpoint, model.generator.weights=...)"


# --- reading ------------------------------------------------------------------------
def read_ada_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The snapshot dict of an NVlabs ``.pkl``, networks as :class:`PersistentStub` trees."""
    path = Path(path)
    if path.is_dir():
        raise P2SError(f"StyleGAN2-ADA pickle '{path}' is a folder, not a file")
    if not path.is_file():
        raise MissingWeightsError("StyleGAN2-ADA pickle", str(path.resolve()), HOW_TO_GET)
    _refuse_pytorch_file(path)
    with path.open("rb") as handle:
        try:
            data = restricted_load(handle)
        except P2SError as err:
            raise P2SError(f"'{path}': {err}") from None
    if not isinstance(data, Mapping):
        raise P2SError(f"'{path}' holds a {type(data).__name__}, not an NVlabs snapshot dict")
    return dict(data)


def _refuse_pytorch_file(path: Path) -> None:
    """A PyTorch file, whole or damaged, is no NVlabs pickle: say so from its first bytes
    (the unpickler would fail on it with a message about persistent ids or a stray int)."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PK"):
        if zipfile.is_zipfile(path):  # torch.save's format
            raise P2SError(f"'{path}' is a PyTorch checkpoint (zip), not an NVlabs .pkl: {_AS_IS}")
        raise P2SError(f"'{path}' is a damaged zip archive (a PyTorch checkpoint cut short?), not an NVlabs "
                       ".pkl; copy or download it again")
    if _LEGACY_TORCH_MAGIC in head[:32]:
        raise P2SError(f"'{path}' is a PyTorch checkpoint in the legacy (non-zip) format, not an NVlabs .pkl: "
                       f"{_AS_IS}")


def class_name(obj: Any) -> str:
    """``'Generator'`` for a stub of ``training.networks.Generator`` (any stub kind)."""
    if isinstance(obj, PersistentStub):
        return obj.class_name
    if isinstance(obj, Stub):
        return obj.stub_name
    return type(obj).__name__


def _module_attrs(obj: Any, where: str) -> dict[str, Any]:
    if not isinstance(obj, Stub):
        raise P2SError(f"{where} is a {type(obj).__name__}, not an NVlabs network")
    attrs = obj.attrs()
    if not isinstance(attrs.get("_modules", {}), Mapping):
        raise P2SError(f"{where} ({class_name(obj)}) has no module state")
    return attrs


def _named_entries(attrs: Mapping[str, Any], group: str, where: str) -> Mapping[str, Any]:
    """``attrs[group]`` (``_parameters``, ``_buffers``, ``_modules``) as a name-keyed dict."""
    entries = attrs.get(group)
    if entries is None:
        return {}
    if not isinstance(entries, Mapping) or not all(isinstance(k, str) for k in entries):
        raise P2SError(f"{where}.{group} is a {type(entries).__name__}, not a dict of named entries")
    return entries


def _non_persistent(attrs: Mapping[str, Any], where: str) -> set[str]:
    names = attrs.get("_non_persistent_buffers_set")
    if names is None:
        return set()
    if not isinstance(names, (set, frozenset, list, tuple)) or not all(isinstance(n, str) for n in names):
        raise P2SError(f"{where}._non_persistent_buffers_set is a {type(names).__name__}, not a set of names")
    return set(names)


def walk_modules(root: Any, where: str = "the network") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(prefix, attrs)`` of ``root`` and every stub below it, depth first; iterative and
    visiting each stub once, since a pickle's memo makes a module that contains itself trivial."""
    stack: list[tuple[str, Any]] = [("", root)]
    seen: set[int] = set()
    while stack:
        prefix, module = stack.pop()
        name = prefix.rstrip(".") or where
        if id(module) in seen:
            raise P2SError(f"{name} appears twice in the module tree (a cycle or a shared module); "
                           "NVlabs networks are trees: the file is damaged")
        seen.add(id(module))
        attrs = _module_attrs(module, name)
        yield prefix, attrs
        children = [(f"{prefix}{k}.", c) for k, c in _named_entries(attrs, "_modules", name).items() if c is not None]
        stack.extend(reversed(children))


def named_tensors(module: Any) -> dict[str, torch.Tensor]:
    """``state_dict()`` of a stub network: its parameters and persistent buffers."""
    out: dict[str, torch.Tensor] = {}
    for prefix, attrs in walk_modules(module):
        where = prefix.rstrip(".") or "the network"
        skip = _non_persistent(attrs, where)
        for group in ("_parameters", "_buffers"):
            for name, value in _named_entries(attrs, group, where).items():
                if value is None or (group == "_buffers" and name in skip):
                    continue
                if not isinstance(value, torch.Tensor):
                    raise P2SError(f"{prefix}{name} is a {type(value).__name__}, not a tensor")
                out[prefix + name] = value
    return out


def submodule(module: Any, path: str) -> Any:
    """The stub at dotted ``path`` below ``module`` (``'synthesis.b8.conv0'``)."""
    for part in path.split("."):
        children = _module_attrs(module, part).get("_modules") or {}
        if part not in children:
            raise P2SError(f"the generator has no '{path}' module")
        module = children[part]
    _module_attrs(module, path)
    return module


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL_TOL)


# --- conversion ---------------------------------------------------------------------
class _Tensors:
    """NVlabs tensors by name; remembers which were used, to report leftovers."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.tensors = dict(tensors)
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def take(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        if key not in self.tensors:
            raise P2SError(f"the generator has no '{key}' tensor")
        tensor = self.tensors[key]
        if shape is not None and tuple(tensor.shape) != tuple(shape):
            raise P2SError(f"'{key}' has shape {list(tensor.shape)}, expected {list(shape)}")
        if not tensor.is_floating_point():
            raise P2SError(f"'{key}' holds {tensor.dtype} values; network weights are real floating point")
        stored = tensor.untyped_storage().nbytes() // tensor.element_size()
        if tensor.numel() > stored:  # a stride-0 view: copying it could need any amount of memory
            raise P2SError(f"'{key}' views {tensor.numel()} elements of a {stored}-element storage "
                           "(overlapping strides); network weights are plain tensors")
        self.used.add(key)
        return tensor.detach().to(torch.float32).clone(memory_format=torch.contiguous_format)

    def leftovers(self) -> list[str]:
        return [k for k in self.tensors if k not in self.used]


def _fc(
    src: _Tensors,
    root: Any,
    name: str,
    out_key: str,
    lr_mul: float,
    activation: str,
    sd: dict[str, torch.Tensor],
) -> None:
    """Copy a ``FullyConnectedLayer`` into an ``EqualLinear`` with ``lr_mul``.

    p2s uses ``weight * lr_mul / sqrt(in)`` and ``bias * lr_mul``; NVlabs' stored
    ``weight_gain``/``bias_gain`` are folded in when they differ (they do not in NVlabs'
    own networks).
    """
    attrs = submodule(root, name).attrs()
    _check_attr(attrs, "activation", activation, name)
    weight = _matrix(src, f"{name}.weight")
    bias = src.take(f"{name}.bias", (weight.shape[0],))
    p2s_gain = lr_mul / math.sqrt(weight.shape[1])
    weight_gain = _gain(attrs, "weight_gain", name)
    bias_gain = _gain(attrs, "bias_gain", name)
    if weight_gain is not None and not _close(weight_gain, p2s_gain):
        weight = weight * (weight_gain / p2s_gain)
    if bias_gain is not None and not _close(bias_gain, lr_mul):
        bias = bias * (bias_gain / lr_mul)
    sd[f"{out_key}.weight"] = weight
    sd[f"{out_key}.bias"] = bias


def _check_filter(src: _Tensors, key: str) -> None:
    if key not in src:
        return
    stored = src.take(key)
    expected = make_fir_kernel((1, 3, 3, 1))
    if stored.shape != expected.shape or not torch.allclose(stored, expected, atol=1e-6):
        raise P2SError(
            f"'{key}' is not the [1,3,3,1] resample filter p2s's StyleGAN2Generator uses"
        )


def _check_attr(attrs: Mapping[str, Any], name: str, expected: str | int, where: str) -> None:
    """Refuse an attribute other than ``expected`` (compared as a str or a number only:
    an array-valued attribute has no single truth value)."""
    value = attrs.get(name, expected)
    same = value == expected if isinstance(expected, str) and isinstance(value, str) else (
        isinstance(expected, int) and _number(value) == expected)
    if not same:
        raise P2SError(f"{where} has {name}={reprlib.repr(value)}; only {expected!r} converts to p2s")


def _gain(attrs: Mapping[str, Any], name: str, where: str) -> float | None:
    """A stored gain (``weight_gain``, ``bias_gain``): ``None`` if absent, else a finite
    number > 0 (a zero or infinite gain would silently zero or break the copied weights)."""
    value = _number(attrs.get(name))
    if value is not None and not (math.isfinite(value) and value > 0):
        raise P2SError(f"{where} has {name}={value}; a gain must be a finite number > 0")
    return value


def _matrix(src: _Tensors, key: str) -> torch.Tensor:
    """The 2-D ``[out, in]`` weight ``key`` with both sizes > 0."""
    weight = src.take(key)
    if weight.ndim != 2 or 0 in weight.shape:
        raise P2SError(f"'{key}' has shape {list(weight.shape)}; a fully connected weight is [out, in], both > 0")
    return weight


def _synthesis_layer(
    src: _Tensors,
    root: Any,
    name: str,
    out_key: str,
    noise_index: int,
    up: int,
    sd: dict[str, torch.Tensor],
) -> None:
    """One modulated 3x3 ``SynthesisLayer`` -> ``StyledConv`` (+ its noise buffer)."""
    attrs = submodule(root, name).attrs()
    _check_attr(attrs, "up", up, name)
    _check_attr(attrs, "activation", "lrelu", name)
    if f"{name}.noise_const" not in src:
        raise P2SError(f"{name} has no noise input (use_noise=False); p2s layers always have one")
    weight = src.take(f"{name}.weight")
    if weight.ndim != 4 or weight.shape[2:] != (3, 3):
        raise P2SError(f"'{name}.weight' has shape {list(weight.shape)}; p2s needs 3x3 kernels")
    sd[f"{out_key}.conv.weight"] = weight[None]
    _fc(src, root, f"{name}.affine", f"{out_key}.conv.modulation", 1.0, "linear", sd)
    sd[f"{out_key}.noise.weight"] = _scalar(src, f"{name}.noise_strength")
    sd[f"{out_key}.activate.bias"] = src.take(f"{name}.bias", (weight.shape[0],))
    noise = src.take(f"{name}.noise_const")
    sd[f"noises.noise_{noise_index}"] = noise[None, None]
    _check_filter(src, f"{name}.resample_filter")


def _scalar(src: _Tensors, key: str) -> torch.Tensor:
    """A one-element tensor (``noise_strength`` is ``[]``) as ``[1]``."""
    value = src.take(key)
    if value.numel() != 1:
        raise P2SError(f"'{key}' has shape {list(value.shape)}; expected a single number")
    return value.reshape(1)


def _torgb(src: _Tensors, root: Any, name: str, out_key: str, sd: dict[str, torch.Tensor]) -> None:
    """``ToRGBLayer`` -> ``ToRGB``: its style gain becomes p2s's weight scale."""
    attrs = submodule(root, name).attrs()
    weight = src.take(f"{name}.weight")
    if weight.ndim != 4 or weight.shape[0] != 3 or weight.shape[1] == 0 or weight.shape[2:] != (1, 1):
        raise P2SError(
            f"'{name}.weight' has shape {list(weight.shape)}; p2s needs a 1x1 conv to 3 channels"
        )
    p2s_scale = 1.0 / math.sqrt(weight.shape[1])
    gain = _gain(attrs, "weight_gain", name)
    if gain is not None and not _close(gain, p2s_scale):
        weight = weight * (gain / p2s_scale)
    sd[f"{out_key}.conv.weight"] = weight[None]
    _fc(src, root, f"{name}.affine", f"{out_key}.conv.modulation", 1.0, "linear", sd)
    sd[f"{out_key}.bias"] = src.take(f"{name}.bias", (3,)).reshape(1, 3, 1, 1)


def _block_resolutions(src: _Tensors) -> list[int]:
    found = sorted(
        {int(m.group(1)) for k in src.tensors if (m := re.match(r"synthesis\.b(\d+)\.", k))}
    )
    if not found or found[0] != 4:
        raise P2SError(
            "the generator has no synthesis.b4 block; is it a StyleGAN2(-ADA) generator?"
        )
    if not 8 <= found[-1] <= 1024:
        raise P2SError(f"resolution {found[-1]} is outside p2s's 8..1024")
    expected = [2**i for i in range(2, int(math.log2(found[-1])) + 1)]
    if found != expected:
        raise P2SError(f"synthesis blocks {found} are not the power-of-two run 4..{found[-1]}")
    return found


def choose_channels(channels: Mapping[int, int]) -> tuple[int, int]:
    """``(channel_multiplier, channel_max)`` whose p2s table gives ``channels``.

    NVlabs uses ``min(channel_base // res, channel_max)``; channel_base 32768 and 16384
    with channel_max 512 are p2s's multipliers 2 and 1.
    """
    channel_max = channels[4]
    for multiplier in _MULTIPLIERS:
        table = channel_table(multiplier, channel_max)
        if all(table.get(res) == ch for res, ch in channels.items()):
            return multiplier, channel_max
    shown = ", ".join(f"{res}: {ch}" for res, ch in sorted(channels.items()))
    raise P2SError(
        f"the channel table {{{shown}}} cannot be expressed with StyleGAN2Generator's "
        f"channel_multiplier/channel_max"
    )


def _mapping(src: _Tensors, g: Any, sd: dict[str, torch.Tensor]) -> tuple[int, int, float]:
    """``mapping.fc*`` -> ``style.*``; returns ``(n_mlp, w_dim, lr_mlp)``."""
    n_mlp = 0
    while f"mapping.fc{n_mlp}.weight" in src:
        n_mlp += 1
    if n_mlp == 0:
        raise P2SError("the generator has no mapping.fc0 layer")
    shapes = [tuple(src.tensors[f"mapping.fc{i}.weight"].shape) for i in range(n_mlp)]
    for i, shape in enumerate(shapes):
        if len(shape) != 2 or 0 in shape:
            raise P2SError(f"'mapping.fc{i}.weight' has shape {list(shape)}; a fully connected weight is "
                           "[out, in], both > 0")
    w_dim = int(shapes[-1][0])
    for i, shape in enumerate(shapes):
        if shape != (w_dim, w_dim):
            raise P2SError(
                f"mapping.fc{i} is {shape[1]} -> {shape[0]}; p2s's mapping needs every layer "
                f"{w_dim} -> {w_dim} (z_dim == w_dim, layer_features == w_dim)"
            )
    gains = {_number(submodule(g, f"mapping.fc{i}").attrs().get("bias_gain")) for i in range(n_mlp)}
    if len(gains) != 1 or None in gains:
        raise P2SError(
            f"mapping layers have no common lr multiplier (bias_gain {sorted(map(str, gains))})"
        )
    lr_mlp = gains.pop()
    if not (math.isfinite(lr_mlp) and lr_mlp > 0):
        raise P2SError(f"mapping lr multiplier must be a finite number > 0, got {lr_mlp}")
    for i in range(n_mlp):
        _fc(src, g, f"mapping.fc{i}", f"style.{i + 1}", lr_mlp, "lrelu", sd)
    return n_mlp, w_dim, lr_mlp


def ada_generator_to_p2s(
    g_ema: Any,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], torch.Tensor | None]:
    """Map an NVlabs ``Generator`` stub to ``(state_dict, generator config, latent_avg)``.

    The state dict loads strictly into ``StyleGAN2Generator(**config)`` (without its
    ``type`` key); the constant ``*.kernel`` FIR buffers come from a freshly built one.
    """
    if class_name(g_ema) != "Generator":
        raise P2SError(f"expected an NVlabs Generator, got {class_name(g_ema)}")
    attrs = _module_attrs(g_ema, "the generator")
    tensors = named_tensors(g_ema)
    c_dim = _number(attrs.get("c_dim")) or 0
    if c_dim > 0 or any(k.startswith("mapping.embed.") for k in tensors):
        raise P2SError(
            f"the generator is conditional (c_dim={int(c_dim)}); p2s's StyleGAN2Generator "
            f"has no label input"
        )
    src = _Tensors(tensors)
    sd: dict[str, torch.Tensor] = {}
    n_mlp, w_dim, lr_mlp = _mapping(src, g_ema, sd)
    latent_avg = src.take("mapping.w_avg", (w_dim,)) if "mapping.w_avg" in src else None

    resolutions = _block_resolutions(src)
    for res in resolutions:
        block = submodule(g_ema, f"synthesis.b{res}").attrs()
        _check_attr(block, "architecture", "skip", f"synthesis.b{res}")
        _check_filter(src, f"synthesis.b{res}.resample_filter")
    const = src.take("synthesis.b4.const")
    sd["input.input"] = const[None]
    _synthesis_layer(src, g_ema, "synthesis.b4.conv1", "conv1", 0, 1, sd)
    _torgb(src, g_ema, "synthesis.b4.torgb", "to_rgb1", sd)
    for k, res in enumerate(resolutions[1:]):
        prefix = f"synthesis.b{res}"
        _synthesis_layer(src, g_ema, f"{prefix}.conv0", f"convs.{2 * k}", 2 * k + 1, 2, sd)
        _synthesis_layer(src, g_ema, f"{prefix}.conv1", f"convs.{2 * k + 1}", 2 * k + 2, 1, sd)
        _torgb(src, g_ema, f"{prefix}.torgb", f"to_rgbs.{k}", sd)
    leftovers = src.leftovers()
    if leftovers:
        more = f", ... (+{len(leftovers) - 6})" if len(leftovers) > 6 else ""
        shown = ", ".join(leftovers[:6]) + more
        raise P2SError(f"the generator has tensors p2s has no place for: {shown}")

    channels = {
        res: int(src.tensors[f"synthesis.b{res}.conv1.weight"].shape[0]) for res in resolutions
    }
    multiplier, channel_max = choose_channels(channels)
    config = dict(
        type="StyleGAN2Generator",
        resolution=resolutions[-1],
        w_dim=w_dim,
        n_mlp=n_mlp,
        channel_multiplier=multiplier,
        channel_max=channel_max,
        lr_mlp=lr_mlp,
    )
    return _complete(sd, config), config, latent_avg


def _complete(sd: dict[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Add the constant FIR kernels of a fresh generator and check the result is exact."""
    kwargs = {k: v for k, v in config.items() if k != "type"}
    fresh = StyleGAN2Generator(**kwargs).state_dict()
    for key, value in fresh.items():
        if key.endswith(".kernel") and key not in sd:
            sd[key] = value.clone()
    diff = describe_mismatch(fresh, sd)
    if diff:
        raise P2SError(f"converted weights do not fit StyleGAN2Generator({kwargs}): {diff}")
    return {key: sd[key] for key in fresh}


def conv_clamps(g_ema: Any) -> set[float | None]:
    """The ``conv_clamp`` values of the synthesis layers (NVlabs clamps; p2s does not)."""
    values: set[float | None] = set()
    for _, attrs in walk_modules(submodule(g_ema, "synthesis"), "synthesis"):
        if "conv_clamp" in attrs:
            value = attrs["conv_clamp"]
            values.add(_number(value) if value is not None else None)
    return values


# --- the whole file -----------------------------------------------------------------
@dataclass
class AdaConversion:
    """What :func:`convert_ada_pickle` wrote."""

    output: Path
    config: dict[str, Any]
    num_tensors: int
    has_latent_avg: bool
    conv_clamp: float | None

    def summary(self) -> str:
        cfg = self.config
        clamp = (
            f"; NVlabs clamped activations to +-{self.conv_clamp:g}, p2s does not"
            if self.conv_clamp is not None
            else ""
        )
        avg = "with latent_avg" if self.has_latent_avg else "without latent_avg (no w_avg)"
        return (
            f"wrote {self.output}: {cfg['resolution']}px StyleGAN2Generator, "
            f"{self.num_tensors} tensors, {avg}{clamp}"
        )


def convert_ada_pickle(
    src: str | os.PathLike, dst: str | os.PathLike, key: str = "G_ema"
) -> AdaConversion:
    """Convert ``src[key]`` to a plain file ``{'g_ema', 'latent_avg', 'p2s_generator'}``.

    The output loads with ``torch.load(weights_only=True)`` and strictly into
    ``StyleGAN2Generator(**cfg, weights=dst)`` (``cfg`` = ``p2s_generator`` without
    ``type``); ``converted_from`` records the source file, entry and ``conv_clamp``.
    """
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise P2SError(f"the output '{dst}' is the input pickle itself; write the .pt file elsewhere")
    data = read_ada_pickle(src)
    if key not in data:
        entries = ", ".join(str(k) for k in data)
        raise P2SError(f"'{src}' has no '{key}' entry (entries: {entries}); pick one with --key")
    try:
        state_dict, config, latent_avg = ada_generator_to_p2s(data[key])
        clamps = conv_clamps(data[key])
    except P2SError as err:
        raise P2SError(f"'{src}' [{key}]: {err}") from None
    except Exception as err:  # noqa: BLE001 - last resort: no malformed file may end in a traceback
        raise P2SError(f"'{src}' [{key}]: not a generator p2s can read ({error_line(err)}); the file is "
                       "damaged or not an NVlabs StyleGAN2-ADA snapshot") from None
    finite = dict(state_dict) if latent_avg is None else {**state_dict, "latent_avg (mapping.w_avg)": latent_avg}
    check_finite(finite, f"'{src}' [{key}]")  # a diverged snapshot must not become a weight file
    clamp_values = sorted(v for v in clamps if v is not None)
    conv_clamp = clamp_values[-1] if clamp_values else None
    atomic_torch_save(
        {
            "g_ema": state_dict,
            "latent_avg": latent_avg,
            "p2s_generator": config,
            "converted_from": {
                "format": "stylegan2-ada-pytorch",
                "file": src.name,
                "key": key,
                "conv_clamp": conv_clamp,
            },
        },
        dst,
    )
    return AdaConversion(dst, dict(config), len(state_dict), latent_avg is not None, conv_clamp)
