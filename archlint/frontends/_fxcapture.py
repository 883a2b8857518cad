"""The cheap capture: ``torch.fx`` symbolic trace plus meta-device shape propagation,
written out as the ATen calls ``torch.export`` would record.

``torch.export`` costs an import of ``torch._dynamo`` (about a second) and a
fake-tensor trace of every op. For the common layers the ATen call each
module or function becomes is fixed (``nn.Conv2d`` -> ``aten.conv2d``,
``nn.ReLU(inplace=True)`` -> ``aten.relu_``, ``x.view(n, -1)`` ->
``aten.view``), so a symbolic trace with those modules kept as leaves gives
the same graph: the same ATen op names and node names, module paths, source
lines, shapes (propagated on the meta device, so no arithmetic runs) and the
arguments the op table reads. Anything outside the table (an unlisted
module or function, a data-dependent branch, a keyword input) raises
:class:`Unsupported`, and the caller falls back to ``torch.export``.
``tests/frontends/test_fast_capture.py`` checks the two agree model by model.
"""

from __future__ import annotations

import operator
import re
import traceback
from typing import Any

from archlint.frontends._aten import ANode, Shape, TRef


class Unsupported(Exception):
    """The model uses something the cheap capture does not write out like export."""


def _torch() -> Any:
    import torch

    return torch


def _leaf_types() -> dict[type, str]:
    from torch import nn

    return {
        nn.Conv1d: "conv", nn.Conv2d: "conv", nn.Conv3d: "conv",
        nn.ConvTranspose1d: "convt", nn.ConvTranspose2d: "convt", nn.ConvTranspose3d: "convt",
        nn.Linear: "linear",
        nn.BatchNorm1d: "bn", nn.BatchNorm2d: "bn", nn.BatchNorm3d: "bn",
        nn.LayerNorm: "layer_norm", nn.GroupNorm: "group_norm",
        nn.Dropout: "dropout", nn.Dropout1d: "feature_dropout", nn.Dropout2d: "feature_dropout",
        nn.Dropout3d: "feature_dropout", nn.AlphaDropout: "alpha_dropout",
        nn.FeatureAlphaDropout: "feature_alpha_dropout",
        nn.ReLU: "inplace:relu", nn.SiLU: "inplace:silu", nn.Hardswish: "inplace:hardswish",
        nn.Hardsigmoid: "inplace:hardsigmoid", nn.ReLU6: "relu6",
        nn.GELU: "gelu", nn.Sigmoid: "plain:sigmoid", nn.Tanh: "plain:tanh", nn.Mish: "inplace:mish",
        nn.MaxPool1d: "max_pool", nn.MaxPool2d: "max_pool", nn.MaxPool3d: "max_pool",
        nn.AvgPool1d: "avg_pool", nn.AvgPool2d: "avg_pool", nn.AvgPool3d: "avg_pool",
        nn.AdaptiveAvgPool1d: "adaptive_avg", nn.AdaptiveAvgPool2d: "adaptive_avg", nn.AdaptiveAvgPool3d: "adaptive_avg",
        nn.Flatten: "flatten", nn.Identity: "identity", nn.Softmax: "softmax",
    }


#: python-level functions and methods -> the ATen op export records, and its argument names
_FUNCS: dict[str, tuple[str, tuple[str, ...]]] = {
    "add": ("add", ("self", "other")), "iadd": ("add_", ("self", "other")),
    "sub": ("sub", ("self", "other")), "isub": ("sub_", ("self", "other")),
    "mul": ("mul", ("self", "other")), "imul": ("mul_", ("self", "other")),
    "truediv": ("div", ("self", "other")), "itruediv": ("div_", ("self", "other")),
    "matmul": ("matmul", ("self", "other")),
    "cat": ("cat", ("tensors", "dim")), "concat": ("cat", ("tensors", "dim")), "stack": ("stack", ("tensors", "dim")),
    "flatten": ("flatten", ("self", "start_dim", "end_dim")),
    "relu": ("relu", ("self",)), "relu_": ("relu_", ("self",)), "sigmoid": ("sigmoid", ("self",)),
    "tanh": ("tanh", ("self",)),
    "view": ("view", ("self", "size")), "reshape": ("reshape", ("self", "shape")),
    "permute": ("permute", ("self", "dims")), "transpose": ("transpose", ("self", "dim0", "dim1")),
    "unsqueeze": ("unsqueeze", ("self", "dim")),
    "mean": ("mean", ("self", "dim", "keepdim")),
    "chunk": ("chunk", ("self", "chunks", "dim")),
}
_VARARG_SIZE = {"view", "reshape", "permute"}  # x.view(2, -1) packs its sizes into one list
_NO_OP_METHODS = {"contiguous"}  # recorded by export only when it copies
_AUGMENTED = {"add": "+", "sub": "-", "mul": "*", "truediv": "/"}


