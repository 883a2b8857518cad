"""ONNX ops run with torch: ``resolve(op_type, args) -> runner(args, module)``.

``args`` is ``{"inputs": [tensor or None, ...], "attrs": {...}, "outputs": n}``
as the ONNX frontend recorded it (attributes as Python values, tensors as
numpy arrays). Each entry follows the operator's ONNX definition (pads as
begin/end pairs, ``auto_pad``, ``ceil_mode``, broadcasting ``Expand``,
``Reshape``'s 0 meaning "keep"); an op outside the table is reported by the
executor as one error naming the node.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

OnnxFn = Callable[[list[Any], dict[str, Any], Any], Any]
OPS: dict[str, OnnxFn] = {}

#: TensorProto data types -> torch
DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
          9: torch.bool, 10: torch.float16, 11: torch.float64, 12: torch.uint32 if hasattr(torch, "uint32") else torch.int64,
          13: torch.uint64 if hasattr(torch, "uint64") else torch.int64, 16: torch.bfloat16}


def op(*names: str) -> Callable[[OnnxFn], OnnxFn]:
    def deco(fn: OnnxFn) -> OnnxFn:
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def resolve(op_type: str, args: dict[str, Any]) -> Any:
    fn = OPS.get(op_type)
    if fn is None or args.get("domain") not in (None, "", "ai.onnx"):
        return None
    select = args.get("select")
    n_out = int(args.get("outputs", 1) or 1)

    def run(a: dict[str, Any], m: Any) -> Any:
        out = fn(list(a.get("inputs", [])), a.get("attrs", {}), m)
        if isinstance(out, tuple) and select is None and n_out < len(out):
            out = out[0] if n_out == 1 else out[:n_out]  # the outputs the file names (LSTM's Y alone)
        if select is not None:
            out = tuple(out[i] for i in select) if len(select) > 1 else out[select[0]]
        return out

    return run


def _t(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    t = torch.as_tensor(x)
    return t.to(like.device) if like is not None else t


def _ints(x: Any) -> list[int]:
    if x is None:
        return []
    if isinstance(x, torch.Tensor):
        return [int(v) for v in x.reshape(-1).tolist()]
    return [int(v) for v in x]


def _axes(inputs: list[Any], attrs: dict[str, Any], pos: int) -> list[int] | None:
    if len(inputs) > pos and inputs[pos] is not None:
        return _ints(inputs[pos])
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return None


# -- element-wise -----------------------------------------------------------
def _binary(f: Callable[[Any, Any], Any]) -> OnnxFn:
    return lambda i, a, m: f(_t(i[0]), _t(i[1]))


for _name, _f in {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Pow": torch.pow,
                  "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt, "LessOrEqual": torch.le,
                  "GreaterOrEqual": torch.ge, "And": torch.logical_and, "Or": torch.logical_or,
                  "Xor": torch.logical_xor, "BitShift": None}.items():
    if _f is not None:
        OPS[_name] = _binary(_f)


@op("Div")
def _div(i: list[Any], a: dict[str, Any], m: Any) -> Any:
    x, y = _t(i[0]), _t(i[1])
    if not x.is_floating_point() and not y.is_floating_point():
        return torch.div(x, y, rounding_mode="trunc")
    return x / y


@op("Mod")
def _mod(i: list[Any], a: dict[str, Any], m: Any) -> Any:
    x, y = _t(i[0]), _t(i[1])
    return torch.fmod(x, y) if a.get("fmod", 0) else torch.remainder(x, y)


_UNARY = {"Relu": F.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp, "Log": torch.log,
          "Sqrt": torch.sqrt, "Reciprocal": torch.reciprocal, "Neg": torch.neg, "Abs": torch.abs, "Erf": torch.erf,
          "Floor": torch.floor, "Ceil": torch.ceil, "Round": torch.round, "Sin": torch.sin, "Cos": torch.cos,
          "Not": torch.logical_not, "Sign": torch.sign, "Softsign": F.softsign, "IsNaN": torch.isnan,
          "Identity": lambda x: x, "Mish": F.mish, "Atan": torch.atan, "Tan": torch.tan}
for _name, _g in _UNARY.items():
    OPS[_name] = (lambda g: lambda i, a, m: g(_t(i[0])))(_g)


@op("LeakyRelu")
def _leaky(i, a, m):
    return F.leaky_relu(i[0], a.get("alpha", 0.01))


@op("PRelu")
def _prelu(i, a, m):
    x, s = i[0], _t(i[1], i[0])
    return torch.where(x >= 0, x, x * s)


@op("Elu")
def _elu(i, a, m):
    return F.elu(i[0], a.get("alpha", 1.0))


@op("Celu")
def _celu(i, a, m):
    return F.celu(i[0], a.get("alpha", 1.0))


@op("Selu")
def _selu(i, a, m):
    alpha, gamma = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
    x = i[0]
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@op("HardSigmoid")
def _hsig(i, a, m):
    return torch.clamp(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)


@op("HardSwish")
def _hswish(i, a, m):
    return F.hardswish(i[0])


@op("Softplus")
def _softplus(i, a, m):
    return F.softplus(i[0])


@op("Gelu")
def _gelu(i, a, m):
    return F.gelu(i[0], approximate=a.get("approximate", "none"))


@op("ThresholdedRelu")
def _trelu(i, a, m):
    x = i[0]
    return torch.where(x > a.get("alpha", 1.0), x, torch.zeros_like(x))


@op("Clip")
def _clip(i, a, m):
    x = i[0]
    lo = i[1] if len(i) > 1 and i[1] is not None else a.get("min")
    hi = i[2] if len(i) > 2 and i[2] is not None else a.get("max")
    if isinstance(lo, torch.Tensor):
        lo = lo.item()
    if isinstance(hi, torch.Tensor):
        hi = hi.item()
    return torch.clamp(x, lo, hi)


@op("Softmax", "LogSoftmax")
def _softmax(i, a, m, _log: bool = False):
    raise AssertionError  # replaced below


def _softmax_of(log: bool) -> OnnxFn:
    def f(i, a, m):
        return (torch.log_softmax if log else torch.softmax)(i[0], int(a.get("axis", -1)))
    return f


OPS["Softmax"] = _softmax_of(False)
OPS["LogSoftmax"] = _softmax_of(True)


@op("Where")
def _where(i, a, m):
    return torch.where(_t(i[0]).bool(), _t(i[1]), _t(i[2]))


@op("Max", "Min", "Sum", "Mean")
def _variadic(i, a, m):
    raise AssertionError


def _variadic_of(f: Callable[[Any, Any], Any], mean: bool = False) -> OnnxFn:
    def g(i, a, m):
        out = _t(i[0])
        for x in i[1:]:
            out = f(out, _t(x))
        return out / len(i) if mean else out
    return g


OPS["Max"] = _variadic_of(torch.maximum)
OPS["Min"] = _variadic_of(torch.minimum)
OPS["Sum"] = _variadic_of(torch.add)
OPS["Mean"] = _variadic_of(torch.add, mean=True)


@op("Cast")
def _cast(i, a, m):
    return _t(i[0]).to(DTYPES[int(a["to"])])


@op("CastLike")
def _castlike(i, a, m):
    return _t(i[0]).to(_t(i[1]).dtype)


# -- linear algebra -------------------------------------------------------------
@op("MatMul")
def _matmul(i, a, m):
    return torch.matmul(_t(i[0]), _t(i[1]))


@op("Gemm")
def _gemm(i, a, m):
    x, w = _t(i[0]), _t(i[1])
    if a.get("transA", 0):
        x = x.t()
    if a.get("transB", 0):
        w = w.t()
    y = a.get("alpha", 1.0) * (x @ w)
    if len(i) > 2 and i[2] is not None:
        y = y + a.get("beta", 1.0) * _t(i[2])
    return y


@op("Einsum")
def _einsum(i, a, m):
    return torch.einsum(a["equation"], *[_t(x) for x in i])


# -- convolution and pooling ------------------------------------------------------
def _same_pads(in_sizes: list[int], kernel: list[int], strides: list[int], dil: list[int], upper: bool) -> list[int]:
    begins, ends = [], []
    for n, k, s, d in zip(in_sizes, kernel, strides, dil):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if upper else big)
        ends.append(big if upper else small)
    return begins + ends


def _pads(x: torch.Tensor, a: dict[str, Any], kernel: list[int]) -> list[int]:
    nd = len(kernel)
    strides = list(a.get("strides") or [1] * nd)
    dil = list(a.get("dilations") or [1] * nd)
    auto = a.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return _same_pads(list(x.shape[2:]), kernel, strides, dil, auto == "SAME_UPPER")
    if auto == "VALID":
        return [0] * (2 * nd)
    return list(a.get("pads") or [0] * (2 * nd))


def _torch_pad(pads: list[int]) -> list[int]:
    """ONNX [b1, b2, ..., e1, e2, ...] -> F.pad's [b_last, e_last, ...]."""
    nd = len(pads) // 2
    out: list[int] = []
    for d in reversed(range(nd)):
        out += [pads[d], pads[d + nd]]
    return out


