"""PyTorch frontend: a live ``nn.Module`` from a factory spec into the common graph.

``pkg.module:make_model`` or ``path/file.py:Net``: the module is imported, the
attribute called (``--arg`` values as arguments; a class is instantiated) and
the module captured with ``torch.export`` (``strict=False``) in training
mode, so dropout and batch norm stay in the graph and nothing is folded or
decomposed. When export fails, ``torch.fx.symbolic_trace`` is tried. The
captured ATen ops are mapped by :mod:`archlint.frontends._aten`, the same
table the ``.pt2`` frontend uses. torch is imported only here.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import logging
import operator
import os
import sys
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, MissingExtraError
from archlint.frontends import LoadOptions
from archlint.frontends._aten import ANode, Shape, TRef, build
from archlint.graph import Graph

DEFAULT_INPUT_SHAPE = (1, 3, 32, 32)


def _import_torch(target: str) -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtraError(target, "PyTorch modules", "torch") from None
    return torch


def parse_arg(text: str) -> tuple[str | None, Any]:
    """``"name=value"`` -> (name, value); ``"value"`` -> (None, value).
    Values are Python literals when they parse, else strings."""
    name = None
    if "=" in text:
        k, v = text.split("=", 1)
        if k.isidentifier():
            name, text = k, v
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    return name, value


def _import_target(spec: str) -> tuple[Any, str]:
    """(module, attribute path) for ``pkg.mod:attr`` or ``file.py:attr``."""
    mod_part, attr = spec.rsplit(":", 1)
    try:
        if mod_part.endswith(".py"):
            path = Path(mod_part)
            if not path.is_file():
                raise LoadError(spec, f"no such file {mod_part!r}")
            mod_name = f"_archlint_user_{path.stem}_{abs(hash(str(path.resolve())))}"
            ispec = importlib.util.spec_from_file_location(mod_name, path)
            if ispec is None or ispec.loader is None:
                raise LoadError(spec, f"cannot import {mod_part!r}")
            module = importlib.util.module_from_spec(ispec)
            sys.modules[mod_name] = module
            parent = str(path.resolve().parent)
            added = parent not in sys.path
            if added:
                sys.path.insert(0, parent)
            try:
                ispec.loader.exec_module(module)
            finally:
                if added:
                    sys.path.remove(parent)
        else:
            cwd = os.getcwd()
            if cwd not in sys.path:
                sys.path.insert(0, cwd)
            module = importlib.import_module(mod_part)
    except LoadError:
        raise
    except ModuleNotFoundError as e:
        raise LoadError(spec, f"module failed to import: {e}") from None
    except Exception as e:  # noqa: BLE001 - user code: any error is a load error
        raise LoadError(spec, f"module failed to import ({type(e).__name__}: {e})") from None
    return module, attr


def make_module(spec: str, options: LoadOptions) -> Any:
    """Import the spec, call the factory (or instantiate the class) and
    return the ``nn.Module``; raise :class:`LoadError` with the reason."""
    torch = _import_torch(spec)
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()  # torchvision's models import even where its compiled ops do not load
    module, attr = _import_target(spec)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise LoadError(spec, f"{module.__name__ if obj is module else part!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in options.args:
        k, v = parse_arg(text)
        if k is None:
            args.append(v)
        else:
            kwargs[k] = v
    if isinstance(obj, torch.nn.Module):
        if args or kwargs:
            raise LoadError(spec, f"{attr!r} is a module instance; --arg values need a factory or class")
        result = obj
    elif callable(obj):
        try:
            result = obj(*args, **kwargs)
            if isinstance(result, type) and issubclass(result, torch.nn.Module):
                result = result()
        except Exception as e:  # noqa: BLE001 - user code
            raise LoadError(spec, f"factory {attr!r} raised {type(e).__name__}: {e}") from None
    else:
        raise LoadError(spec, f"{attr!r} is a {type(obj).__name__}, not a factory or nn.Module")
    if not isinstance(result, torch.nn.Module):
        raise LoadError(spec, f"{attr!r} returned a {type(result).__name__}, not a torch.nn.Module")
    return result


def load(target: str, options: LoadOptions) -> Graph:
    """Build, capture and map the module named by a factory spec."""
    model = make_module(target, options)
    shape = tuple(options.input_shape) if options.input_shape else DEFAULT_INPUT_SHAPE
    graph = from_module(model, shape, name=target.rsplit(":", 1)[-1], spec=target)
    if not options.input_shape:
        graph.meta.setdefault("notes", []).append(
            f"assumed input shape {'x'.join(map(str, shape))} (pass --input-shape to set it)"
        )
    return graph


def from_module(model: Any, input_shape: tuple[int, ...], name: str = "model", spec: str | None = None) -> Graph:
    """Capture ``model`` in training mode and map it to a :class:`Graph`."""
    torch = _import_torch(spec or name)
    model.train()
    x = torch.randn(*input_shape)
    errors: list[str] = []
    try:
        with _quiet():
            ep = torch.export.export(model, (x,), strict=False)
    except Exception as e:  # noqa: BLE001 - fall back to fx
        errors.append(f"torch.export: {type(e).__name__}: {_first_line(e)}")
    else:
        graph = from_exported(ep, name)
        graph.meta["capture"] = "torch.export"
        return graph
    try:
        with _quiet():
            graph = _from_fx(model, x, name)
    except Exception as e:  # noqa: BLE001
        errors.append(f"torch.fx: {type(e).__name__}: {_first_line(e)}")
        shape = "x".join(map(str, input_shape))
        raise LoadError(
            spec or name,
            f"the module failed to trace with input shape {shape} ({'; '.join(errors)}); "
            "if the model expects another input, pass --input-shape (e.g. --input-shape 1x3x224x224)",
        ) from None
    graph.meta["capture"] = "torch.fx"
    graph.meta["export_error"] = errors[0]
    return graph


@contextlib.contextmanager
def _quiet() -> Any:
    """Keep torch's log records and printed tracebacks off the user's stderr:
    a failed capture is reported once, as a load error."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def _shape(val: Any) -> Shape | None:
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    out: list[int | None] = []
    for d in shape:
        try:
            out.append(int(d))
        except (TypeError, ValueError, RuntimeError):
            out.append(None)
    return tuple(out)