def _user_line(frames: list[traceback.FrameSummary]) -> str:
    """The source text of the innermost frame outside torch (where the op was written)."""
    for f in reversed(frames):
        fn = f.filename.replace("\\", "/")
        if "/torch/" not in fn:
            return f.line or ""
    return ""


def _stack(trace_frames: list[traceback.FrameSummary]) -> str:
    return "".join(traceback.format_list(trace_frames)).strip()


class _Tracer:
    """A ``torch.fx.Tracer`` whose leaves are the modules in the table and
    whose nodes carry the user's stack (cut at the traced ``forward``)."""

    def __new__(cls, leaves: dict[type, str]) -> Any:
        import torch.fx

        class Tracer(torch.fx.Tracer):
            def is_leaf_module(self, m: Any, qualname: str) -> bool:
                return type(m) in leaves

            def create_node(self, kind: str, target: Any, args: Any, kwargs: Any, name: Any = None, type_expr: Any = None) -> Any:
                node = super().create_node(kind, target, args, kwargs, name, type_expr)
                if kind in ("call_module", "call_function", "call_method"):
                    frames = traceback.extract_stack()
                    start = max((i for i, f in enumerate(frames) if f.name == "trace" and f.filename.endswith("_symbolic_trace.py")), default=-1)
                    own = [f for f in frames[start + 1:] if f.filename != __file__]
                    node.meta["archlint_stack"] = _stack(own)
                    node.meta["archlint_stack_frames"] = own
                return node

        return Tracer()


class _Shapes(dict):
    """Shapes by value name; ``placeholders`` collects each weight's (FQN, role)."""

    placeholders: dict[str, tuple[str, str]]