def _sym(pads: list[int]) -> list[int] | None:
    nd = len(pads) // 2
    return pads[:nd] if pads[:nd] == pads[nd:] else None


@op("Conv")
def _conv(i, a, m):
    x, w = _t(i[0]), _t(i[1])
    b = _t(i[2]) if len(i) > 2 and i[2] is not None else None
    nd = w.dim() - 2
    kernel = list(a.get("kernel_shape") or w.shape[2:])
    pads = _pads(x, a, kernel)
    sym = _sym(pads)
    if sym is None:
        x = F.pad(x, _torch_pad(pads))
        sym = [0] * nd
    f = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return f(x, w, b, list(a.get("strides") or [1] * nd), sym, list(a.get("dilations") or [1] * nd), int(a.get("group", 1)))


@op("ConvTranspose")
def _convt(i, a, m):
    x, w = _t(i[0]), _t(i[1])
    b = _t(i[2]) if len(i) > 2 and i[2] is not None else None
    nd = w.dim() - 2
    strides = list(a.get("strides") or [1] * nd)
    dil = list(a.get("dilations") or [1] * nd)
    pads = list(a.get("pads") or [0] * (2 * nd))
    out_pad = list(a.get("output_padding") or [0] * nd)
    if a.get("output_shape") or a.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
        raise NotImplementedError("ConvTranspose with output_shape or auto_pad")
    sym = _sym(pads)
    if sym is None:
        raise NotImplementedError("ConvTranspose with asymmetric pads")
    f = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    return f(x, w, b, strides, sym, out_pad, int(a.get("group", 1)), dil)


