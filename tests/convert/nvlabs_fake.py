"""Tiny stand-ins for NVlabs stylegan2-ada-pytorch networks, and pickles made like theirs.

The classes use NVlabs' parameter names, attributes and ``__init__`` arguments, and their
``forward`` methods are an independent reference of NVlabs' maths (written for these
tests from the semantics of ``training/networks.py`` and ``torch_utils/ops``):

* ``modulated_conv2d``: per-sample weights ``W * s``, demodulation
  ``rsqrt(sum (W s)^2 + 1e-8)`` on the *unscaled* weight, one grouped convolution
  (the ``fused_modconv`` path NVlabs takes in eval mode), noise added after it;
* ``conv2d_resample`` with ``up=2``: NVlabs' padding arithmetic, a stride-2 transposed
  convolution whose kernel is flipped only when ``flip_weight=True`` (the synthesis layer
  passes ``flip_weight = (up == 1)``, i.e. ``False``), then the FIR filter with gain 4;
* ``upfirdn2d``: zero insertion, zero padding ``[x0, x1, y0, y1]``, true convolution;
* ``bias_act``: bias, leaky ReLU 0.2, gain sqrt(2), optional clamp.

Pickling goes through ``__reduce__`` -> ``torch_utils.persistence._reconstruct_persistent_obj(meta)``
as NVlabs' ``persistent_class`` does; :func:`fake_nvlabs_modules` provides importable
fake ``torch_utils``/``dnnlib`` modules while pickling only.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MODULE_NAME = "training.networks"
#: the ``module_src`` written into every persistence meta (set by :func:`nvlabs_pickle`)
_module_src = "raise SystemExit('this source must never be executed')\n"


def _reconstruct_persistent_obj(meta):  # pragma: no cover - must never run
    raise AssertionError("the persistence reconstructor must never run during conversion")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
_reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"


class EasyDict(dict):
    """dnnlib's attribute dict (pickled by reference, as ``dnnlib.util.EasyDict``)."""


EasyDict.__module__ = "dnnlib.util"
EasyDict.__qualname__ = "EasyDict"