def capture(model: Any, args: tuple[Any, ...], placeholders: dict[str, tuple[str, str]] | None = None,
            ) -> tuple[list[ANode], list[str], list[str], dict[str, Shape | None]]:
    """The ATen calls of ``model(*args)`` in training mode, as ``torch.export``
    would record them: (nodes, input names, output names, shapes).
    ``placeholders`` is filled with each weight's name -> (FQN, "param" or "buffer")."""
    torch = _torch()
    import torch.fx
    from torch.fx.graph import _Namespace

    if not all(isinstance(a, torch.Tensor) for a in args) or not args:
        raise Unsupported("inputs other than positional tensors")
    leaves = _leaf_types()
    tracer = _Tracer(leaves)
    try:
        graph = tracer.trace(model)
    except Exception as e:  # noqa: BLE001 - data-dependent control flow and the like
        raise Unsupported(f"symbolic trace: {type(e).__name__}: {e}") from None
    gm = torch.fx.GraphModule(model, graph)
    values = _propagate(torch, gm, model, args)
    modules = dict(model.named_modules())
    ns = _Namespace()
    shapes: dict[str, Shape | None] = _Shapes()
    shapes.placeholders = placeholders if placeholders is not None else {}  # type: ignore[attr-defined]
    nodes: list[ANode] = []
    inputs: list[str] = []
    outputs: list[str] = []
    alias: dict[str, str] = {}  # fx node name -> the export-style name of its value
    packs: dict[str, list[Any]] = {}  # namedtuple outputs -> their items
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(args):
        raise Unsupported("forward takes other arguments than the inputs given")
    for n in placeholders:  # export names user inputs after forward's parameters
        name = ns.create_name(n.name, None)
        alias[n.name] = name
        inputs.append(name)
        shapes[name] = _shape_of(torch, values[n.name])

    def ref(v: Any) -> Any:
        if isinstance(v, torch.fx.Node):
            val = values.get(v.name)
            if isinstance(val, torch.Tensor) or isinstance(val, (tuple, list)) and val and isinstance(val[0], torch.Tensor):
                if v.name not in alias:
                    raise Unsupported(f"value {v.name} has no producer")
                return TRef(alias[v.name])
            return _concrete(torch, val)
        if isinstance(v, (list, tuple)):
            return [ref(x) for x in v]
        if isinstance(v, torch.dtype | torch.device) or isinstance(v, slice):
            raise Unsupported(f"argument {v!r}")
        return v

    def emit(n: Any, op: str, named: dict[str, Any], stack: list[tuple[str, str]]) -> None:
        name = ns.create_name(op, None)
        val = values.get(n.name)
        is_tensor = isinstance(val, torch.Tensor)
        if is_tensor:
            shapes[name] = _shape_of(torch, val)
        elif isinstance(val, (tuple, list)):
            shapes[name] = None
        else:
            raise Unsupported(f"{op} returns {type(val).__name__}")
        alias[n.name] = name
        nodes.append(ANode(name, f"aten.{op}", named, [name], stack, n.meta.get("archlint_stack")))

    def phantom(op: str) -> None:
        """An op export records that updates a buffer: it takes a name, nothing else."""
        name = ns.create_name(op, None)
        nodes.append(ANode(name, f"aten.{op}", {}, [], [], None))

    for n in graph.nodes:
        if n.op == "placeholder":
            continue
        if n.op == "output":
            res = n.args[0]
            flat = list(res) if isinstance(res, (list, tuple)) else [res]
            while any(isinstance(r, torch.fx.Node) and r.name in packs for r in flat):
                flat = [x for r in flat for x in (packs[r.name] if isinstance(r, torch.fx.Node) and r.name in packs else [r])]
            for r in flat:
                if r is None:
                    continue
                if not isinstance(r, torch.fx.Node) or r.name not in alias:
                    raise Unsupported("an output that is not a tensor")
                outputs.append(alias[r.name])
            continue
        if n.op == "get_attr":
            val = values.get(n.name)
            if not isinstance(val, torch.Tensor):
                raise Unsupported(f"attribute access {n.target}")
            path, _, attr = str(n.target).rpartition(".")
            t = getattr(modules[path] if path else model, attr)
            weight = _param(shapes, path, t, attr)
            if weight is None:
                raise Unsupported(f"attribute access {n.target}")
            alias[n.name] = weight.name
            continue
        stack = [(str(path), f"{c.__module__}.{c.__qualname__}") for path, c in (n.meta.get("nn_module_stack") or {}).values()]
        val = values.get(n.name)
        if n.op == "call_module":
            mod = modules[n.target]
            x = n.args[0] if n.args else None
            if len(n.args) != 1 or n.kwargs or not isinstance(x, torch.fx.Node):
                raise Unsupported(f"module {n.target} called with other than one tensor")
            xv = values[x.name]
            plan = _module_call(torch, mod, leaves[type(mod)], str(n.target), ref(x), xv, shapes)
            if plan is None:  # nn.Identity: export records nothing
                alias[n.name] = alias[x.name]
                continue
            for op in plan[0]:
                phantom(op)
            emit(n, plan[1], plan[2], stack)
            continue
        fname = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
        if isinstance(n.target, type) and issubclass(n.target, tuple) and hasattr(n.target, "_fields"):
            packs[n.name] = [*n.args, *n.kwargs.values()]  # a namedtuple of outputs: export returns its tensors
            continue
        if n.target is operator.getitem:
            src = n.args[0]
            srcv = values.get(src.name) if isinstance(src, torch.fx.Node) else None
            if isinstance(srcv, (tuple, list)) and isinstance(val, torch.Tensor) and isinstance(n.args[1], int):
                name = ns.create_name("getitem", None)
                alias[n.name] = name
                shapes[name] = _shape_of(torch, val)
                nodes.append(ANode(name, "getitem", {"arg0": TRef(alias[src.name]), "arg1": n.args[1]}, [name], stack, None))
                continue
            if isinstance(val, torch.Tensor):
                raise Unsupported("tensor indexing")
            continue  # x.shape[0]: size arithmetic, specialised to a number
        if n.op == "call_method" and fname in ("size", "dim", "numel") or fname == "getattr":
            if isinstance(val, torch.Tensor):
                raise Unsupported(f"{fname} returning a tensor")
            continue
        if not isinstance(val, torch.Tensor) and not (isinstance(val, (tuple, list)) and fname == "chunk"):
            if isinstance(val, (int, float, bool, torch.Size)) or val is None:
                continue  # Python arithmetic on sizes
            raise Unsupported(f"{fname} returns {type(val).__name__}")
        if n.op == "call_method" and fname in _NO_OP_METHODS:
            src = n.args[0]
            if values.get(src.name) is val:
                alias[n.name] = alias[src.name]
                continue
            raise Unsupported(f"{fname} that copies")
        if n.op == "call_function" and getattr(n.target, "__module__", "") in ("torch.nn.functional", "torch._C._nn"):
            op, named = _functional(torch, fname, n, ref)
            emit(n, op, named, stack)
            continue
        if fname not in _FUNCS:
            raise Unsupported(f"{n.op} {fname}")
        op, names = _FUNCS[fname]
        if fname in _AUGMENTED:
            line = _user_line(n.meta.get("archlint_stack_frames") or [])
            if re.search(rf"(?<![=!<>*/+-]){re.escape(_AUGMENTED[fname])}=", line):
                if line.count(_AUGMENTED[fname]) > 1:
                    raise Unsupported("augmented assignment mixed with the same operator")
                op = op + "_"  # `out += identity` is add_ in export, add in a symbolic trace
        pos = list(n.args)
        if fname in _VARARG_SIZE and len(pos) >= 2:
            second = values.get(pos[1].name) if isinstance(pos[1], torch.fx.Node) else pos[1]
            if len(pos) > 2 or not isinstance(second, (list, tuple, torch.Size)):
                pos = [pos[0], list(pos[1:])]  # x.view(2, -1) -> view(x, [2, -1])
        named = {}
        for i, v in enumerate(pos):
            named[names[i] if i < len(names) else f"arg{i}"] = ref(v)
        for k, v in n.kwargs.items():
            named[k] = ref(v)
        if op in ("add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_") and not isinstance(values.get(getattr(pos[0], "name", "")), torch.Tensor):
            raise Unsupported(f"scalar {fname} tensor")
        emit(n, op, named, stack)
    return nodes, inputs, outputs, shapes