def _pool_args(x: torch.Tensor, a: dict[str, Any]) -> tuple[list[int], list[int], list[int], list[int], bool]:
    kernel = list(a["kernel_shape"])
    nd = len(kernel)
    return kernel, list(a.get("strides") or [1] * nd), _pads(x, a, kernel), list(a.get("dilations") or [1] * nd), bool(a.get("ceil_mode", 0))


@op("MaxPool")
def _maxpool(i, a, m):
    x = i[0]
    kernel, strides, pads, dil, ceil = _pool_args(x, a)
    nd = len(kernel)
    sym = _sym(pads)
    if sym is None or any(p * 2 > k for p, k in zip(sym, kernel)):
        x = F.pad(x, _torch_pad(pads), value=float("-inf"))
        sym = [0] * nd
    f = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    return f(x, kernel, strides, sym, dil, ceil_mode=ceil)


@op("AveragePool")
def _avgpool(i, a, m):
    x = i[0]
    kernel, strides, pads, _dil, ceil = _pool_args(x, a)
    nd = len(kernel)
    include = bool(a.get("count_include_pad", 0))
    sym = _sym(pads)
    if sym is None or any(p * 2 > k for p, k in zip(sym, kernel)):
        if not include:
            raise NotImplementedError("AveragePool with asymmetric pads excluded from the count")
        x = F.pad(x, _torch_pad(pads))
        sym = [0] * nd
    f = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
    return f(x, kernel, strides, sym, ceil_mode=ceil, count_include_pad=include)


@op("GlobalAveragePool")
def _gap(i, a, m):
    x = i[0]
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _gmp(i, a, m):
    x = i[0]
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


# -- normalisation and dropout ------------------------------------------------------
@op("BatchNormalization")
def _bn(i, a, m):
    x, scale, bias, mean, var = i[:5]
    training = bool(m.training)
    momentum = 1.0 - float(a.get("momentum", 0.9))
    y = F.batch_norm(x, mean, var, scale, bias, training, momentum, float(a.get("epsilon", 1e-5)))
    return y


@op("InstanceNormalization")
def _inorm(i, a, m):
    return F.instance_norm(i[0], weight=i[1], bias=i[2], eps=float(a.get("epsilon", 1e-5)))