@contextlib.contextmanager
def fake_nvlabs_modules():
    """Importable ``torch_utils.persistence`` and ``dnnlib.util`` while the block runs."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    assert not any(name in sys.modules for name in names), "real NVlabs modules are loaded"
    torch_utils = types.ModuleType("torch_utils")
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    torch_utils.persistence = persistence
    dnnlib = types.ModuleType("dnnlib")
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    dnnlib.util = util
    sys.modules.update(
        {"torch_utils": torch_utils, "torch_utils.persistence": persistence, "dnnlib": dnnlib, "dnnlib.util": util}
    )
    try:
        yield
    finally:
        for name in names:
            sys.modules.pop(name, None)


class Persistent(nn.Module):
    """Pickles like an NVlabs ``persistent_class`` object."""

    def __reduce__(self):
        meta = dict(
            type="class",
            version=6,
            module_src=_module_src,
            module_name=MODULE_NAME,
            class_name=type(self).__name__,
            state=dict(self.__dict__),
        )
        reconstruct = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        return reconstruct, (meta,)


# --- reference ops (NVlabs semantics) ----------------------------------------------------
def setup_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x, f, up=1, padding=(0, 0, 0, 0), gain=1.0):
    """Zero-insert by ``up``, pad ``[x0, x1, y0, y1]`` (>= 0 here), true conv with ``f * gain``."""
    n, c, h, w = x.shape
    if up > 1:
        big = x.new_zeros(n, c, h * up, w * up)
        big[:, :, ::up, ::up] = x
        x = big
    x = F.pad(x, list(padding))
    kernel = (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, kernel.to(x.dtype), groups=c)


def upsample2d(x, f):
    fw = f.shape[-1]
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return upfirdn2d(x, f, up=2, padding=(p0, p1, p0, p1), gain=4)


def conv2d_resample(x, w, f, up=1, padding=0, groups=1, flip_weight=True):
    """Only the two paths the synthesis network uses: plain conv and ``up=2``."""
    out_ch, in_per_group, kh, kw = w.shape
    if up == 1:
        return F.conv2d(x, w if flip_weight else w.flip([2, 3]), padding=padding, groups=groups)
    fw = f.shape[-1]
    px0 = padding + (fw + up - 1) // 2 - (kw - 1)
    px1 = padding + (fw - up) // 2 - (kw - up)
    pxt = max(min(-px0, -px1), 0)
    wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    if flip_weight:  # NVlabs' wrapper is called with flip_weight=(not flip_weight)
        wt = wt.flip([2, 3])
    x = F.conv_transpose2d(x, wt, stride=up, padding=pxt, groups=groups)
    pad = (px0 + pxt, px1 + pxt, px0 + pxt, px1 + pxt)
    return upfirdn2d(x, f, padding=pad, gain=up**2)


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, f=None, demodulate=True, flip_weight=True):
    n, _, h, w_ = x.shape
    out_ch, in_ch, kh, kw = weight.shape
    w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, h, w_)
    w = w.reshape(-1, in_ch, kh, kw)
    x = conv2d_resample(x, w, f, up=up, padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    return x + noise if noise is not None else x


def bias_act(x, b, act="linear", gain=1.0, clamp=None):
    x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    x = x * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


# --- networks -------------------------------------------------------------------------
class FullyConnectedLayer(Persistent):
    def __init__(self, in_features, out_features, activation="linear", lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], np.float32(bias_init)))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)  # numpy.float64, as upstream
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight * float(self.weight_gain)
        b = self.bias * self.bias_gain
        if self.activation == "linear":
            return x @ w.t() + b
        return bias_act(x @ w.t(), b, act="lrelu", gain=np.sqrt(2))


class MappingNetwork(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        features = [z_dim + embed_features] + [w_dim] * num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x.unsqueeze(1).repeat([1, self.num_ws, 1])


class SynthesisLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, conv_clamp=None):
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, True
        self.activation, self.conv_clamp = "lrelu", conv_clamp
        self.register_buffer("resample_filter", setup_filter())
        self.padding = kernel_size // 2
        self.act_gain = np.sqrt(2)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, flip_weight=None):
        styles = self.affine(w)
        noise = self.noise_const * self.noise_strength
        flip = (self.up == 1) if flip_weight is None else flip_weight
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             f=self.resample_filter, flip_weight=flip)
        return bias_act(x, self.bias, act="lrelu", gain=float(self.act_gain), clamp=self.conv_clamp)


class ToRGBLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size**2)

    def forward(self, x, w):
        styles = self.affine(w) * float(self.weight_gain)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, conv_clamp=None):
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, "skip"
        self.use_fp16, self.channels_last = False, False
        self.register_buffer("resample_filter", setup_filter())
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv += 1
        self.num_torgb += 1

    def forward(self, x, img, ws):
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter))
        else:
            x = self.conv0(x, next(w_iter))
            x = self.conv1(x, next(w_iter))
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter))
        return x, (img + y if img is not None else y)


class SynthesisNetwork(Persistent):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, conv_clamp=None):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res,
                                   img_channels, is_last=res == img_resolution, conv_clamp=conv_clamp)
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws):
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return img


class Generator(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels=3, mapping_kwargs=None, synthesis_kwargs=None):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))
        self._init_args = ()
        self._init_kwargs = EasyDict(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
            mapping_kwargs=EasyDict(mapping_kwargs or {}), synthesis_kwargs=EasyDict(synthesis_kwargs or {}),
        )

    def forward(self, z, noise_mode="const"):
        return self.synthesis(self.mapping(z))


def tiny_generator(
    seed: int = 0,
    resolution: int = 64,
    w_dim: int = 8,
    z_dim: int | None = None,
    c_dim: int = 0,
    num_layers: int = 3,
    channel_base: int = 512,
    channel_max: int = 16,
    conv_clamp: float | None = None,
) -> Generator:
    """A small ``G_ema`` with every parameter and buffer randomized (noise, biases included).

    The defaults give channels 16 up to 32 px and 8 at 64 px (p2s multiplier 1).
    """
    torch.manual_seed(seed)
    g = Generator(
        z_dim if z_dim is not None else w_dim, c_dim, w_dim, resolution,
        mapping_kwargs=dict(num_layers=num_layers),
        synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max, conv_clamp=conv_clamp),
    )
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("affine.bias"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith(("bias", "noise_strength")):
                p.copy_(0.3 * torch.randn_like(p))
        g.mapping.w_avg.copy_(torch.randn(w_dim))
    return g.eval().requires_grad_(False)


def nvlabs_pickle(path: Path, snapshot: dict, module_src: str | None = None, protocol: int = 4) -> Path:
    """Write ``snapshot`` the way NVlabs' training loop does (``pickle.dump``)."""
    global _module_src
    previous = _module_src
    if module_src is not None:
        _module_src = module_src
    try:
        with fake_nvlabs_modules(), open(path, "wb") as handle:
            pickle.dump(snapshot, handle, protocol=protocol)
    finally:
        _module_src = previous
    return path


def snapshot(g: Generator) -> dict:
    """``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}`` like an ADA ``.pkl``."""
    return {
        "G": g,
        "D": None,
        "G_ema": g,
        "augment_pipe": None,
        "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset", resolution=g.img_resolution),
    }
