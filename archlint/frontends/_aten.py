"""ATen ops -> the common graph, shared by the live-module (``torch.py``) and
the ``.pt2`` (``pt2.py``) frontends so both give the same nodes.

No torch import here: each frontend turns its graph (a live
``ExportedProgram`` or the JSON inside a ``.pt2`` archive) into a list of
:class:`ANode` with named arguments, and :func:`build` maps them. Ops that
only compute sizes, pick tuple items or update buffers are looked through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from archlint.execute.spec import MODE, Call, Impl, In, T, TrainOnly, W, WeightTable
from archlint.graph import Graph, GraphBuilder, OpKind, SourceLocation, names
from archlint.graph.attrs import matmul_attrs

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class TRef:
    """A reference to a tensor value by name."""

    name: str


@dataclass
class ANode:
    """One ATen call, framework-free: ``target`` like ``aten.conv2d.default``,
    ``args`` by schema name, tensor ``outputs`` by name."""

    name: str
    target: str
    args: dict[str, Any]
    outputs: list[str]
    module_stack: list[tuple[str, str]] = field(default_factory=list)  # (path, class), outermost first
    stack_trace: str | None = None


_ACT = names.activations("aten")
_BN = names.ATEN_BATCH_NORMS
_NORM = names.norms("aten")
_DROPOUT = names.dropouts("aten")
_CONV = {"conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
_POOL = {"max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices",
         "avg_pool1d", "avg_pool2d", "avg_pool3d"}
_ADAPTIVE = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "_adaptive_avg_pool2d",
             "_adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"}
_RESHAPE = {"view", "_unsafe_view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t"}
#: data movement: slices, picks, repeats (understood, no arithmetic)
_VIEWS = {"slice", "select", "narrow", "split", "split_with_sizes", "chunk", "unbind", "expand", "expand_as",
          "repeat", "repeat_interleave", "index", "index_select", "gather", "unflatten", "movedim", "roll", "flip",
          "tensor_split", "unsafe_split", "as_strided", "stack", "tile"}
_ATTENTION = {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention_for_cpu",
              "_scaled_dot_product_cudnn_attention", "flex_attention"}
_RNN = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn", "rnn_relu": "rnn"}
_SCALAR_ARGS = ("other", "exponent", "value", "alpha", "scalar", "self")
_IDENTITY = {"clone", "contiguous", "alias", "detach", "_to_copy", "to", "type_as", "lift_fresh_copy", "identity"}
_LOOK_THROUGH = {"getitem"}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_LIB = re.compile(
    r"([/\\](site|dist)-packages[/\\]|^<|[/\\]lib[/\\]python3[.\d]*[/\\]"
    r"|[/\\]torch[/\\](nn|fx|export|onnx|jit|utils|autograd|_[a-z_]+)[/\\]"
    r"|[/\\]torch[/\\](functional|__init__|overrides|_[a-z_]+)\.py$)"
)


def op_name(target: str) -> str:
    """``torch.ops.aten.conv2d.default`` -> ``conv2d``; ``_operator.getitem`` -> ``getitem``."""
    t = target.removeprefix("torch.ops.")
    parts = t.split(".")
    if parts[0] == "aten" and len(parts) >= 2:
        return parts[1]
    return parts[-1]


def user_frame(trace: str | None) -> SourceLocation | None:
    """The innermost frame of a stack trace outside installed libraries."""
    if not trace:
        return None
    user = [(f, ln) for f, ln in _FRAME.findall(trace) if not _LIB.search(f)]
    if not user:
        return None
    f, ln = user[-1]
    return SourceLocation(f, int(ln))


def _prod(shape: Sequence[int | None] | None) -> int:
    if not shape or any(d is None for d in shape):
        return 0
    return math.prod(shape)  # type: ignore[arg-type]


def _ints(v: Any, n: int, default: int) -> tuple[int, ...]:
    if v is None or v == []:
        return (default,) * n
    if isinstance(v, (int, float)):
        return (int(v),) * n
    try:
        vals = [int(x) if x is not None else default for x in v]
    except (TypeError, ValueError):
        raise ValueError(f"expected integers, got {v!r:.60}") from None
    if len(vals) == 1 and n > 1:
        vals = vals * n
    return tuple(vals)


class _Ctx:
    def __init__(self, shapes: dict[str, Shape | None]) -> None:
        self.shapes = shapes

    def shape(self, v: Any) -> Shape | None:
        return self.shapes.get(v.name) if isinstance(v, TRef) else None


def _conv(op: str, a: dict[str, Any], cx: _Ctx) -> dict[str, Any]:
    w = cx.shape(a.get("weight")) or ()
    transposed = bool(a.get("transposed", False)) or op.startswith("conv_transpose")
    groups = int(a.get("groups", 1) or 1)
    nd = max(len(w) - 2, 1) if w else {"1": 1, "3": 3}.get(op[-2:-1], 2)
    kernel = tuple(w[2:]) if len(w) > 2 and all(isinstance(k, int) for k in w[2:]) else ()
    channels = in_ch = None
    if len(w) >= 2:
        channels = w[1] * groups if transposed else w[0]
        in_ch = w[0] if transposed else w[1] * groups
    bias = a.get("bias")
    pad = a.get("padding", 0)
    if isinstance(pad, str):
        padding: Any = pad
    else:
        p = _ints(pad, nd, 0)
        padding = (*p, *p)
    attrs: dict[str, Any] = {
        "channels": channels,
        "in_channels": in_ch,
        "kernel": kernel,
        "stride": _ints(a.get("stride"), nd, 1),
        "dilation": _ints(a.get("dilation"), nd, 1),
        "groups": groups,
        "padding": padding,
        "bias": isinstance(bias, TRef),
        "params": _prod(w) + (_prod(cx.shape(bias)) if isinstance(bias, TRef) else 0),
        "rank": nd,
    }
    if transposed:
        attrs["transposed"] = True
    if groups > 1 and in_ch is not None and groups == in_ch:
        attrs["depthwise"] = True
    return attrs


def _dense(op: str, a: dict[str, Any], cx: _Ctx) -> dict[str, Any] | None:
    if op == "linear":
        w, bias = a.get("weight"), a.get("bias")
        ws = cx.shape(w) or ()
        units = ws[0] if len(ws) == 2 else None
        in_f = ws[1] if len(ws) == 2 else None
    else:  # addmm(bias, input, weight.T) / mm / matmul(input, weight)
        w = a.get("mat2", a.get("other"))
        bias = a.get("self") if op == "addmm" else None
        ws = cx.shape(w) or ()
        units = ws[-1] if ws else None
        in_f = ws[-2] if len(ws) >= 2 else None
    out = {
        "units": units,
        "in_features": in_f,
        "bias": isinstance(bias, TRef),
        "params": _prod(cx.shape(w)) + (_prod(cx.shape(bias)) if isinstance(bias, TRef) else 0),
    }
    if isinstance(w, TRef):
        out["weight"] = w.name
    return out


def _sdpa(a: dict[str, Any], cx: _Ctx) -> dict[str, Any]:
    q = cx.shape(a.get("query")) or ()
    scale = a.get("scale")
    attrs: dict[str, Any] = {
        "heads": q[1] if len(q) == 4 else None,
        "head_dim": q[-1] if q else None,
        "causal": bool(a.get("is_causal", False)) or None,
        "masked": a.get("attn_mask") is not None,
        "dropout": float(a.get("dropout_p") or 0.0),
    }
    if isinstance(scale, (int, float)):
        attrs["scale"] = float(scale)
    else:  # SDPA's default: 1/sqrt(head_dim)
        attrs["scale"] = 1 / math.sqrt(q[-1]) if q and q[-1] else None
        attrs["scale_default"] = True
    return attrs


def _rnn(base: str, a: dict[str, Any], cx: _Ctx) -> dict[str, Any]:
    params = a.get("params") or []
    shapes = [cx.shape(p) for p in params if isinstance(p, TRef)]
    gates = {"lstm": 4, "gru": 3}.get(base, 1)
    hidden = None
    for s in shapes:
        if s and len(s) == 2 and s[0] and s[0] % gates == 0:
            hidden = s[0] // gates
            break
    dropout = a.get("dropout")
    layers = int(a.get("num_layers", 1) or 1)
    bidir = bool(a.get("bidirectional", False))
    return {
        "cell": _RNN[base],
        "units": hidden * (2 if bidir else 1) if hidden else None,
        "hidden": hidden,
        "layers": layers,
        "bidirectional": bidir,
        "dropout": float(dropout) if isinstance(dropout, (int, float)) else 0.0,
        "recurrent_dropout": 0.0,
        "variational": False,
        "params": sum(_prod(s) for s in shapes),
    }


def _scalar_attrs(op: str, a: dict[str, Any]) -> dict[str, Any]:
    """A numeric operand of an elementwise op (``x / 8``, ``x ** 2``, a mask fill)."""
    for k in _SCALAR_ARGS:
        v = a.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out: dict[str, Any] = {"scalar": float(v)}
            if k == "self":
                out["scalar_first"] = True
            return out
    return {}


def _flatten_or_reshape(op: str, a: dict[str, Any], x: Shape | None, out: Shape | None) -> tuple[OpKind, dict[str, Any]]:
    if op in ("permute", "transpose", "t"):
        perm = None
        if op == "permute" and isinstance(a.get("dims"), (list, tuple)):
            perm = [int(d) for d in a["dims"]]
        elif op == "transpose" and x is not None:
            r = len(x)
            d0, d1 = int(a.get("dim0", 0)) % r, int(a.get("dim1", 1)) % r
            perm = list(range(r))
            perm[d0], perm[d1] = perm[d1], perm[d0]
        return OpKind.RESHAPE, {"perm": perm} if perm else {}
    if op in ("squeeze", "unsqueeze"):
        return OpKind.RESHAPE, {}
    if x is not None and out is not None and len(out) == 2 and len(x) >= 2 and out[0] == x[0]:
        return OpKind.FLATTEN, {"axis": 1}
    if x is None or out is None:
        if op == "flatten" and int(a.get("start_dim", 0) or 0) == 1 and int(a.get("end_dim", -1)) == -1:
            return OpKind.FLATTEN, {"axis": 1}
        size = a.get("size", a.get("shape"))
        if op != "flatten" and isinstance(size, (list, tuple)) and len(size) == 2 and size[1] == -1:
            return OpKind.FLATTEN, {"axis": 1}
    size = a.get("size", a.get("shape"))
    attrs: dict[str, Any] = {}
    if isinstance(size, (list, tuple)) and all(isinstance(d, int) for d in size):
        attrs["target"] = tuple(size)
    return OpKind.RESHAPE, attrs


def classify(n: ANode, data_in: list[str], cx: _Ctx) -> tuple[OpKind, dict[str, Any]]:
    """The op kind and attributes of one ATen call."""
    op = op_name(n.target)
    a = n.args
    x = cx.shapes.get(data_in[0]) if data_in else None
    out = cx.shapes.get(n.outputs[0]) if n.outputs else None
    base = op.rstrip("_") if op.endswith("_") and not op.startswith("_") else op
    if base in _CONV:
        return OpKind.CONV, _conv(base, a, cx)
    if base == "linear" or (base in ("addmm", "mm", "matmul") and len(data_in) == 1):
        return OpKind.DENSE, _dense(base, a, cx) or {}
    if base in ("matmul", "bmm", "mm", "einsum") and len(data_in) == 2:  # two activations: scores, relative positions
        eq = a.get("equation") if base == "einsum" else None
        return OpKind.MATMUL, matmul_attrs([cx.shapes.get(x) for x in data_in], eq if isinstance(eq, str) else None)
    if base in _BN:
        c = cx.shape(a.get("weight")) or cx.shape(a.get("running_mean"))
        training = a.get("training", a.get("train"))
        if base == "_native_batch_norm_legit_no_training" or base == "_batch_norm_no_update":
            training = False
        elif training is None:
            training = True
        return OpKind.BATCH_NORM, {
            "channels": c[0] if c else (x[1] if x and len(x) > 1 else None),
            "epsilon": a.get("eps", 1e-5),
            "momentum": a.get("momentum", 0.1),
            "training_mode": bool(training),
            "params": 2 * c[0] if c else 0,
        }
    if base in _NORM:
        w = cx.shape(a.get("weight"))
        b = cx.shape(a.get("bias"))
        norm = _NORM[base]
        kind = names.norm_kind(norm)
        return kind, {"norm": norm, "params": _prod(w) + _prod(b), "affine": isinstance(a.get("weight"), TRef)}
    if base in _ATTENTION:
        return OpKind.ATTENTION, _sdpa(a, cx)
    if base == "embedding" or base == "embedding_bag":
        w = cx.shape(a.get("weight")) or ()
        attrs = {"vocab": w[0] if len(w) == 2 else None, "dim": w[1] if len(w) == 2 else None, "params": _prod(w)}
        if isinstance(a.get("weight"), TRef):
            attrs["weight"] = a["weight"].name
        return OpKind.EMBEDDING, attrs
    if base in _RNN:
        return OpKind.RNN, _rnn(base, a, cx)
    if base in _DROPOUT:
        flavour, spatial = _DROPOUT[base]
        rate = a.get("p")
        return OpKind.DROPOUT, {"rate": float(rate) if rate is not None else 0.5, "spatial": spatial, "flavour": flavour}
    if base == "hardtanh":
        lo, hi = a.get("min_val", -1.0), a.get("max_val", 1.0)
        if lo == 0 and hi == 6:
            return OpKind.ACTIVATION, {"activation": "relu6"}
        return OpKind.ACTIVATION, {"activation": "clip", "min": lo, "max": hi}
    if base in _ACT:
        attrs: dict[str, Any] = {"activation": _ACT[base]}
        if "softmax" in base:
            attrs["axis"] = a.get("dim", -1)
        if _ACT[base] == "prelu":
            attrs["params"] = _prod(cx.shape(a.get("weight")))
        return OpKind.ACTIVATION, attrs
    if base in _POOL:
        kernel = _ints(a.get("kernel_size"), 1, 1)
        nd = len(kernel)
        stride = a.get("stride")
        p = _ints(a.get("padding"), nd, 0)
        return OpKind.POOL, {
            "pool": "max" if "max" in base else "avg",
            "kernel": kernel,
            "stride": _ints(stride, nd, 1) if stride else kernel,
            "dilation": _ints(a.get("dilation"), nd, 1),
            "padding": (*p, *p),
        }
    if base in _ADAPTIVE:
        size = a.get("output_size")
        sizes = [size] if isinstance(size, int) else list(size or [])
        pool = "max" if "max" in base else "avg"
        if sizes and all(s == 1 for s in sizes):
            return OpKind.GLOBAL_POOL, {"pool": pool, "keepdims": True}
        return OpKind.POOL, {"pool": pool, "adaptive": True, "output_size": tuple(sizes)}
    if base in ("mean", "amax", "max") and x is not None and len(x) >= 3:
        dims = a.get("dim")
        dims = [dims] if isinstance(dims, int) else list(dims or [])
        rank = len(x)
        if dims and sorted(d % rank for d in dims) == list(range(2, rank)):
            return OpKind.GLOBAL_POOL, {
                "pool": "avg" if base == "mean" else "max",
                "keepdims": bool(a.get("keepdim", False)),
                "axes": tuple(dims),
            }
        return OpKind.UNKNOWN, {"axes": tuple(dims)}
    if base in ("mean", "amax") and x is None:
        dims = a.get("dim")
        if isinstance(dims, (list, tuple)) and sorted(dims) in ([2, 3], [-2, -1]):
            return OpKind.GLOBAL_POOL, {"pool": "avg" if base == "mean" else "max",
                                        "keepdims": bool(a.get("keepdim", False)), "axes": tuple(dims)}
    if base in _RESHAPE:
        return _flatten_or_reshape(base, a, x, out)
    if base in ("add", "sub", "div", "mul", "true_divide", "rsub"):
        if len(data_in) >= 2:
            if base == "add":
                return OpKind.ADD, {}
            if base == "mul":
                return OpKind.MUL, {}
            return OpKind.UNKNOWN, {}
        attrs = {f"constant_{base}": True, **_scalar_attrs(base, a)}
        if base == "rsub":
            attrs["scalar_first"] = True
        return OpKind.IDENTITY, attrs
    if base == "neg":
        return OpKind.IDENTITY, {"constant_mul": True, "scalar": -1.0}
    if base in ("masked_fill", "where", "fill", "clamp", "clamp_min", "clamp_max"):
        return OpKind.UNKNOWN if base in ("clamp", "clamp_min", "clamp_max") else OpKind.IDENTITY, {
            f"constant_{base}": True, **_scalar_attrs(base, a)}
    if base in _VIEWS:
        return OpKind.RESHAPE, {"view": base}
    if base in ("cat", "concat", "concatenate"):
        return OpKind.CONCAT, {"axis": int(a.get("dim", 0) or 0)}
    if base in ("pad", "constant_pad_nd", "reflection_pad2d", "replication_pad2d"):
        return OpKind.PAD, {}
    if base in _IDENTITY:
        return OpKind.IDENTITY, {}
    return OpKind.UNKNOWN, _scalar_attrs(base, a)


def _refs(v: Any) -> Iterable[str]:
    if isinstance(v, TRef):
        yield v.name
    elif isinstance(v, (list, tuple)):
        for x in v:
            yield from _refs(x)


def _layer(n: ANode) -> tuple[str, str | None]:
    """The innermost non-root module path and its class, else the node name."""
    for path, cls in reversed(n.module_stack):
        if path:
            return path, cls
    return n.name, None


def build(
    name: str,
    fmt: str,
    nodes: Iterable[ANode],
    inputs: Sequence[str],
    outputs: Sequence[str],
    shapes: dict[str, Shape | None],
    weights: WeightTable | None = None,
) -> Graph:
    """Map ATen calls in topological order into a :class:`Graph`.

    ``inputs`` are the user inputs (everything else without a producer is a
    weight, buffer or constant); ``shapes`` gives every tensor's shape. The
    graph is returned as built; the pass pipeline (:mod:`archlint.graph.passes`)
    finishes it. ``weights`` (placeholder name -> the module's tensor) makes
    the graph executable: each node gets an :class:`~archlint.execute.spec.Impl`
    (its ATen call, after the weight-only calls it reads: ``expand(cls_token)``,
    a position-id ``arange``), and the pipeline's ``weights`` pass counts the
    parameters each node reads first, so free parameters (position embeddings,
    class tokens) are counted where they are used."""
    b = GraphBuilder(name, fmt)
    cx = _Ctx(shapes)
    alias: dict[str, str] = {}  # aten value -> graph value
    picks: dict[str, tuple[str, tuple[int, ...]]] = {}  # getitem value -> (graph value, item path)
    pre: dict[str, tuple[int, ANode]] = {}  # outputs of calls that read no data (weights, constants only)
    standardised: set[str] = set()  # weights normalised before use (weight standardisation)
    for i in inputs:
        b.add_input(i, shapes.get(i))
        alias[i] = i
    for n in nodes:
        data_in: list[str] = []
        for v in n.args.values():
            for r in _refs(v):
                g = alias.get(r)
                if g is not None and g not in data_in:
                    data_in.append(g)
        if not data_in or not n.outputs:
            for o in n.outputs:
                pre[o] = (len(pre), n)
            # buffer updates, constants, size arithmetic; and weights computed from parameters:
            # a normalisation of a weight (NF-Nets' ScaledStdConv) standardises it
            base = op_name(n.target).rstrip("_")
            reads = {r for v in n.args.values() for r in _refs(v)}
            if base in _BN or base in _NORM or base in ("var_mean", "std_mean") or reads & standardised:
                standardised.update(n.outputs)
            continue
        op = op_name(n.target)
        if op in _LOOK_THROUGH or (op in ("sym_size", "size", "sym_numel", "sym_stride", "dim")):
            if op in _LOOK_THROUGH:
                src = next(iter(_refs(n.args.get("arg0"))), None)
                idx = n.args.get("arg1")
                base, path = picks.get(src, (data_in[0], ())) if src else (data_in[0], ())
                for o in n.outputs:
                    alias[o] = data_in[0]
                    if isinstance(idx, int):
                        picks[o] = (base, (*path, idx))
            continue
        kind, attrs = classify(n, [r for r in _data_refs(n, alias)], cx)
        layer, cls = _layer(n)
        if cls:
            attrs["module_class"] = cls
        if kind is OpKind.CONV and set(_refs(n.args.get("weight"))) & standardised:
            attrs["weight_standardised"] = True
        out = n.outputs[0]
        node = b.add(kind, op, layer, inputs=data_in, outputs=[out], attrs=attrs,
                     source=user_frame(n.stack_trace), name=n.name)
        node.outputs[0].shape = shapes.get(out)
        if weights is not None:
            node.impl = _impl(n, data_in, alias, picks, pre)
        for o in n.outputs:
            alias[o] = out
    for o in outputs:
        g = alias.get(o)
        if g is not None and all(v.name != g for v in b.graph.outputs):
            b.mark_output(g)
    if weights is not None:
        b.graph.meta["weights"] = weights  # the pipeline's weights pass counts parameters from it
    return b.finish()


def _data_refs(n: ANode, alias: dict[str, str]) -> list[str]:
    """Original names of the data inputs (for shape look-ups), in order,
    repeats kept (``x * x`` multiplies two data inputs)."""
    return [r for v in n.args.values() for r in _refs(v) if r in alias]


_MODE_ARGS = {"train", "training"}


def _impl(n: ANode, data_in: list[str], alias: dict[str, str], picks: dict[str, tuple[str, tuple[int, ...]]],
          pre: dict[str, tuple[int, ANode]]) -> Impl:
    """The node's ATen call, preceded by the weight-only calls it reads."""
    needed: dict[str, tuple[int, ANode]] = {}

    def need(r: str) -> None:
        if r in needed:
            return
        pos, m = pre[r]
        for o in m.outputs:
            needed[o] = (pos, m)
        for v in m.args.values():
            for x in _refs(v):
                if x in pre:
                    need(x)

    def tmpl(v: Any) -> Any:
        if isinstance(v, TRef):
            r = v.name
            if r in picks:
                base, path = picks[r]
                return In(data_in.index(base), path)
            if r in alias:
                return In(data_in.index(alias[r]))
            if r in pre:
                need(r)
                return T(r)
            return W(r)
        if isinstance(v, (list, tuple)):
            return [tmpl(x) for x in v]
        return v

    def args_of(m: ANode) -> dict[str, Any]:
        out = {k: tmpl(v) for k, v in m.args.items()}
        for k in _MODE_ARGS & set(out):  # dropout, batch norm, RNNs: follow module.train()/eval()
            if isinstance(out[k], bool):
                out[k] = MODE
        p = out.get("dropout_p")
        if isinstance(p, (int, float)) and p:
            out["dropout_p"] = TrainOnly(float(p))
        return out

    main = Call("aten", n.target, args_of(n), n.outputs[0])
    calls: list[Call] = []
    seen: set[int] = set()
    for _pos, m in sorted(needed.values(), key=lambda pm: pm[0]):
        if id(m) not in seen:
            seen.add(id(m))
            calls.append(Call("aten", m.target, args_of(m), m.outputs[0]))
    return Impl([*calls, main])
