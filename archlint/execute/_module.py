"""The executor: :class:`GraphModule` runs a :class:`~archlint.graph.Graph` (imports torch)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from archlint.errors import ExecutionError
from archlint.execute.spec import MODE, Call, Fused, Impl, In, T, TrainOnly, V, W, leaves
from archlint.graph import Graph, Node, OpKind

_DTYPE_ARGS = ("dtype", "layout", "memory_format")


def as_tensor(x: Any) -> torch.Tensor:
    """A fresh tensor from a numpy array, a torch tensor or a number (a copy:
    training the executed module never changes the source model)."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    import numpy as np

    a = np.array(x, copy=True, order="C")  # (not ascontiguousarray: it makes a 0-d index 1-d)
    if a.dtype == np.float64 and not isinstance(x, np.ndarray):
        a = a.astype(np.float32)
    if a.dtype.kind == "U" or a.dtype.kind == "O":
        raise TypeError(f"a {a.dtype} array is not a tensor")
    return torch.from_numpy(a)


def _impl_nodes(node: Node) -> list[Node]:
    """The node, or the members a fused node runs (recursively)."""
    if isinstance(node.impl, Fused):
        return [x for m in node.impl.members for x in _impl_nodes(m)]
    return [node]


class GraphModule(nn.Module):
    """A graph as a module: ``forward(*inputs, **named_inputs)`` returns the
    graph's output (a tuple when it has several)."""

    def __init__(self, graph: Graph, weights: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_graph", graph)
        self._by_name = {v.name: v for n in graph.nodes for v in (*n.outputs, *n.inputs)}
        for n in graph.nodes:
            for m in _impl_nodes(n):
                for v in (*m.inputs, *m.outputs):
                    self._by_name.setdefault(v.name, v)
        table = graph.meta.get("weights")
        self._slots: dict[str, tuple[nn.Module, str]] = {}
        self._runners: dict[int, Any] = {}
        self.kind_modules = nn.ModuleDict()
        self._channels_last = graph.format == "keras"
        users: dict[str, tuple[Node, Call]] = {}
        for node in graph.nodes:
            if node.kind in (OpKind.INPUT, OpKind.OUTPUT):
                continue
            for m in _impl_nodes(node):
                if m.impl is None:
                    self._kind_module(m)
                    continue
                if not isinstance(m.impl, Impl):
                    raise ExecutionError(m.name, m.op_type, f"unknown impl {type(m.impl).__name__}")
                for c in m.impl.calls:
                    self._runners[id(c)] = self._resolve(m, c)
                    for leaf in leaves(c.args):
                        if isinstance(leaf, W):
                            users.setdefault(leaf.name, (m, c))
        if users:
            self._load_weights(users, table, weights)

    # -- building ---------------------------------------------------------
    def _resolve(self, node: Node, call: Call) -> Any:
        if call.domain == "aten":
            from archlint.execute._aten_ops import resolve

            fn = resolve(call.op)
        elif call.domain == "onnx":
            from archlint.execute._onnx_ops import resolve

            fn = resolve(call.op, call.args)
        elif call.domain == "keras":
            from archlint.execute._keras_layers import resolve

            fn = resolve(call.op, call.args)
        else:
            fn = None
        if fn is None:
            raise ExecutionError(node.name, f"{call.domain}:{call.op}", "no implementation for this op")
        return fn

    def _kind_module(self, node: Node) -> None:
        from archlint.execute._kinds import build

        try:
            mod = build(node, channels_last=self._channels_last)
        except ExecutionError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure is the node's
            raise ExecutionError(node.name, f"{node.kind.value}:{node.op_type}", f"{type(e).__name__}: {e}") from None
        if mod is None:
            raise ExecutionError(node.name, f"{node.kind.value}:{node.op_type}",
                                 "no recorded op and no builder for this kind")
        self.kind_modules[_key(node.name, len(self.kind_modules))] = mod
        self._runners[id(node)] = mod

    def _load_weights(self, users: dict[str, tuple[Node, Call]], table: Any, given: Mapping[str, Any] | None) -> None:
        tensors: Mapping[str, Any] = given if given is not None else (table.tensors() if table is not None else {})
        by_key: dict[str, tuple[nn.Module, str]] = {}
        for name in users:
            ref = table.get(name) if table is not None else None
            key = ref.key if ref is not None else name
            if key in by_key:
                self._slots[name] = by_key[key]
                continue
            src = tensors.get(key)
            if src is None:
                src = tensors.get(name)
            if src is None:
                node, call = users[name]
                why = " (the file holds no weights at all: a config-only save)" if not tensors else ""
                raise ExecutionError(node.name, f"{call.domain}:{call.op}", f"weight {name!r} is not in the file{why}")
            try:
                t = as_tensor(src)
            except (TypeError, ValueError) as e:
                node, call = users[name]
                raise ExecutionError(node.name, f"{call.domain}:{call.op}", f"weight {name!r}: {e}") from None
            role = ref.role if ref is not None else "param"
            owner, attr = self._owner(key)
            if role in ("param", "frozen") and (t.is_floating_point() or t.is_complex()):
                owner.register_parameter(attr, nn.Parameter(t, requires_grad=role == "param"))
            else:
                owner.register_buffer(attr, t)
            by_key[key] = self._slots[name] = (owner, attr)

    def _owner(self, key: str) -> tuple[nn.Module, str]:
        """The (container, attribute) a weight lives at: nested by the dots of
        its key, so a torch model's state_dict keys are the original's."""
        parts = [p for p in key.split(".")]
        if any(not p for p in parts):
            parts = [key.replace(".", "_") or "_"]
        mod: nn.Module = self
        for i, p in enumerate(parts[:-1]):
            child = mod._modules.get(p)
            if child is None:
                if p in mod.__dict__ or p in mod._parameters or p in mod._buffers or hasattr(type(mod), p):
                    return self._flat(key)
                child = nn.Module()
                mod.add_module(p, child)
            mod = child
        last = parts[-1]
        if last in mod._modules or last in mod._parameters or last in mod._buffers or hasattr(type(mod), last) or last in mod.__dict__:
            return self._flat(key)
        return mod, last

    def _flat(self, key: str) -> tuple[nn.Module, str]:
        attr = "w_" + key.replace(".", "_")
        while attr in self._parameters or attr in self._buffers or attr in self._modules:
            attr += "_"
        return self, attr

    def weight(self, name: str) -> torch.Tensor:
        owner, attr = self._slots[name]
        return getattr(owner, attr)

    # -- running ----------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        g = self._graph
        env: dict[Any, Any] = {}
        for i, v in enumerate(g.inputs):
            if i < len(args):
                env[id(v)] = args[i]
            elif v.name in kwargs:
                env[id(v)] = kwargs[v.name]
            else:
                raise TypeError(f"missing input {v.name!r} (the graph takes {', '.join(x.name for x in g.inputs)})")
        device = next((a.device for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        for node in g.nodes:
            if node.kind in (OpKind.INPUT, OpKind.OUTPUT):
                continue
            self._run(node, env, device)
        outs = tuple(env[id(v)] for v in g.outputs)
        return outs[0] if len(outs) == 1 else outs

    def _run(self, node: Node, env: dict[int, Any], device: Any) -> None:
        impl = node.impl
        if isinstance(impl, Fused):
            for m in impl.members:
                self._run(m, env, device)
            return
        if isinstance(impl, Impl) and impl.eval_input is not None and not self.training:
            result = env[id(node.inputs[impl.eval_input])]
        elif impl is None:
            xs = [_first(env[id(v)]) for v in node.inputs]
            result = self._runners[id(node)](*xs)
        else:
            tmp: dict[str, Any] = {}
            result = None
            for c in impl.calls:
                args = self._args(c.args, node, env, tmp, device)
                try:
                    result = self._runners[id(c)](args, self)
                except ExecutionError:
                    raise
                except Exception as e:
                    raise ExecutionError(node.name, f"{c.domain}:{c.op}", f"{type(e).__name__}: {_line(e)}") from e
                if c.out:
                    tmp[c.out] = result
                    env[c.out] = result  # by name too: shape arithmetic elsewhere may read it (V)
        if len(node.outputs) == 1:
            env[id(node.outputs[0])] = result
        else:
            for i, v in enumerate(node.outputs):
                env[id(v)] = result[i] if isinstance(result, (tuple, list)) and i < len(result) else None

    def _args(self, a: Any, node: Node, env: dict[int, Any], tmp: dict[str, Any], device: Any) -> Any:
        if isinstance(a, In):
            x = env[id(node.inputs[a.index])]
            for p in a.picks:
                x = x[p]
            return x
        if isinstance(a, W):
            return self.weight(a.name)
        if isinstance(a, T):
            x = tmp[a.name]
            for p in a.picks:
                x = x[p]
            return x
        if isinstance(a, V):
            v = self._by_name.get(a.name)
            x = env[id(v)] if v is not None and id(v) in env else env[a.name]
            for p in a.picks:
                x = x[p]
            return x
        if a is MODE:
            return self.training
        if isinstance(a, TrainOnly):
            return a.value if self.training else a.off
        if isinstance(a, dict):
            return {k: self._args(v, node, env, tmp, device) for k, v in a.items()}
        if isinstance(a, list):
            return [self._args(v, node, env, tmp, device) for v in a]
        if isinstance(a, tuple):
            return tuple(self._args(v, node, env, tmp, device) for v in a)
        return a


def _first(x: Any) -> Any:
    """The data tensor of a value (an ATen op that returns a tuple: its first item)."""
    while isinstance(x, (tuple, list)) and x:
        x = x[0]
    return x


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


def _key(name: str, i: int) -> str:
    k = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)[:60]
    return f"n{i}_{k}"


__all__ = ["GraphModule", "as_tensor", "operator"]