@op("LayerNormalization")
def _lnorm(i, a, m):
    x = i[0]
    axis = int(a.get("axis", -1)) % x.dim()
    shape = list(x.shape[axis:])
    scale = i[1] if len(i) > 1 else None
    bias = i[2] if len(i) > 2 else None
    if scale is not None and list(scale.shape) != shape:
        scale = scale.expand(shape)
    if bias is not None and list(bias.shape) != shape:
        bias = bias.expand(shape)
    return F.layer_norm(x, shape, scale, bias, float(a.get("epsilon", 1e-5)))


@op("GroupNormalization")
def _gnorm(i, a, m):
    x, scale, bias = i[0], i[1], i[2]
    g = int(a["num_groups"])
    c = x.shape[1]
    if scale.numel() == g and c != g:  # opset 18: per-group scale and bias
        scale = scale.repeat_interleave(c // g)
        bias = bias.repeat_interleave(c // g)
    return F.group_norm(x, g, scale, bias, float(a.get("epsilon", 1e-5)))


@op("RMSNormalization")
def _rms(i, a, m):
    x = i[0]
    axis = int(a.get("axis", -1)) % x.dim()
    dims = tuple(range(axis, x.dim()))
    y = x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + float(a.get("epsilon", 1e-5)))
    return y * i[1]


@op("LpNormalization")
def _lp(i, a, m):
    return F.normalize(i[0], p=float(a.get("p", 2)), dim=int(a.get("axis", -1)))


@op("Dropout")
def _dropout(i, a, m):
    x = i[0]
    ratio = float(i[1]) if len(i) > 1 and i[1] is not None else float(a.get("ratio", 0.5))
    y = F.dropout(x, ratio, bool(m.training))
    return (y, torch.ones_like(x, dtype=torch.bool))


# -- shapes and data movement -------------------------------------------------------
@op("Shape")
def _shape(i, a, m):
    s = list(i[0].shape)
    start, end = a.get("start", 0), a.get("end", None)
    return torch.tensor(s[start:end], dtype=torch.int64)


@op("Size")
def _size(i, a, m):
    return torch.tensor(i[0].numel(), dtype=torch.int64)


@op("Reshape")
def _reshape(i, a, m):
    x = i[0]
    shape = _ints(i[1])
    if not a.get("allowzero", 0):
        shape = [x.shape[k] if d == 0 else d for k, d in enumerate(shape)]
    return x.reshape(shape)


@op("Flatten")
def _flatten(i, a, m):
    x = i[0]
    axis = int(a.get("axis", 1)) % max(x.dim(), 1) if x.dim() else 0
    lead = math.prod(x.shape[:axis]) if axis else 1
    return x.reshape(lead, -1)


@op("Transpose")
def _transpose(i, a, m):
    x = _t(i[0])
    perm = a.get("perm") or list(range(x.dim()))[::-1]
    return x.permute(*perm)


@op("Squeeze")
def _squeeze(i, a, m):
    x = _t(i[0])
    axes = _axes(i, a, 1)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(ax % x.dim() for ax in axes)) if axes else x


@op("Unsqueeze")
def _unsqueeze(i, a, m):
    x = _t(i[0])
    axes = _axes(i, a, 1) or []
    rank = x.dim() + len(axes)
    for ax in sorted(ax % rank for ax in axes):
        x = x.unsqueeze(ax)
    return x


@op("Concat")
def _concat(i, a, m):
    ts = [_t(x) for x in i if x is not None]
    ts = [t for t in ts if not (t.dim() == 1 and t.numel() == 0)] or ts
    return torch.cat(ts, dim=int(a.get("axis", 0)))