def _module_stack(meta: dict[str, Any]) -> list[tuple[str, str]]:
    stack = meta.get("nn_module_stack") or {}
    out = []
    for path, cls in stack.values():
        cls_name = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        out.append((_clean_path(str(path)), cls_name))
    return out


def _clean_path(path: str) -> str:
    """``L['self'].features[0]`` style paths -> ``features.0``."""
    if "L[" not in path and "[" not in path:
        return path
    import re

    p = re.sub(r"^L\['self'\]\.?", "", path)
    p = re.sub(r"\[(\d+)\]", r".\1", p)
    p = re.sub(r"getattr\((.*?), '([^']+)'\)", r"\1.\2", p)
    return p.strip(".")


def _arg_value(v: Any) -> Any:
    import torch.fx

    if isinstance(v, torch.fx.Node):
        return TRef(v.name)
    if isinstance(v, (list, tuple)):
        return [_arg_value(x) for x in v]
    if isinstance(v, (int, float, bool, str)) or v is None:
        return v
    try:
        return int(v)
    except (TypeError, ValueError, RuntimeError):
        return str(v)


def _named_args(node: Any) -> dict[str, Any]:
    schema = getattr(node.target, "_schema", None)
    names = [a.name for a in schema.arguments] if schema is not None else []
    out: dict[str, Any] = {}
    for i, v in enumerate(node.args):
        out[names[i] if i < len(names) else f"arg{i}"] = _arg_value(v)
    for k, v in node.kwargs.items():
        out[k] = _arg_value(v)
    return out


def _target_name(target: Any) -> str:
    """``aten.conv2d.default`` for ATen overloads, ``getitem`` for tuple picks."""
    if target is operator.getitem:
        return "getitem"
    if hasattr(target, "_schema"):  # an OpOverload prints as aten.conv2d.default
        return str(target)
    return getattr(target, "__name__", str(target))