def _pair(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def _functional(torch: Any, fname: str, n: Any, ref: Any) -> tuple[str, dict[str, Any]]:
    import inspect

    import torch.nn.functional as F

    if fname == "avg_pool2d":  # a builtin: no signature to bind
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        a = dict(zip(names, n.args))
        a.update(n.kwargs)
        out = {"self": ref(a["input"]), "kernel_size": _pair(a["kernel_size"])}
        stride = a.get("stride")
        out["stride"] = _pair(stride) if stride not in (None, []) else []
        for k in ("padding", "ceil_mode", "count_include_pad", "divisor_override"):
            if k in a:
                out[k] = _pair(a[k]) if k == "padding" else a[k]
        return "avg_pool2d", out
    fn = getattr(F, fname, None)
    if fn is None:
        raise Unsupported(f"F.{fname}")
    if fname == "max_pool2d":  # a boolean dispatch: its signature is the plain variant's
        fn = getattr(F, "_max_pool2d", fn)
    try:
        bound = inspect.signature(fn).bind(*n.args, **n.kwargs)
    except (TypeError, ValueError):  # a builtin without a signature, or arguments that do not bind
        raise Unsupported(f"F.{fname} arguments") from None
    bound.apply_defaults()
    a = bound.arguments
    x = ref(a.get("input"))
    if fname in ("relu", "silu", "hardswish", "hardsigmoid", "mish"):
        return (fname + ("_" if a.get("inplace") else "")), {"self": x}
    if fname == "dropout":
        return ("dropout_" if a.get("inplace") else "dropout"), {"input": x, "p": a["p"], "train": a["training"]}
    if fname == "adaptive_avg_pool2d":
        size = ref(a["output_size"])
        if isinstance(size, int):
            size = [size, size]
        if not isinstance(size, list) or any(s is None for s in size):
            raise Unsupported("adaptive pool size")
        return "adaptive_avg_pool2d", {"self": x, "output_size": size}
    if fname == "linear":
        return "linear", {"input": x, "weight": ref(a["weight"]), "bias": ref(a["bias"])}
    if fname == "max_pool2d" and not a.get("return_indices"):
        stride = a.get("stride")
        return "max_pool2d", {"self": x, "kernel_size": _pair(a["kernel_size"]),
                              "stride": _pair(stride) if stride not in (None, []) else [],
                              "padding": _pair(a["padding"]), "dilation": _pair(a["dilation"]), "ceil_mode": a["ceil_mode"]}
    if fname == "layer_norm":
        return "layer_norm", {"input": x, "normalized_shape": list(a["normalized_shape"]), "weight": ref(a["weight"]),
                              "bias": ref(a["bias"]), "eps": a["eps"], "cudnn_enable": bool(torch.backends.cudnn.enabled)}
    if fname in ("softmax", "log_softmax") and a.get("dim") is not None and a.get("dtype") is None:
        return fname, {"self": x, "dim": a["dim"]}
    raise Unsupported(f"F.{fname}")


def _param(shapes: dict[str, Shape | None], path: str, t: Any, attr: str) -> TRef | None:
    """A weight or buffer, named as export names its placeholder (``p_fc_weight``, ``b_bn_running_mean``)."""
    if t is None:
        return None
    import torch

    qual = f"{path}.{attr}" if path else attr
    is_param = isinstance(t, torch.nn.Parameter)
    key = (("p_" if is_param else "b_") + qual.replace(".", "_")).lower()
    shapes[key] = tuple(int(d) for d in t.shape)
    reg = getattr(shapes, "placeholders", None)
    if reg is not None:
        reg[key] = (qual, "param" if is_param else "buffer")
    return TRef(key)


def _module_call(torch: Any, mod: Any, kind: str, path: str, x: Any, xv: Any, shapes: dict[str, Shape | None]) -> tuple[list[str], str, dict[str, Any]] | None:
    """(buffer-update ops export records first, the ATen op, its named args) for a leaf module."""
    def p(attr: str) -> TRef | None:
        return _param(shapes, path, getattr(mod, attr, None), attr)

    nd = xv.dim() if hasattr(xv, "dim") else 0
    if kind == "conv":
        if mod.padding_mode != "zeros":
            raise Unsupported("padded convolution mode")
        rank = len(mod.kernel_size)
        op = f"conv{rank}d"
        pad = mod.padding if isinstance(mod.padding, str) else list(mod.padding)
        return [], op, {"input": x, "weight": p("weight"), "bias": p("bias"), "stride": list(mod.stride),
                        "padding": pad, "dilation": list(mod.dilation), "groups": mod.groups}
    if kind == "convt":
        if mod.padding_mode != "zeros":
            raise Unsupported("padded convolution mode")
        rank = len(mod.kernel_size)
        return [], f"conv_transpose{rank}d", {
            "input": x, "weight": p("weight"), "bias": p("bias"), "stride": list(mod.stride), "padding": list(mod.padding),
            "output_padding": list(mod.output_padding), "groups": mod.groups, "dilation": list(mod.dilation)}
    if kind == "linear":
        return [], "linear", {"input": x, "weight": p("weight"), "bias": p("bias")}
    if kind == "bn":
        if mod.momentum is None or not mod.training:
            raise Unsupported("batch norm with cumulative averaging or in eval mode")
        pre = ["add_"] if mod.track_running_stats and mod.num_batches_tracked is not None else []
        return pre, "batch_norm", {
            "input": x, "weight": p("weight"), "bias": p("bias"), "running_mean": p("running_mean"),
            "running_var": p("running_var"), "training": True, "momentum": mod.momentum, "eps": mod.eps,
            "cudnn_enabled": bool(torch.backends.cudnn.enabled)}
    if kind == "layer_norm":
        return [], "layer_norm", {"input": x, "normalized_shape": list(mod.normalized_shape), "weight": p("weight"),
                                  "bias": p("bias"), "eps": mod.eps, "cudnn_enable": bool(torch.backends.cudnn.enabled)}
    if kind == "group_norm":
        return [], "group_norm", {"input": x, "num_groups": mod.num_groups, "weight": p("weight"), "bias": p("bias"),
                                  "eps": mod.eps, "cudnn_enabled": bool(torch.backends.cudnn.enabled)}
    if kind in ("dropout", "alpha_dropout", "feature_alpha_dropout"):
        if mod.inplace:
            raise Unsupported("in-place dropout")
        return [], kind, {"input": x, "p": mod.p, "train": mod.training}
    if kind == "feature_dropout":
        want = {"Dropout1d": 3, "Dropout2d": 4, "Dropout3d": 5}[type(mod).__name__]
        if mod.inplace or nd != want:
            raise Unsupported("unbatched or in-place channel dropout")
        return [], "feature_dropout", {"input": x, "p": mod.p, "train": mod.training}
    if kind.startswith("inplace:"):
        op = kind.split(":", 1)[1]
        return [], op + ("_" if getattr(mod, "inplace", False) else ""), {"self": x}
    if kind.startswith("plain:"):
        return [], kind.split(":", 1)[1], {"self": x}
    if kind == "relu6":
        return [], "hardtanh_" if mod.inplace else "hardtanh", {"self": x, "min_val": 0.0, "max_val": 6.0}
    if kind == "gelu":
        return [], "gelu", {"self": x, "approximate": mod.approximate}
    if kind == "softmax":
        if mod.dim is None:
            raise Unsupported("softmax without dim")
        return [], "softmax", {"self": x, "dim": mod.dim}
    rank = nd - 2
    if kind == "max_pool":
        if mod.return_indices:
            raise Unsupported("max pool with indices")
        def tup(v: Any) -> list[int]:
            return list(v) if isinstance(v, (tuple, list)) else [v] * max(rank, 1)
        return [], f"max_pool{rank}d", {"self": x, "kernel_size": tup(mod.kernel_size), "stride": tup(mod.stride),
                                       "padding": tup(mod.padding), "dilation": tup(mod.dilation), "ceil_mode": mod.ceil_mode}
    if kind == "avg_pool":
        if rank != 2:
            raise Unsupported("1-d/3-d average pool")
        def tup2(v: Any) -> list[int]:
            return list(v) if isinstance(v, (tuple, list)) else [v, v]
        return [], "avg_pool2d", {"self": x, "kernel_size": tup2(mod.kernel_size), "stride": tup2(mod.stride),
                                  "padding": tup2(mod.padding), "ceil_mode": mod.ceil_mode,
                                  "count_include_pad": mod.count_include_pad, "divisor_override": mod.divisor_override}
    if kind == "adaptive_avg":
        size = mod.output_size
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * max(rank, 1)
        if any(s is None for s in sizes):
            raise Unsupported("adaptive pool with a None size")
        return [], f"adaptive_avg_pool{rank}d", {"self": x, "output_size": sizes}
    if kind == "flatten":
        return [], "flatten", {"self": x, "start_dim": mod.start_dim, "end_dim": mod.end_dim}
    if kind == "identity":
        return None
    raise Unsupported(type(mod).__name__)


def _shape_of(torch: Any, v: Any) -> Shape | None:
    return tuple(int(d) for d in v.shape) if isinstance(v, torch.Tensor) else None


def _concrete(torch: Any, v: Any) -> Any:
    if isinstance(v, torch.Size):
        return [int(d) for d in v]
    if isinstance(v, (tuple, list)):
        return [_concrete(torch, x) for x in v]
    if isinstance(v, (int, float, bool)) or v is None:
        return v
    raise Unsupported(f"a {type(v).__name__} argument")


def _window(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _leaf_shape(nn: Any, mod: Any, x: list[int]) -> list[int] | None:
    """The output shape of a convolution, dense or pooling leaf (their meta
    kernels are Python references that import ``torch._dynamo``); ``None``
    for anything else (it runs on the meta device)."""
    def tup(v: Any, n: int) -> list[int]:
        return list(v) if isinstance(v, (tuple, list)) else [v] * n

    if type(mod) is nn.Linear:
        return [*x[:-1], mod.out_features] if x and x[-1] == mod.in_features else None
    if type(mod) in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        n = len(mod.kernel_size)
        if len(x) != n + 2 or x[1] != mod.in_channels:
            return None
        if mod.padding == "same":
            return [x[0], mod.out_channels, *x[2:]]
        pad = [0] * n if mod.padding == "valid" else list(mod.padding)
        return [x[0], mod.out_channels, *(_window(x[2 + i], mod.kernel_size[i], mod.stride[i], pad[i], mod.dilation[i], False) for i in range(n))]
    if type(mod) in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d):
        n = int(type(mod).__name__[-2])
        if len(x) not in (n + 1, n + 2):
            return None
        k, st, p = tup(mod.kernel_size, n), tup(mod.stride, n), tup(mod.padding, n)
        d = tup(getattr(mod, "dilation", 1), n)
        return [*x[:-n], *(_window(x[-n + i], k[i], st[i], p[i], d[i], mod.ceil_mode) for i in range(n))]
    return None


def _broadcast(torch: Any, a: Any, b: Any) -> Any:
    """``a op b`` on meta tensors, by shape: torch's meta kernels for element-wise
    ops are Python references whose first call imports ``torch._dynamo``."""
    ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
    if not ta and not tb:
        raise Unsupported("arithmetic without tensors")
    if ta and tb and a.dtype != b.dtype:
        raise Unsupported("mixed dtypes")
    sa = list(a.shape) if ta else []
    sb = list(b.shape) if tb else []
    n = max(len(sa), len(sb))
    sa, sb = [1] * (n - len(sa)) + sa, [1] * (n - len(sb)) + sb
    out = []
    for x, y in zip(sa, sb):
        if x != y and 1 not in (x, y):
            raise Unsupported(f"shapes {sa} and {sb} do not broadcast")
        out.append(max(x, y) if 1 in (x, y) else x)
    ref = a if ta else b
    return torch.empty(out, dtype=ref.dtype, device="meta")


def _propagate(torch: Any, gm: Any, model: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    """Run the traced graph on the meta device and keep every node's value."""
    import torch.fx
    from torch.nn.utils.stateless import _reparametrize_module

    state = {k: v if v.is_meta else v.to("meta") for k, v in
             [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]}
    meta_args = tuple(a if a.is_meta else a.to("meta") for a in args)
    values: dict[str, Any] = {}

    from torch import nn

    binary = {operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub,
              operator.imul, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div}
    adaptive = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
    same_shape = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.dropout._DropoutNd)

    class Keep(torch.fx.Interpreter):
        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            mod = self.fetch_attr(target)
            if isinstance(mod, same_shape) and len(args) == 1 and isinstance(args[0], torch.Tensor) and not kwargs:
                # the shape is the input's; their meta kernels are Python references that import torch._dynamo
                return torch.empty_like(args[0])
            if len(args) == 1 and isinstance(args[0], torch.Tensor) and not kwargs:
                shape = _leaf_shape(nn, mod, list(args[0].shape))
                if shape is not None:
                    return torch.empty(shape, dtype=args[0].dtype, device="meta")
            if isinstance(mod, adaptive) and len(args) == 1 and isinstance(args[0], torch.Tensor) and not kwargs:
                x = args[0]
                rank = int(type(mod).__name__[-2])
                size = mod.output_size if isinstance(mod.output_size, (tuple, list)) else [mod.output_size] * rank
                tail = [x.shape[-rank + i] if s is None else s for i, s in enumerate(size)]
                return torch.empty([*x.shape[:-rank], *tail], dtype=x.dtype, device="meta")
            return super().call_module(target, args, kwargs)

        def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
            if target in binary and len(args) == 2 and not kwargs:
                return _broadcast(torch, *args)
            return super().call_function(target, args, kwargs)

        def call_method(self, target: Any, args: Any, kwargs: Any) -> Any:
            if target in ("add", "sub", "mul", "div") and len(args) == 2 and not kwargs:
                return _broadcast(torch, *args)
            return super().call_method(target, args, kwargs)

        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            values[n.name] = out
            return out

    try:
        with _reparametrize_module(gm, state), torch.no_grad():
            Keep(gm).run(*meta_args)
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001 - meta kernels missing, data-dependent values
        raise Unsupported(f"meta shape propagation: {type(e).__name__}: {e}") from None
    return values