@op("Split")
def _split(i, a, m):
    x = i[0]
    axis = int(a.get("axis", 0))
    split = _ints(i[1]) if len(i) > 1 and i[1] is not None else list(a.get("split") or [])
    if not split:
        n = int(a.get("num_outputs") or m_outputs(a))
        size = -(-x.shape[axis] // n)
        split = [size] * (n - 1) + [x.shape[axis] - size * (n - 1)]
    return tuple(torch.split(x, split, dim=axis))


def m_outputs(a: dict[str, Any]) -> int:
    return int(a.get("_outputs", 1))


@op("Slice")
def _slice(i, a, m):
    x = _t(i[0])
    if len(i) > 1:
        starts, ends = _ints(i[1]), _ints(i[2])
        axes = _ints(i[3]) if len(i) > 3 and i[3] is not None else list(range(len(starts)))
        steps = _ints(i[4]) if len(i) > 4 and i[4] is not None else [1] * len(starts)
    else:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes") or range(len(starts)))
        steps = [1] * len(starts)
    idx: list[Any] = [slice(None)] * x.dim()
    flips = []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= x.dim()
        n = x.shape[ax]
        if st > 0:
            s = min(max(s + n if s < 0 else s, 0), n)
            e = min(max(e + n if e < 0 else e, 0), n)
            idx[ax] = slice(s, e, st)
        else:
            s = min(max(s + n if s < 0 else s, -1), n - 1)
            e = min(max(e + n if e < 0 else e, -1), n - 1)
            # reversed walk: take the forward indices and flip
            ids = list(range(s, e, st))
            idx[ax] = torch.tensor(ids, dtype=torch.long, device=x.device)
            flips.append(ax)
    out = x
    for ax, sl in enumerate(idx):
        if isinstance(sl, torch.Tensor):
            out = out.index_select(ax, sl)
        elif sl != slice(None):
            out = out[(slice(None),) * ax + (sl,)]
    return out


@op("Gather")
def _gather(i, a, m):
    x, idx = _t(i[0]), _t(i[1]).long()
    axis = int(a.get("axis", 0)) % x.dim()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = x.index_select(axis, idx.reshape(-1))
    return out.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1:])


@op("GatherElements")
def _gather_el(i, a, m):
    x, idx = _t(i[0]), _t(i[1]).long()
    axis = int(a.get("axis", 0)) % x.dim()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    return torch.gather(x, axis, idx)


@op("Expand")
def _expand(i, a, m):
    x = _t(i[0])
    shape = torch.broadcast_shapes(tuple(x.shape), tuple(_ints(i[1])))
    return x.expand(shape)


@op("Tile")
def _tile(i, a, m):
    return _t(i[0]).repeat(*_ints(i[1]))


@op("ConstantOfShape")
def _cos(i, a, m):
    v = a.get("value")
    fill = torch.as_tensor(v).reshape(-1) if v is not None else torch.zeros(1)
    return torch.full(tuple(_ints(i[0])), fill[0].item(), dtype=fill.dtype)


@op("Constant")
def _const(i, a, m):
    for k in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if k in a:
            return torch.as_tensor(a[k])
    raise NotImplementedError("Constant without a value")


@op("Range")
def _range(i, a, m):
    s, e, d = (_t(x) for x in i[:3])
    return torch.arange(s.item(), e.item(), d.item(), dtype=s.dtype)


@op("Trilu")
def _trilu(i, a, m):
    x = i[0]
    k = int(_t(i[1]).item()) if len(i) > 1 and i[1] is not None else 0
    return torch.triu(x, k) if a.get("upper", 1) else torch.tril(x, k)


@op("CumSum")
def _cumsum(i, a, m):
    x, axis = _t(i[0]), int(_t(i[1]).item())
    if a.get("reverse", 0):
        x = x.flip(axis)
    y = torch.cumsum(x, axis)
    if a.get("exclusive", 0):
        y = y - x
    return y.flip(axis) if a.get("reverse", 0) else y


@op("Pad")
def _pad(i, a, m):
    x = i[0]
    pads = _ints(i[1]) if len(i) > 1 else list(a["pads"])
    value = 0.0
    if len(i) > 2 and i[2] is not None and _t(i[2]).numel():
        value = _t(i[2]).item()
    elif "value" in a:
        value = a["value"]
    nd = x.dim()
    if len(i) > 3 and i[3] is not None:
        axes = [ax % nd for ax in _ints(i[3])]
        full = [0] * (2 * nd)
        for k, ax in enumerate(axes):
            full[ax], full[ax + nd] = pads[k], pads[k + len(axes)]
        pads = full
    mode = a.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    tp = _torch_pad(pads)
    while len(tp) > 2 and tp[-1] == 0 and tp[-2] == 0:
        tp = tp[:-2]
    if mode == "constant":
        return F.pad(x, tp, value=value)
    return F.pad(x, tp, mode={"reflect": "reflect", "edge": "replicate", "wrap": "circular"}[mode])