def from_exported(ep: Any, name: str = "model") -> Graph:
    """Map a live ``torch.export.ExportedProgram``."""
    sig = ep.graph_signature
    shapes: dict[str, Shape | None] = {}
    nodes: list[ANode] = []
    outputs: list[str] = []
    for n in ep.graph.nodes:
        val = n.meta.get("val")
        if isinstance(val, (list, tuple)):
            shapes[n.name] = None
        else:
            shapes[n.name] = _shape(val)
        if n.op == "call_function":
            is_tensor = shapes[n.name] is not None or isinstance(val, (list, tuple))
            nodes.append(
                ANode(
                    name=n.name,
                    target=_target_name(n.target),
                    args=_named_args(n),
                    outputs=[n.name] if is_tensor else [],
                    module_stack=_module_stack(n.meta),
                    stack_trace=n.meta.get("stack_trace"),
                )
            )
        elif n.op == "output":
            outputs = [a.name for a in n.args[0] if hasattr(a, "name")]
    user_outputs = set(sig.user_outputs)
    return build(name, "torch", nodes, list(sig.user_inputs), [o for o in outputs if o in user_outputs], shapes)


# -- torch.fx fallback: modules become the ATen calls they stand for -------------

_FX_FUNCS = {
    "relu": "aten.relu", "relu6": "aten.relu6", "gelu": "aten.gelu", "silu": "aten.silu", "sigmoid": "aten.sigmoid",
    "tanh": "aten.tanh", "softmax": "aten.softmax", "log_softmax": "aten.log_softmax", "elu": "aten.elu",
    "leaky_relu": "aten.leaky_relu", "hardswish": "aten.hardswish", "mish": "aten.mish",
    "dropout": "aten.dropout", "dropout1d": "aten.feature_dropout", "dropout2d": "aten.feature_dropout",
    "dropout3d": "aten.feature_dropout", "alpha_dropout": "aten.alpha_dropout",
    "flatten": "aten.flatten", "view": "aten.view", "reshape": "aten.reshape", "mean": "aten.mean",
    "add": "aten.add", "iadd": "aten.add", "mul": "aten.mul", "imul": "aten.mul", "cat": "aten.cat",
    "concat": "aten.cat", "adaptive_avg_pool2d": "aten.adaptive_avg_pool2d",
    "adaptive_max_pool2d": "aten.adaptive_max_pool2d", "max_pool2d": "aten.max_pool2d",
    "avg_pool2d": "aten.avg_pool2d", "getitem": "getitem", "sub": "aten.sub", "truediv": "aten.div",
}
_FX_ARGNAMES = {
    "aten.flatten": ["input", "start_dim", "end_dim"],
    "aten.view": ["input", "size"],
    "aten.reshape": ["input", "size"],
    "aten.mean": ["input", "dim", "keepdim"],
    "aten.softmax": ["input", "dim"],
    "aten.log_softmax": ["input", "dim"],
    "aten.dropout": ["input", "p", "train"],
    "aten.feature_dropout": ["input", "p", "train"],
    "aten.alpha_dropout": ["input", "p", "train"],
    "aten.cat": ["tensors", "dim"],
    "aten.adaptive_avg_pool2d": ["input", "output_size"],
    "aten.adaptive_max_pool2d": ["input", "output_size"],
}


