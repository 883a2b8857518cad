"""Keras layers run with torch, in Keras' own layout (channels last).

``resolve(class_name, args) -> runner(args, module)``; ``args`` is
``{"inputs": [...], "weights": {role: tensor}, "config": {...}}`` as the Keras
frontend recorded it. Kernels keep Keras' shapes (so the parameters are the
file's) and are rearranged for the torch op on each call. ``"same"`` padding
is TensorFlow's (the extra row at the end); pooling over ``"same"`` follows
Keras 3's torch backend (uneven pads replicate the edge, where TensorFlow
averages over the real cells only), batch norm's momentum is Keras' (``1 - m`` in
torch terms). A config ``data_format="channels_first"`` runs channels first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

Runner = Callable[[dict[str, Any], Any], Any]
LAYERS: dict[str, Callable[[dict[str, Any]], Runner | None]] = {}


def layer(*names: str) -> Callable[[Callable[[dict[str, Any]], Runner | None]], Callable[[dict[str, Any]], Runner | None]]:
    def deco(fn: Callable[[dict[str, Any]], Runner | None]) -> Callable[[dict[str, Any]], Runner | None]:
        for n in names:
            LAYERS[n] = fn
        return fn
    return deco


def resolve(op: str, args: dict[str, Any]) -> Runner | None:
    cls, _, part = op.partition(":")
    make = LAYERS.get(f"{cls}:{part}" if part else cls)
    if make is None:
        for pattern, mk in _PATTERNS:
            if re.match(pattern, op):
                make = mk
                break
    if make is None:
        return None
    return make(args.get("config", {}))


# -- activations -------------------------------------------------------------------
def activation(name: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(name, dict):  # {"class_name": "function", "config": "relu"} / registered names
        cfg = name.get("config")
        name = cfg if isinstance(cfg, str) else (cfg or {}).get("name", name.get("class_name"))
    name = str(name or "linear").lower()
    table: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "linear": lambda x: x, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "softmax": lambda x: torch.softmax(x, -1), "log_softmax": lambda x: torch.log_softmax(x, -1),
        "elu": F.elu, "selu": F.selu, "softplus": F.softplus, "softsign": F.softsign,
        "swish": F.silu, "silu": F.silu, "gelu": lambda x: F.gelu(x, approximate="tanh"),
        "hard_sigmoid": lambda x: F.relu6(x + 3) / 6, "hard_silu": F.hardswish, "hard_swish": F.hardswish,
        "exponential": torch.exp, "mish": F.mish, "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
        "celu": F.celu, "glu": lambda x: F.glu(x, -1), "tanh_shrink": F.tanhshrink,
    }
    if name not in table:
        raise NotImplementedError(f"activation {name!r}")
    return table[name]


@layer("Activation")
def _activation(cfg: dict[str, Any]) -> Runner:
    f = activation(cfg.get("activation"))
    return lambda a, m: f(a["inputs"][0])


@layer("ReLU")
def _relu(cfg: dict[str, Any]) -> Runner:
    mx, slope, thr = cfg.get("max_value"), float(cfg.get("negative_slope") or 0.0), float(cfg.get("threshold") or 0.0)

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        y = torch.where(x >= thr, x, slope * (x - thr))
        return torch.clamp(y, max=float(mx)) if mx is not None else y
    return f


@layer("LeakyReLU")
def _leaky(cfg: dict[str, Any]) -> Runner:
    slope = float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))
    return lambda a, m: F.leaky_relu(a["inputs"][0], slope)


@layer("PReLU")
def _prelu(cfg: dict[str, Any]) -> Runner:
    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x, alpha = a["inputs"][0], a["weights"]["alpha"]
        return torch.where(x >= 0, x, alpha * x)
    return f


@layer("ELU")
def _elu(cfg: dict[str, Any]) -> Runner:
    alpha = float(cfg.get("alpha", 1.0))
    return lambda a, m: F.elu(a["inputs"][0], alpha)


@layer("Softmax")
def _softmax(cfg: dict[str, Any]) -> Runner:
    axis = cfg.get("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if len(axes) == 1:
            return torch.softmax(x, int(axes[0]))
        e = torch.exp(x - torch.amax(x, dim=tuple(axes), keepdim=True))
        return e / e.sum(dim=tuple(axes), keepdim=True)
    return f


# -- convolutions --------------------------------------------------------------------
def _channels_first(cfg: dict[str, Any]) -> bool:
    return cfg.get("data_format") == "channels_first"


def _tup(v: Any, n: int) -> list[int]:
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v]
    return [int(v if v is not None else 1)] * n


def _to_cf(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))


def _to_cl(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, *range(2, x.dim()), 1)


def _same(sizes: list[int], k: list[int], s: list[int], d: list[int]) -> list[int]:
    """F.pad amounts (last axis first) for TF 'same' padding."""
    pads: list[int] = []
    for n, kk, ss, dd in reversed(list(zip(sizes, k, s, d))):
        out = -(-n // ss)
        total = max((out - 1) * ss + (kk - 1) * dd + 1 - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _conv_runner(cfg: dict[str, Any], rank: int, weight: Callable[[dict[str, Any], int], torch.Tensor],
                 groups_of: Callable[[torch.Tensor], int], bias_role: str | None = "bias") -> Runner:
    k = _tup(cfg.get("kernel_size"), rank)
    s = _tup(cfg.get("strides"), rank)
    d = _tup(cfg.get("dilation_rate"), rank)
    padding = str(cfg.get("padding", "valid")).lower()
    cf = _channels_first(cfg)
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not cf:
            x = _to_cf(x)
        w = weight(a["weights"], x.shape[1])
        if padding == "same":
            x = F.pad(x, _same(list(x.shape[2:]), k, s, d))
        elif padding == "causal":
            x = F.pad(x, [(k[0] - 1) * d[0], 0])
        b = a["weights"].get(bias_role) if bias_role else None
        y = conv(x, w, b, s, 0, d, groups_of(x))
        return y if cf else _to_cl(y)
    return f


def _kernel_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """Keras (*k, in, out) -> torch (out, in, *k)."""
    r = kernel.dim()
    return kernel.permute(r - 1, r - 2, *range(r - 2))


@layer("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D")
def _conv(cfg: dict[str, Any]) -> Runner:
    rank = len(_tup(cfg.get("kernel_size"), 1)) if isinstance(cfg.get("kernel_size"), (list, tuple)) else 2
    groups = int(cfg.get("groups") or 1)
    return _conv_runner(cfg, rank, lambda w, c: _kernel_to_torch(w["kernel"]), lambda x: groups)


@layer("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _convt(cfg: dict[str, Any]) -> Runner:
    rank = len(cfg.get("kernel_size") or (1, 1))
    k = _tup(cfg.get("kernel_size"), rank)
    s = _tup(cfg.get("strides"), rank)
    d = _tup(cfg.get("dilation_rate"), rank)
    padding = str(cfg.get("padding", "valid")).lower()
    out_pad = cfg.get("output_padding")
    cf = _channels_first(cfg)
    convt = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not cf:
            x = _to_cf(x)
        kern = a["weights"]["kernel"]  # (*k, out, in)
        r = kern.dim()
        w = kern.permute(r - 1, r - 2, *range(r - 2))  # (in, out, *k)
        y = convt(x, w, a["weights"].get("bias"), s, 0, 0, 1, d)
        sizes = list(x.shape[2:])
        crop = []
        for i in range(rank):
            full = (sizes[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1
            if padding == "same":
                want = sizes[i] * s[i]
            else:
                want = full if out_pad is None else full
            if out_pad is not None:
                op = _tup(out_pad, rank)[i]
                want = (sizes[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (2 * ((k[i] - 1) * d[i] // 2) if padding == "same" else 0) + op
            total = full - want
            lo = total // 2
            crop.append((lo, full - (total - lo)) if total > 0 else (0, want))
        if padding == "same" or out_pad is not None:
            if any(c[1] > y.shape[2 + i] for i, c in enumerate(crop)):
                pads = []
                for i in reversed(range(rank)):
                    pads += [0, max(crop[i][1] - y.shape[2 + i], 0)]
                y = F.pad(y, pads)
            idx = (slice(None), slice(None), *(slice(lo, hi) for lo, hi in crop))
            y = y[idx]
        return y if cf else _to_cl(y)
    return f


@layer("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(cfg: dict[str, Any]) -> Runner:
    rank = len(cfg.get("kernel_size") or (1, 1))

    def weight(w: dict[str, Any], c: int) -> torch.Tensor:
        kern = w["depthwise_kernel"]  # (*k, in, dm)
        r = kern.dim()
        t = kern.permute(r - 2, r - 1, *range(r - 2))  # (in, dm, *k)
        return t.reshape(t.shape[0] * t.shape[1], 1, *t.shape[2:])
    return _conv_runner(cfg, rank, weight, lambda x: x.shape[1])


@layer("SeparableConv1D:depthwise", "SeparableConv2D:depthwise", "SeparableConvolution2D:depthwise")
def _sep_dw(cfg: dict[str, Any]) -> Runner:
    return _depthwise(cfg)


@layer("SeparableConv1D:pointwise", "SeparableConv2D:pointwise", "SeparableConvolution2D:pointwise")
def _sep_pw(cfg: dict[str, Any]) -> Runner:
    rank = len(cfg.get("kernel_size") or (1, 1))
    pcfg = {"kernel_size": [1] * rank, "strides": [1] * rank, "dilation_rate": [1] * rank, "padding": "valid",
            "data_format": cfg.get("data_format")}
    return _conv_runner(pcfg, rank, lambda w, c: _kernel_to_torch(w["pointwise_kernel"]), lambda x: 1)


@layer("Dense")
def _dense(cfg: dict[str, Any]) -> Runner:
    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        y = torch.matmul(a["inputs"][0], a["weights"]["kernel"])
        b = a["weights"].get("bias")
        return y + b if b is not None else y
    return f


@layer("EinsumDense")
def _einsum_dense(cfg: dict[str, Any]) -> Runner:
    eq = cfg["equation"]

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        return torch.einsum(eq, a["inputs"][0], a["weights"]["kernel"])
    return f


# -- normalisation ------------------------------------------------------------------------
def _axis_list(axis: Any) -> list[int]:
    return [int(x) for x in axis] if isinstance(axis, (list, tuple)) else [int(axis if axis is not None else -1)]


@layer("BatchNormalization", "SyncBatchNormalization")
def _bn(cfg: dict[str, Any]) -> Runner:
    axis = _axis_list(cfg.get("axis", -1))[0]
    eps = float(cfg.get("epsilon", 1e-3))
    momentum = float(cfg.get("momentum", 0.99))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        w = a["weights"]
        ax = axis % x.dim()
        xt = x.movedim(ax, 1) if ax != 1 else x
        y = F.batch_norm(xt, w["moving_mean"], w["moving_variance"], w.get("gamma"), w.get("beta"),
                         bool(m.training), 1.0 - momentum, eps)
        return y.movedim(1, ax) if ax != 1 else y
    return f


@layer("LayerNormalization")
def _ln(cfg: dict[str, Any]) -> Runner:
    axes = _axis_list(cfg.get("axis", -1))
    eps = float(cfg.get("epsilon", 1e-3))
    rms = bool(cfg.get("rms_scaling", False))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        w = a["weights"]
        dims = sorted(ax % x.dim() for ax in axes)
        if dims == list(range(dims[0], x.dim())) and not rms:
            shape = list(x.shape[dims[0]:])
            g, b = w.get("gamma"), w.get("beta")
            return F.layer_norm(x, shape, g.reshape(shape) if g is not None else None,
                                b.reshape(shape) if b is not None else None, eps)
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=False)
        bshape = [x.shape[i] if i in dims else 1 for i in range(x.dim())]
        if rms:
            y = x * torch.rsqrt(var + eps)
        else:
            y = (x - mean) * torch.rsqrt(var + eps)
        if w.get("gamma") is not None:
            y = y * w["gamma"].reshape(bshape)
        if w.get("beta") is not None:
            y = y + w["beta"].reshape(bshape)
        return y
    return f


@layer("GroupNormalization")
def _gn(cfg: dict[str, Any]) -> Runner:
    groups, eps = int(cfg.get("groups", 32)), float(cfg.get("epsilon", 1e-3))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = _to_cf(a["inputs"][0])
        w = a["weights"]
        return _to_cl(F.group_norm(x, groups, w.get("gamma"), w.get("beta"), eps))
    return f


@layer("UnitNormalization")
def _unit(cfg: dict[str, Any]) -> Runner:
    axes = _axis_list(cfg.get("axis", -1))
    return lambda a, m: F.normalize(a["inputs"][0], dim=axes[0] if len(axes) == 1 else tuple(axes))


@layer("RMSNormalization")
def _rmsn(cfg: dict[str, Any]) -> Runner:
    eps = float(cfg.get("epsilon", 1e-6) or 1e-6)
    axes = _axis_list(cfg.get("axis", -1))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        y = x * torch.rsqrt(x.pow(2).mean(dim=tuple(axes), keepdim=True) + eps)
        return y * a["weights"]["scale"]
    return f


# -- dropout and noise ------------------------------------------------------------------------
@layer("Dropout")
def _dropout(cfg: dict[str, Any]) -> Runner:
    rate = float(cfg.get("rate") or 0.0)
    noise = cfg.get("noise_shape")

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not m.training or rate <= 0:
            return x
        if noise:
            shape = [x.shape[i] if d is None else int(d) for i, d in enumerate(noise)]
            mask = torch.bernoulli(torch.full(shape, 1 - rate, dtype=x.dtype, device=x.device))
            return x * mask / (1 - rate)
        return F.dropout(x, rate, True)
    return f


@layer("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def _sdropout(cfg: dict[str, Any]) -> Runner:
    rate = float(cfg.get("rate") or 0.0)
    cf = _channels_first(cfg)

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not m.training or rate <= 0:
            return x
        shape = [x.shape[0], x.shape[1], *([1] * (x.dim() - 2))] if cf else [x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1]]
        mask = torch.bernoulli(torch.full(shape, 1 - rate, dtype=x.dtype, device=x.device))
        return x * mask / (1 - rate)
    return f


@layer("GaussianDropout")
def _gdropout(cfg: dict[str, Any]) -> Runner:
    rate = float(cfg.get("rate") or 0.0)

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not m.training or rate <= 0:
            return x
        return x * (1 + torch.randn_like(x) * math.sqrt(rate / (1 - rate)))
    return f


@layer("GaussianNoise")
def _gnoise(cfg: dict[str, Any]) -> Runner:
    std = float(cfg.get("stddev") or 0.0)
    return lambda a, m: a["inputs"][0] + torch.randn_like(a["inputs"][0]) * std if m.training else a["inputs"][0]


@layer("AlphaDropout")
def _adropout(cfg: dict[str, Any]) -> Runner:
    rate = float(cfg.get("rate") or 0.0)
    return lambda a, m: F.alpha_dropout(a["inputs"][0], rate, bool(m.training))


@layer("ActivityRegularization", "Masking", "Identity", "InputLayer")
def _identity(cfg: dict[str, Any]) -> Runner:
    return lambda a, m: a["inputs"][0]


@layer("Normalization")
def _normalization(cfg: dict[str, Any]) -> Runner:
    axes = _axis_list(cfg.get("axis", -1)) if cfg.get("axis", -1) is not None else []
    invert = bool(cfg.get("invert", False))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        w = a["weights"]
        mean = w.get("mean") if w.get("mean") is not None else torch.as_tensor(cfg["mean"], dtype=x.dtype)
        var = w.get("variance") if w.get("variance") is not None else torch.as_tensor(cfg["variance"], dtype=x.dtype)
        keep = {ax % x.dim() for ax in axes}
        shape = [x.shape[i] if i in keep else 1 for i in range(x.dim())]
        mean, var = mean.to(x).reshape(shape), var.to(x).reshape(shape)
        std = torch.clamp(torch.sqrt(var), min=1e-7)
        return mean + x * std if invert else (x - mean) / std
    return f


@layer("Rescaling")
def _rescale(cfg: dict[str, Any]) -> Runner:
    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        scale, offset = cfg.get("scale", 1.0), cfg.get("offset", 0.0)
        return x * torch.as_tensor(scale, dtype=x.dtype, device=x.device) + torch.as_tensor(offset, dtype=x.dtype, device=x.device)
    return f


# -- pooling ------------------------------------------------------------------------------------
def _pool(cfg: dict[str, Any], rank: int, mx: bool) -> Runner:
    k = _tup(cfg.get("pool_size", 2), rank)
    s = _tup(cfg.get("strides"), rank) if cfg.get("strides") is not None else k
    padding = str(cfg.get("padding", "valid")).lower()
    cf = _channels_first(cfg)
    mp = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[rank - 1]
    ap = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[rank - 1]

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if not cf:
            x = _to_cf(x)
        if padding == "same":
            # as Keras 3 on torch: even pads are the pool's own (average over the real cells);
            # uneven ones replicate the edge (TensorFlow averages over the real cells only)
            pads = _same(list(x.shape[2:]), k, s, [1] * rank)
            lo, hi = pads[0::2], pads[1::2]
            if lo == hi:
                even = list(reversed(lo))
                y = mp(x, k, s, even) if mx else ap(x, k, s, even, count_include_pad=False)
            else:
                xp = F.pad(x, pads, mode="replicate")
                y = mp(xp, k, s) if mx else ap(xp, k, s)
        else:
            y = mp(x, k, s) if mx else ap(x, k, s)
        return y if cf else _to_cl(y)
    return f


def _global(cfg: dict[str, Any], mx: bool) -> Runner:
    keep = bool(cfg.get("keepdims", False))
    cf = _channels_first(cfg)

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        dims = tuple(range(2, x.dim())) if cf else tuple(range(1, x.dim() - 1))
        return x.amax(dim=dims, keepdim=keep) if mx else x.mean(dim=dims, keepdim=keep)
    return f


# -- shapes and merges ----------------------------------------------------------------------------
@layer("Flatten")
def _flatten(cfg: dict[str, Any]) -> Runner:
    cf = _channels_first(cfg)

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        if cf and x.dim() > 2:
            x = _to_cl(x)
        return x.reshape(x.shape[0], -1)
    return f


@layer("Reshape")
def _reshape(cfg: dict[str, Any]) -> Runner:
    target = [-1 if d is None else int(d) for d in cfg.get("target_shape", [])]
    return lambda a, m: a["inputs"][0].reshape(a["inputs"][0].shape[0], *target)


@layer("Permute")
def _permute(cfg: dict[str, Any]) -> Runner:
    dims = [int(d) for d in cfg.get("dims", [])]
    return lambda a, m: a["inputs"][0].permute(0, *dims)


@layer("RepeatVector")
def _repeat(cfg: dict[str, Any]) -> Runner:
    n = int(cfg["n"])
    return lambda a, m: a["inputs"][0].unsqueeze(1).expand(-1, n, -1)


def _merge(f: Callable[[list[torch.Tensor]], torch.Tensor]) -> Callable[[dict[str, Any]], Runner]:
    return lambda cfg: (lambda a, m: f(list(a["inputs"])))


def _fold(op: Callable[[Any, Any], Any]) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    def g(xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = op(out, x)
        return out
    return g


LAYERS["Add"] = _merge(_fold(torch.add))
LAYERS["Multiply"] = _merge(_fold(torch.mul))
LAYERS["Maximum"] = _merge(_fold(torch.maximum))
LAYERS["Minimum"] = _merge(_fold(torch.minimum))
LAYERS["Subtract"] = _merge(lambda xs: xs[0] - xs[1])
LAYERS["Average"] = _merge(lambda xs: _fold(torch.add)(xs) / len(xs))


@layer("Concatenate")
def _concat(cfg: dict[str, Any]) -> Runner:
    axis = int(cfg.get("axis", -1))
    return lambda a, m: torch.cat(list(a["inputs"]), dim=axis)


@layer("Dot")
def _dot(cfg: dict[str, Any]) -> Runner:
    axes = cfg.get("axes", -1)
    norm = bool(cfg.get("normalize", False))

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x, y = a["inputs"][:2]
        ax = axes if isinstance(axes, (list, tuple)) else [axes, axes]
        if norm:
            x, y = F.normalize(x, dim=ax[0]), F.normalize(y, dim=ax[1])
        return torch.tensordot(x, y, dims=([ax[0] % x.dim()], [ax[1] % y.dim()])).diagonal(dim1=0, dim2=x.dim() - 1).movedim(-1, 0) \
            if x.dim() > 2 else (x * y).sum(-1, keepdim=True)
    return f


def _pad_spec(v: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(v, int):
        return [(v, v)] * rank
    out = []
    for p in v:
        out.append((int(p), int(p)) if isinstance(p, int) else (int(p[0]), int(p[1])))
    return out


def _zero_pad(rank: int) -> Callable[[dict[str, Any]], Runner]:
    def make(cfg: dict[str, Any]) -> Runner:
        pads = _pad_spec(cfg.get("padding", 1), rank)
        cf = _channels_first(cfg)

        def f(a: dict[str, Any], m: Any) -> torch.Tensor:
            x = a["inputs"][0]
            flat: list[int] = []
            for lo, hi in reversed(pads):
                flat += [lo, hi]
            if not cf:
                flat = [0, 0] + flat
            return F.pad(x, flat)
        return f
    return make


def _crop(rank: int) -> Callable[[dict[str, Any]], Runner]:
    def make(cfg: dict[str, Any]) -> Runner:
        crops = _pad_spec(cfg.get("cropping", 1), rank)
        cf = _channels_first(cfg)

        def f(a: dict[str, Any], m: Any) -> torch.Tensor:
            x = a["inputs"][0]
            start = 2 if cf else 1
            idx: list[Any] = [slice(None)] * x.dim()
            for i, (lo, hi) in enumerate(crops):
                idx[start + i] = slice(lo, x.shape[start + i] - hi)
            return x[tuple(idx)]
        return f
    return make


def _upsample(rank: int) -> Callable[[dict[str, Any]], Runner]:
    def make(cfg: dict[str, Any]) -> Runner:
        size = _tup(cfg.get("size", 2), rank)
        interp = str(cfg.get("interpolation", "nearest"))
        cf = _channels_first(cfg)

        def f(a: dict[str, Any], m: Any) -> torch.Tensor:
            x = a["inputs"][0]
            if not cf:
                x = _to_cf(x)
            if interp == "nearest":
                y = x
                for i, s in enumerate(size):
                    y = y.repeat_interleave(s, dim=2 + i)
            else:
                mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
                y = F.interpolate(x, scale_factor=tuple(float(s) for s in size), mode=mode, align_corners=False)
            return y if cf else _to_cl(y)
        return f
    return make


for _r in (1, 2, 3):
    LAYERS[f"ZeroPadding{_r}D"] = _zero_pad(_r)
    LAYERS[f"Cropping{_r}D"] = _crop(_r)
    LAYERS[f"UpSampling{_r}D"] = _upsample(_r)
    for _n in ("MaxPooling", "MaxPool"):
        LAYERS[f"{_n}{_r}D"] = (lambda r: lambda cfg: _pool(cfg, r, True))(_r)
    for _n in ("AveragePooling", "AvgPool", "AveragePool"):
        LAYERS[f"{_n}{_r}D"] = (lambda r: lambda cfg: _pool(cfg, r, False))(_r)
    for _n in ("GlobalMaxPooling", "GlobalMaxPool"):
        LAYERS[f"{_n}{_r}D"] = lambda cfg: _global(cfg, True)
    for _n in ("GlobalAveragePooling", "GlobalAvgPool", "GlobalAveragePool"):
        LAYERS[f"{_n}{_r}D"] = lambda cfg: _global(cfg, False)


# -- embeddings, recurrent layers, attention -------------------------------------------------------
@layer("Embedding")
def _embedding(cfg: dict[str, Any]) -> Runner:
    return lambda a, m: F.embedding(a["inputs"][0].long(), a["weights"]["embeddings"])


def _rnn(cfg: dict[str, Any], cell: str) -> Runner:
    act = activation(cfg.get("activation", "tanh"))
    rec = activation(cfg.get("recurrent_activation", "sigmoid"))
    seqs = bool(cfg.get("return_sequences", False))
    state = bool(cfg.get("return_state", False))
    back = bool(cfg.get("go_backwards", False))
    reset_after = bool(cfg.get("reset_after", True))
    if state:
        raise NotImplementedError("return_state=True")

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        x = a["inputs"][0]
        w = a["weights"]
        kern, rk, b = w["kernel"], w["recurrent_kernel"], w.get("bias")
        units = rk.shape[0]
        h = x.new_zeros(x.shape[0], units)
        c = x.new_zeros(x.shape[0], units)
        steps = range(x.shape[1] - 1, -1, -1) if back else range(x.shape[1])
        xw = torch.matmul(x, kern)
        if cell == "gru":
            if b is not None and b.dim() == 2:
                bi, br = b[0], b[1]
            else:
                bi, br = b, None
            if bi is not None:
                xw = xw + bi
        elif b is not None:
            xw = xw + b
        outs = []
        for t in steps:
            xt = xw[:, t]
            if cell == "lstm":
                z = xt + h @ rk
                i, fg, cc, o = z.chunk(4, dim=-1)
                c = rec(fg) * c + rec(i) * act(cc)
                h = rec(o) * act(c)
            elif cell == "gru":
                xz, xr, xh = xt.chunk(3, dim=-1)
                if reset_after:
                    hr = h @ rk
                    if br is not None:
                        hr = hr + br
                    rz, rr, rh = hr.chunk(3, dim=-1)
                    z, r = rec(xz + rz), rec(xr + rr)
                    hh = act(xh + r * rh)
                else:
                    rz_k, rr_k, rh_k = rk.chunk(3, dim=-1)
                    z, r = rec(xz + h @ rz_k), rec(xr + h @ rr_k)
                    hh = act(xh + (r * h) @ rh_k)
                h = z * h + (1 - z) * hh
            else:
                h = act(xt + h @ rk)
            outs.append(h)
        if not seqs:
            return h
        return torch.stack(outs, dim=1)  # Keras keeps the processing order (reversed when go_backwards)
    return f


LAYERS["LSTM"] = lambda cfg: _rnn(cfg, "lstm")
LAYERS["GRU"] = lambda cfg: _rnn(cfg, "gru")
LAYERS["SimpleRNN"] = lambda cfg: _rnn(cfg, "rnn")


@layer("MultiHeadAttention")
def _mha(cfg: dict[str, Any]) -> Runner:
    key_dim = int(cfg["key_dim"])
    rate = float(cfg.get("dropout") or 0.0)
    if cfg.get("attention_axes") not in (None, [1], (1,)):
        raise NotImplementedError("attention over other axes")

    def proj(x: torch.Tensor, k: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        y = torch.einsum("abc,cde->abde", x, k)
        return y + b if b is not None else y

    def f(a: dict[str, Any], m: Any) -> torch.Tensor:
        ins = a["inputs"]
        w = a["weights"]
        q_in = ins[0]
        v_in = ins[1] if len(ins) > 1 else ins[0]
        k_in = ins[2] if len(ins) > 2 else v_in
        q = proj(q_in, w["query_kernel"], w.get("query_bias")) * (1.0 / math.sqrt(key_dim))
        k = proj(k_in, w["key_kernel"], w.get("key_bias"))
        v = proj(v_in, w["value_kernel"], w.get("value_bias"))
        scores = torch.softmax(torch.einsum("aecd,abcd->acbe", k, q), dim=-1)
        scores = F.dropout(scores, rate, bool(m.training))
        out = torch.einsum("acbe,aecd->abcd", scores, v)
        y = torch.einsum("abcd,cde->abe", out, w["output_kernel"])
        return y + w["output_bias"] if w.get("output_bias") is not None else y
    return f


_PATTERNS: list[tuple[str, Callable[[dict[str, Any]], Runner | None]]] = []


# -- Keras ops written as layers (``x + 3.0``, ``x * (1 / 6)``): arguments as recorded ------------
def _scalar_op(f: Callable[..., Any]) -> Callable[[dict[str, Any]], Runner]:
    def make(cfg: dict[str, Any]) -> Runner:
        def run(a: dict[str, Any], m: Any) -> torch.Tensor:
            xs = list(a["inputs"])
            like = next(x for x in xs if isinstance(x, torch.Tensor))
            xs = [x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=like.dtype, device=like.device) for x in xs]
            return f(*xs)
        return run
    return make


for _name, _fn in {"Add": torch.add, "Subtract": torch.sub, "Multiply": torch.mul, "Divide": torch.div,
                   "TrueDivide": torch.div, "Power": torch.pow, "Maximum": torch.maximum, "Minimum": torch.minimum,
                   "Matmul": torch.matmul, "Sqrt": torch.sqrt, "Exp": torch.exp, "Negative": torch.neg,
                   "Abs": torch.abs, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid, "Relu": F.relu,
                   "Square": torch.square, "Log": torch.log}.items():
    LAYERS[f"ops.{_name}"] = _scalar_op(_fn)