def _reduce(f: Callable[..., Any]) -> OnnxFn:
    def g(i, a, m):
        x = _t(i[0])
        axes = _axes(i, a, 1)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if axes is not None and a.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return f(x, dim=tuple(axes), keepdim=keep)
    return g


OPS["ReduceMean"] = _reduce(torch.mean)
OPS["ReduceSum"] = _reduce(torch.sum)
OPS["ReduceMax"] = _reduce(torch.amax)
OPS["ReduceMin"] = _reduce(torch.amin)
OPS["ReduceProd"] = _reduce(lambda x, dim, keepdim: _prod_dims(x, dim, keepdim))
OPS["ReduceL2"] = _reduce(lambda x, dim, keepdim: torch.linalg.vector_norm(x, 2, dim=dim, keepdim=keepdim))
OPS["ReduceSumSquare"] = _reduce(lambda x, dim, keepdim: (x * x).sum(dim=dim, keepdim=keepdim))


def _prod_dims(x: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    for d in sorted((d % x.dim() for d in dim), reverse=True):
        x = x.prod(dim=d, keepdim=keepdim)
    return x


@op("ArgMax", "ArgMin")
def _arg(i, a, m):
    raise AssertionError


def _arg_of(f: Callable[..., Any]) -> OnnxFn:
    def g(i, a, m):
        return f(i[0], dim=int(a.get("axis", 0)), keepdim=bool(a.get("keepdims", 1)))
    return g


OPS["ArgMax"] = _arg_of(torch.argmax)
OPS["ArgMin"] = _arg_of(torch.argmin)


@op("DepthToSpace")
def _d2s(i, a, m):
    x = i[0]
    bs = int(a["blocksize"])
    n, c, h, w = x.shape
    mode = a.get("mode", "DCR")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode == "DCR":
        y = x.reshape(n, bs, bs, c // bs**2, h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // bs**2, bs, bs, h, w).permute(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // bs**2, h * bs, w * bs)


@op("SpaceToDepth")
def _s2d(i, a, m):
    x = i[0]
    bs = int(a["blocksize"])
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // bs, bs, w // bs, bs).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * bs * bs, h // bs, w // bs)


@op("Resize", "Upsample")
def _resize(i, a, m):
    x = i[0]
    mode = a.get("mode", "nearest")
    if isinstance(mode, bytes):
        mode = mode.decode()
    sizes = _ints(i[3]) if len(i) > 3 and i[3] is not None and _t(i[3]).numel() else None
    scales = None
    if sizes is None:
        sc = i[2] if len(i) > 2 and i[2] is not None else (i[1] if len(i) == 2 else None)
        scales = [float(s) for s in _t(sc).reshape(-1).tolist()]
        sizes = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    if isinstance(ctm, bytes):
        ctm = ctm.decode()
    if mode == "nearest":
        nm = a.get("nearest_mode", "round_prefer_floor")
        if isinstance(nm, bytes):
            nm = nm.decode()
        if ctm == "asymmetric" and nm == "floor":
            return F.interpolate(x, size=sizes[2:], mode="nearest")
        if ctm in ("half_pixel", "pytorch_half_pixel") and nm in ("round_prefer_ceil", "round_prefer_floor"):
            return F.interpolate(x, size=sizes[2:], mode="nearest-exact")
        raise NotImplementedError(f"Resize nearest with {ctm}/{nm}")
    if mode == "linear":
        kind = {3: "linear", 4: "bilinear", 5: "trilinear"}[x.dim()]
        if ctm == "align_corners":
            return F.interpolate(x, size=sizes[2:], mode=kind, align_corners=True)
        if ctm in ("half_pixel", "pytorch_half_pixel"):
            return F.interpolate(x, size=sizes[2:], mode=kind, align_corners=False)
    raise NotImplementedError(f"Resize mode {mode}/{ctm}")


# -- recurrent layers -------------------------------------------------------------------
def _acts(a: dict[str, Any], n: int, default: list[str]) -> list[str]:
    acts = [s.decode() if isinstance(s, bytes) else s for s in (a.get("activations") or [])]
    return acts or default


_ACT_FNS = {"Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Relu": torch.relu}


@op("LSTM")
def _lstm(i, a, m):
    x, w, r = i[0], i[1], i[2]
    b = i[3] if len(i) > 3 else None
    h0 = i[5] if len(i) > 5 else None
    c0 = i[6] if len(i) > 6 else None
    if len(i) > 4 and i[4] is not None:
        raise NotImplementedError("LSTM with sequence_lens")
    if len(i) > 7 and i[7] is not None:
        raise NotImplementedError("LSTM with peepholes")
    if a.get("layout", 0):
        x = x.transpose(0, 1)
    dirs, hidden = w.shape[0], int(a.get("hidden_size") or r.shape[-1])
    direction = a.get("direction", "forward")
    if isinstance(direction, bytes):
        direction = direction.decode()
    seq, batch = x.shape[0], x.shape[1]
    ys, hs, cs = [], [], []
    for d in range(dirs):
        rev = direction == "reverse" or d == 1
        wb = b[d] if b is not None else torch.zeros(8 * hidden, dtype=x.dtype, device=x.device)
        h = h0[d] if h0 is not None else x.new_zeros(batch, hidden)
        c = c0[d] if c0 is not None else x.new_zeros(batch, hidden)
        outs = []
        steps = range(seq - 1, -1, -1) if rev else range(seq)
        for t in steps:
            g = x[t] @ w[d].t() + h @ r[d].t() + wb[: 4 * hidden] + wb[4 * hidden:]
            gi, go, gf, gc = g.chunk(4, dim=-1)  # ONNX order: i, o, f, c
            gi, go, gf, gc = torch.sigmoid(gi), torch.sigmoid(go), torch.sigmoid(gf), torch.tanh(gc)
            c = gf * c + gi * gc
            h = go * torch.tanh(c)
            outs.append(h)
        if rev:
            outs.reverse()
        ys.append(torch.stack(outs))
        hs.append(h)
        cs.append(c)
    y = torch.stack(ys, dim=1)  # seq, dirs, batch, hidden
    yh, yc = torch.stack(hs), torch.stack(cs)
    if a.get("layout", 0):
        y, yh, yc = y.permute(2, 0, 1, 3), yh.transpose(0, 1), yc.transpose(0, 1)
    return (y, yh, yc)


@op("GRU")
def _gru(i, a, m):
    x, w, r = i[0], i[1], i[2]
    b = i[3] if len(i) > 3 else None
    h0 = i[5] if len(i) > 5 else None
    if len(i) > 4 and i[4] is not None:
        raise NotImplementedError("GRU with sequence_lens")
    if a.get("layout", 0):
        x = x.transpose(0, 1)
    dirs, hidden = w.shape[0], int(a.get("hidden_size") or r.shape[-1])
    lbr = bool(a.get("linear_before_reset", 0))
    direction = a.get("direction", "forward")
    if isinstance(direction, bytes):
        direction = direction.decode()
    seq, batch = x.shape[0], x.shape[1]
    ys, hs = [], []
    for d in range(dirs):
        rev = direction == "reverse" or d == 1
        wb = b[d] if b is not None else torch.zeros(6 * hidden, dtype=x.dtype, device=x.device)
        wbz, wbr, wbh = wb[:3 * hidden].chunk(3)
        rbz, rbr, rbh = wb[3 * hidden:].chunk(3)
        wz, wr, wh = w[d].chunk(3)
        rz, rr, rh = r[d].chunk(3)
        h = h0[d] if h0 is not None else x.new_zeros(batch, hidden)
        outs = []
        for t in (range(seq - 1, -1, -1) if rev else range(seq)):
            xt = x[t]
            z = torch.sigmoid(xt @ wz.t() + h @ rz.t() + wbz + rbz)
            rt = torch.sigmoid(xt @ wr.t() + h @ rr.t() + wbr + rbr)
            if lbr:
                hh = torch.tanh(xt @ wh.t() + wbh + rt * (h @ rh.t() + rbh))
            else:
                hh = torch.tanh(xt @ wh.t() + wbh + (rt * h) @ rh.t() + rbh)
            h = (1 - z) * hh + z * h
            outs.append(h)
        if rev:
            outs.reverse()
        ys.append(torch.stack(outs))
        hs.append(h)
    y = torch.stack(ys, dim=1)
    yh = torch.stack(hs)
    if a.get("layout", 0):
        y, yh = y.permute(2, 0, 1, 3), yh.transpose(0, 1)
    return (y, yh)