def _fx_module_call(mod: Any, path: str, x: TRef, shapes: dict[str, Shape | None]) -> tuple[str, dict[str, Any]]:
    """The ATen target and named args a leaf module stands for."""
    from torch import nn

    def param(p: str) -> TRef | None:
        t = getattr(mod, p, None)
        if t is None:
            return None
        shapes[f"{path}.{p}"] = tuple(t.shape)
        return TRef(f"{path}.{p}")

    if isinstance(mod, nn.modules.conv._ConvNd):
        return "aten.convolution", {
            "input": x, "weight": param("weight"), "bias": param("bias"), "stride": list(mod.stride),
            "padding": mod.padding if isinstance(mod.padding, str) else list(mod.padding),
            "dilation": list(mod.dilation), "transposed": mod.transposed, "groups": mod.groups,
        }
    if isinstance(mod, nn.Linear):
        return "aten.linear", {"input": x, "weight": param("weight"), "bias": param("bias")}
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        return "aten.batch_norm", {"input": x, "weight": param("weight"), "bias": param("bias"),
                                   "running_mean": param("running_mean"), "training": True,
                                   "momentum": mod.momentum, "eps": mod.eps}
    norms = ((nn.LayerNorm, "aten.layer_norm"), (nn.GroupNorm, "aten.group_norm"),
             (nn.modules.instancenorm._InstanceNorm, "aten.instance_norm"))
    for cls, tgt in norms:
        if isinstance(mod, cls):
            return tgt, {"input": x, "weight": param("weight"), "bias": param("bias")}
    drops = ((nn.Dropout1d, "aten.feature_dropout"), (nn.Dropout2d, "aten.feature_dropout"),
             (nn.Dropout3d, "aten.feature_dropout"), (nn.FeatureAlphaDropout, "aten.feature_alpha_dropout"),
             (nn.AlphaDropout, "aten.alpha_dropout"), (nn.Dropout, "aten.dropout"))
    for cls, tgt in drops:
        if isinstance(mod, cls):
            return tgt, {"input": x, "p": mod.p, "train": True}
    acts = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu", nn.PReLU: "prelu", nn.GELU: "gelu",
            nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softmax: "softmax", nn.ELU: "elu",
            nn.Hardswish: "hardswish", nn.Mish: "mish", nn.LogSoftmax: "log_softmax"}
    for cls, op in acts.items():
        if type(mod) is cls:
            args: dict[str, Any] = {"input": x}
            if op == "prelu":
                args["weight"] = param("weight")
            if op in ("softmax", "log_softmax"):
                args["dim"] = mod.dim
            return f"aten.{op}", args
    if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        kind = "max" if "Max" in type(mod).__name__ else "avg"
        nd = type(mod).__name__[-2]
        return f"aten.{kind}_pool{nd}d", {"input": x, "kernel_size": mod.kernel_size, "stride": mod.stride,
                                          "padding": mod.padding, "dilation": getattr(mod, "dilation", 1)}
    if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        name = type(mod).__name__
        kind = "avg" if "Avg" in name else "max"
        return f"aten.adaptive_{kind}_pool{name[-2]}d", {"input": x, "output_size": mod.output_size}
    if isinstance(mod, nn.Flatten):
        return "aten.flatten", {"input": x, "start_dim": mod.start_dim, "end_dim": mod.end_dim}
    if isinstance(mod, nn.Identity):
        return "aten.clone", {"input": x}
    return f"module.{type(mod).__name__}", {"input": x}


def _from_fx(model: Any, x: Any, name: str) -> Graph:
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(x)
    shapes: dict[str, Shape | None] = {}
    nodes: list[ANode] = []
    inputs: list[str] = []
    outputs: list[str] = []
    modules = dict(gm.named_modules())
    for n in gm.graph.nodes:
        tm = n.meta.get("tensor_meta")
        shapes[n.name] = tuple(int(d) for d in tm.shape) if hasattr(tm, "shape") else None
        trace = n.meta.get("stack_trace")
        if n.op == "placeholder":
            inputs.append(n.name)
            continue
        if n.op == "output":
            res = n.args[0] if isinstance(n.args[0], (list, tuple)) else [n.args[0]]
            outputs = [a.name for a in res if isinstance(a, torch.fx.Node)]
            continue
        if n.op == "get_attr":
            continue
        outs = [n.name] if shapes[n.name] is not None or n.target is operator.getitem else []
        if n.op == "call_module":
            src = n.args[0] if n.args else None
            ref = TRef(src.name) if isinstance(src, torch.fx.Node) else None
            target, args = _fx_module_call(modules[n.target], str(n.target), ref, shapes)  # type: ignore[arg-type]
            stack = [(str(n.target), f"{type(modules[n.target]).__module__}.{type(modules[n.target]).__name__}")]
        else:
            fname = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
            target = _FX_FUNCS.get(fname, f"fx.{fname}")
            names = _FX_ARGNAMES.get(target, [])
            args = {}
            for i, v in enumerate(n.args):
                args[names[i] if i < len(names) else f"arg{i}"] = _arg_value(v)
            for k, v in n.kwargs.items():
                args[k] = _arg_value(v)
            if fname in ("size", "dim", "numel"):
                outs = []
            stack = []
        nodes.append(ANode(n.name, target, args, outs, stack, trace))
    return build(name, "torch", nodes, inputs, outputs, shapes)
