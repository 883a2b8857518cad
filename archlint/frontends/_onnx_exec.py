"""What the ONNX frontend records so its graph runs (no torch here).

Each kept node gets an :class:`~archlint.execute.spec.Impl`: its ONNX op with
its attributes, after the constant-only and shape-only nodes it reads (the
``Shape -> Gather -> Concat -> Reshape`` arithmetic exporters write), which
the graph itself leaves out. Initialisers and ``Constant`` outputs are
weight references in a :class:`~archlint.execute.spec.WeightTable` whose
tensors are read when an executor first asks (external data included).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from archlint.execute.spec import Call, Impl, In, T, V, W, WeightRef, WeightTable
from archlint.graph import Deferred, Node

_UNRUNNABLE = {"If", "Loop", "Scan"}
_BN_STATS = {("BatchNormalization", 3), ("BatchNormalization", 4)}
_ONNX_DTYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 6: "int32", 7: "int64", 9: "bool"}


def attrs_of(n: Any) -> dict[str, Any]:
    """A node's attributes as Python values (tensors as numpy arrays)."""
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for a in n.attribute:
        try:
            v = helper.get_attribute_value(a)
        except Exception:  # noqa: BLE001 - a malformed attribute: the op will fail to run, by name
            continue
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif hasattr(v, "dims") and hasattr(v, "data_type"):
            v = numpy_helper.to_array(v)
        elif hasattr(v, "node"):  # a subgraph
            v = "<subgraph>"
        elif isinstance(v, list):
            v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
        out[a.name] = v
    return out


class Recorder:
    """Builds the impls of one ONNX graph's kept nodes, when the first is read.

    The frontend hands each graph node over with :meth:`defer`; the first read of
    any node's ``impl`` (or of the weight table) builds them all, in the order
    they were handed over, so each weight's first reader is the same as if they
    had been built at once. Until then the recorder holds positions, not the
    protobuf nodes: a graph that is only linted keeps no record per node."""

    def __init__(self, g: Any, order: Sequence[int], data_vals: set[str]) -> None:
        """``order``: positions in ``g``'s non-Constant nodes, in topological order."""
        self._g = g
        self._order = array("q", order)
        self.inits = {t.name: t for t in g.initializer}
        self.consts: dict[str, Any] = {}
        self.producer: dict[str, tuple[int, Any]] = {}
        self.data_vals = data_vals
        self.used: dict[str, tuple[str, int]] = {}  # weight name -> (op type, input index) of a reader
        self._nodes: list[Node] = []  # the graph nodes handed over, in order
        self._at: Sequence[int] = ()  # ... and their positions in the topological order
        self._adds: dict[int, Any] = {}  # index in _nodes -> the bias Add fused into that node
        self._done = False

    def defer(self, nodes: list[Node], at: Sequence[int], adds: dict[int, Any]) -> None:
        """Give each of ``nodes`` the impl of the ONNX node at topological position
        ``at[i]`` (and of ``adds[i]``, a bias Add fused into it), built when first read."""
        self._nodes, self._at, self._adds = nodes, at, adds
        Deferred(self._impl_of).attach(nodes)

    def _impl_of(self, node: Node) -> Impl | None:
        if self._done:
            return None  # not a node this recorder was handed (each of those has its impl by now)
        self._resolve()
        return node.impl

    def _resolve(self) -> None:
        if self._done:
            return
        self._done = True
        nonconst = [n for n in self._g.node if n.op_type != "Constant"]
        ordered = [nonconst[i] for i in self._order]
        self.consts = {n.output[0]: n for n in self._g.node if n.op_type == "Constant" and n.output}
        for pos, n in enumerate(ordered):
            for o in n.output:
                if o:
                    self.producer.setdefault(o, (pos, n))
        data_vals, adds = self.data_vals, self._adds
        kept = bytearray(len(ordered))  # 1 at the position of each node that became a graph node
        for pos in self._at:
            kept[pos] = 1
        for i, (node, pos) in enumerate(zip(self._nodes, self._at)):
            n = ordered[pos]
            node.impl = self.impl(n, [x for x in n.input if x and x in data_vals], kept, adds.get(i))
        self._nodes, self._at, self._adds = [], (), {}

    def impl(self, n: Any, data_in: list[str], kept: bytearray, add: Any = None) -> Impl:
        needed: dict[int, tuple[int, Any]] = {}

        def need(p: Any, pos: int) -> None:
            if id(p) in needed:
                return
            needed[id(p)] = (pos, p)
            for x in p.input:
                ref(x, p, prelude=True)

        def ref(x: str, reader: Any, prelude: bool = False, index: int = 0) -> Any:
            if not x:
                return None
            if not prelude and x in data_in:
                return In(data_in.index(x))
            if x in self.inits or x in self.consts:
                self.used.setdefault(x, (reader.op_type, index))
                return W(x)
            if x in self.data_vals and (prelude or x not in data_in):
                pp = self.producer.get(x)
                if pp is None or kept[pp[0]]:
                    return V(x)
            pp = self.producer.get(x)
            if pp is None:
                return V(x)  # a graph input
            pos, p = pp
            need(p, pos)
            outs = list(p.output)
            return T(outs[0], (outs.index(x),)) if len(outs) > 1 else T(x)

        def call(m: Any, prelude: bool = False) -> Call:
            args: dict[str, Any] = {
                "inputs": [ref(x, m, prelude, i) for i, x in enumerate(m.input)],
                "attrs": attrs_of(m),
            }
            if m.domain not in ("", "ai.onnx"):
                args["domain"] = m.domain
            if m.op_type in _UNRUNNABLE:
                args["domain"] = "subgraph"
            if m.op_type == "Split":
                args["attrs"]["_outputs"] = len(m.output)
            args["outputs"] = len(m.output)
            return Call("onnx", m.op_type, args, m.output[0] if m.output else "")

        main = call(n)
        outs = list(n.output)
        kept_outs = [i for i, o in enumerate(outs) if o]
        if len(outs) > 1 and len(kept_outs) != len(outs):
            main.args["select"] = kept_outs
        tail = [main]
        if add is not None:
            bias = Call("onnx", "Add", {"inputs": [T(x) if x == n.output[0] else ref(x, add) for x in add.input], "attrs": {}},
                        add.output[0])
            tail.append(bias)
        pre = [call(p, prelude=True) for _pos, p in sorted(needed.values(), key=lambda pp: pp[0])]
        return Impl([*pre, *tail])

    def table(self, base_dir: str | None = None) -> WeightTable:
        """The weights the impls read; filled (and the deferred impls built) when first asked."""
        inits, used = self.inits, self.used

        def load() -> dict[str, Any]:
            from onnx import numpy_helper

            from archlint.frontends._onnx_exec import attrs_of

            self._resolve()
            consts = self.consts
            out: dict[str, Any] = {}
            for name in used:
                if name in inits:
                    out[name] = numpy_helper.to_array(inits[name], base_dir or "")
                elif name in consts:
                    a = attrs_of(consts[name])
                    for k in ("value", "value_float", "value_floats", "value_int", "value_ints"):
                        if k in a:
                            out[name] = a[k]
                            break
            return out

        def fill(t: WeightTable) -> None:
            self._resolve()
            for name, (op_type, idx) in used.items():
                if name in inits:
                    ti = inits[name]
                    shape = tuple(int(d) for d in ti.dims)
                    dtype = _ONNX_DTYPES.get(ti.data_type)
                    numel = 1
                    for d in shape:
                        numel *= d
                    if (op_type, idx) in _BN_STATS:
                        role = "buffer"
                    elif dtype in ("float32", "float16", "float64", "bfloat16") and numel > 1:
                        role = "param"
                    else:
                        role = "constant"
                else:
                    shape, dtype, role = None, None, "constant"
                t.add(WeightRef(name, name, shape, dtype, role))

        return WeightTable(load, source="onnx", fill=fill)
