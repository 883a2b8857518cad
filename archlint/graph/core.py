"""The common graph every frontend produces and every rule reads.

A :class:`Graph` holds :class:`Node` objects in topological order, joined by
:class:`Value` edges (one producer, many consumers).  ``Node.kind`` is one of
the closed :class:`OpKind` set; the framework's own op type, the layer name
and, where known, the source location are kept beside it.

Edges are set only through :class:`GraphBuilder`; rules never mutate a graph.
Shapes of feature maps are canonical ``(N, C, *spatial)`` whatever the
framework's layout; ``Value.layout`` says what the axes of a value mean where
that is known (``"NCHW"``-style channel-first maps, ``"NLD"`` sequences of
feature vectors, ``"NL"`` token ids, ``"ND"`` vectors), so rules never take a
sequence for a spatial map. Shape and layout propagation live in
:mod:`archlint.graph.shapes`, which imports this module (never the other way);
the contract every frontend keeps is written in :mod:`archlint.graph`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archlint.graph.attrs import ATTRS, Attrs
from archlint.graph.kinds import GraphError, OpKind


@dataclass(frozen=True)
class SourceLocation:
    """Where a layer was written: a file and a 1-based line."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(eq=False)
class Value:
    """A tensor flowing between nodes."""

    name: str
    shape: tuple[int | None, ...] | None = None
    producer: Node | None = None
    consumers: list[Node] = field(default_factory=list)
    #: what the axes mean, when known: "NCHW" (and "NCL", "NCDHW"), "NLD", "NL", "ND"
    layout: str | None = None

    def __repr__(self) -> str:
        return f"Value({self.name!r}, shape={self.shape}, layout={self.layout})"


@dataclass(eq=False, init=False)
class Node:
    """One operation. ``layer`` is the user-facing name (Keras layer name, torch
    module path); ``op_type`` the framework's own operation name."""

    name: str
    kind: OpKind
    op_type: str
    layer: str
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    #: the kind's typed record (:mod:`archlint.graph.attrs`), a dict: a plain dict given here is converted
    attrs: Attrs = field(default_factory=dict)  # type: ignore[assignment]
    source: SourceLocation | None = None
    index: int = -1
    #: where :attr:`impl` is kept (a :class:`Deferred` until first read)
    _impl = None

    def __init__(
        self,
        name: str,
        kind: OpKind,
        op_type: str,
        layer: str,
        inputs: list[Value] | None = None,
        outputs: list[Value] | None = None,
        attrs: Mapping[str, Any] | None = None,
        source: SourceLocation | None = None,
        index: int = -1,
    ) -> None:
        # written out (not the dataclass __init__ and a __post_init__): one call per node built
        try:
            cls = ATTRS[kind]
        except (KeyError, TypeError):
            raise GraphError(f"node {name!r} has kind {kind!r} outside OpKind") from None
        self.name = name
        self.kind = kind
        self.op_type = op_type
        self.layer = layer
        self.inputs = [] if inputs is None else inputs
        self.outputs = [] if outputs is None else outputs
        self.attrs = attrs if type(attrs) is cls else cls(attrs or ())  # type: ignore[assignment]
        self.source = source
        self.index = index

    @property
    def impl(self) -> Any:
        """How to execute it (:mod:`archlint.execute.spec`): the file's own op(s) and
        weight references; a :class:`Deferred` record is computed here, on first read."""
        v = self._impl
        if type(v) is Deferred:
            v = self._impl = v.resolve(self)
        return v

    @impl.setter
    def impl(self, value: Any) -> None:
        self._impl = value

    def relabel(self, kind: OpKind, **attrs: Any) -> None:
        """Give the node another kind, its attributes carried into that kind's
        record (``attrs`` added): for passes that learn what an op is only
        once shapes are known."""
        self.attrs = ATTRS[kind]({**self.attrs, **attrs})
        self.kind = kind

    # -- navigation -------------------------------------------------------
    @property
    def output(self) -> Value:
        return self.outputs[0]

    def predecessors(self) -> list[Node]:
        """Producers of this node's data inputs, in input order, without repeats."""
        if len(self.inputs) == 1:  # the common case, without the dict (rules ask this per node, often)
            p = self.inputs[0].producer
            return [p] if p is not None else []
        seen: dict[int, Node] = {}
        for v in self.inputs:
            p = v.producer
            if p is not None:
                seen.setdefault(id(p), p)
        return list(seen.values())

    def successors(self) -> list[Node]:
        """Consumers of this node's outputs, in graph order, without repeats."""
        if len(self.outputs) == 1 and len(self.outputs[0].consumers) <= 1:  # the common case
            return list(self.outputs[0].consumers)
        seen: dict[int, Node] = {}
        for v in self.outputs:
            for c in v.consumers:
                seen.setdefault(id(c), c)
        return sorted(seen.values(), key=lambda n: n.index)

    @property
    def params(self) -> int:
        return int(self.attrs.get("params", 0))

    def describe(self) -> str:
        """A short human description: ``Conv2D(60, 3x3)``."""
        a = self.attrs
        if self.kind is OpKind.CONV:
            k = "x".join(str(x) for x in a.get("kernel", ()) or ())
            return f"{self.op_type}({a.get('channels', '?')}, {k or '?'})"
        if self.kind is OpKind.DENSE:
            return f"{self.op_type}({a.get('units', '?')})"
        if self.kind is OpKind.DROPOUT:
            return f"{self.op_type}({a.get('rate', '?')})"
        if self.kind is OpKind.ACTIVATION:
            return f"{self.op_type}[{a.get('activation', '?')}]"
        if self.kind is OpKind.ATTENTION:
            return f"{self.op_type}(heads={a.get('heads', '?')}, head_dim={a.get('head_dim', '?')})"
        if self.kind is OpKind.EMBEDDING:
            return f"{self.op_type}({a.get('vocab', '?')}, {a.get('dim', '?')})"
        return self.op_type

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.kind.value}, layer={self.layer!r})"

    def __str__(self) -> str:
        ins = ", ".join(f"%{v.name}" for v in self.inputs)
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        users = sum(len(v.consumers) for v in self.outputs)
        loc = f"  # {self.source}" if self.source else ""
        shape = self.outputs[0].shape if self.outputs else None
        return (
            f"{outs or '-'} : [#users={users}] = {self.kind.value}"
            f"[{self.op_type} layer={self.layer}]({ins}) shape={shape}{loc}"
        )


@dataclass
class ExportNote:
    """What a frontend noticed about how the file was produced, e.g. an export
    that removed Dropout or folded batch norm into a convolution."""

    kind: str  # "dropout-removed" | "bn-folded" | ...
    detail: str
    layer: str | None = None
    node: Node | None = None
    certain: bool = True


class Deferred:
    """:attr:`Node.impl` computed when first read, as ``fn(node)``; one record may
    stand for many nodes. The ONNX frontend's records (each op with its
    attributes and the constant arithmetic before it) cost more to build than
    the graph, and a run that only lints never reads them."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[Node], Any]) -> None:
        self._fn = fn

    def resolve(self, node: Node) -> Any:
        return self._fn(node)

    def attach(self, nodes: Iterable[Node]) -> None:
        """Make this the (unread) impl of each of ``nodes``."""
        for n in nodes:
            n._impl = self


@dataclass
class Fused:
    """The implementation record of a node fused from ``members`` (graph nodes no longer in
    the graph, with their own inputs and impls): the executor runs them in order; the last
    one's output is the node's."""

    members: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class Graph:
    """A model as a DAG of :class:`Node` in topological order."""

    name: str
    format: str  # "onnx", "keras", "torch", ...
    nodes: list[Node] = field(default_factory=list)
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    notes: list[ExportNote] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: names of the passes already run on it, in order (:mod:`archlint.graph.passes`)
    passes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def of_kind(self, *kinds: OpKind) -> Iterator[Node]:
        ks = frozenset(kinds)
        return (n for n in self.nodes if n.kind in ks)

    def kinds(self, include_io: bool = False) -> list[OpKind]:
        """The sequence of op kinds (a framework-independent fingerprint)."""
        skip = set() if include_io else {OpKind.INPUT, OpKind.OUTPUT}
        return [n.kind for n in self.nodes if n.kind not in skip]

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    def coverage(self) -> dict[str, Any]:
        """How much of the graph archlint understood: nodes (inputs and
        outputs aside) by kind, the op types left UNKNOWN, most first, and,
        apart, the known nodes whose output shape is unknown (``shapeless``: the
        shape rules skip them; the coverage line names them). Where the frontend
        knows the file's own parameter total (``meta["file_params"]``), the share
        of it the graph accounts for."""
        by_kind: dict[str, int] = {}
        unknown: dict[str, int] = {}
        shapeless = 0
        for n in self.nodes:
            if n.kind in (OpKind.INPUT, OpKind.OUTPUT):
                continue
            by_kind[n.kind.value] = by_kind.get(n.kind.value, 0) + 1
            if n.kind is OpKind.UNKNOWN:
                unknown[n.op_type] = unknown.get(n.op_type, 0) + 1
            elif n.outputs and n.outputs[0].shape is None:
                shapeless += 1
        total = sum(by_kind.values())
        understood = total - sum(unknown.values())
        out: dict[str, Any] = {
            "nodes": total,
            "understood": understood,
            "share": round(understood / total, 4) if total else 1.0,
            "unknown": dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))),
            "shapeless": shapeless,
            "by_kind": dict(sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
        file_params = self.meta.get("file_params")
        if isinstance(file_params, int) and file_params > 0:
            counted = self.total_params + int(self.meta.get("non_trainable_params", 0) or 0)
            out["params"] = {"counted": counted, "file": file_params, "share": round(min(counted / file_params, 1.0), 4)}
        return out

    def __str__(self) -> str:
        lines = [f"graph {self.name} ({self.format}):"]
        lines += [f"  {n}" for n in self.nodes]
        return "\n".join(lines)

    def fuse(
        self,
        group: Sequence[Node],
        kind: OpKind,
        op_type: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
    ) -> Node:
        """Replace ``group`` (nodes of this graph; the last one's outputs are the
        only values used outside it) with one node reading ``inputs``. Used by
        the pattern pass to turn written-out ops (RMSNorm, attention) into one
        node; call :meth:`reindex` once after the last fusion. Parameters the
        members held go to the new node unless ``attrs`` states its own. Rules
        never call this: only passes rewrite a graph."""
        last = group[-1]
        pos = last.index
        if not (0 <= pos < len(self.nodes)) or self.nodes[pos] is not last:
            raise GraphError(f"cannot fuse {last.name!r}: not in the graph")
        members = {id(n) for n in group}
        ordered = sorted(group, key=lambda n: n.index)  # topological: the members run in this order
        for n in group:
            for v in n.inputs:
                v.consumers = [c for c in v.consumers if id(c) not in members]
            n.index = -2  # marked for removal
        node = Node(
            name=last.name,
            kind=kind,
            op_type=op_type,
            layer=last.layer,
            attrs=ATTRS[kind](attrs or ()),
            source=last.source,
            index=pos,
        )
        for key in ("params", "non_trainable"):  # what the members held is not lost (a bias table read by the scores)
            held = sum(int(n.attrs.get(key, 0) or 0) for n in group)
            if held and key not in node.attrs:
                node.attrs[key] = held
        if any(n._impl is not None for n in group):  # (a deferred record stays deferred)
            node.impl = Fused(members=ordered)  # the executor runs what was fused
        seen: set[int] = set()
        for v in inputs:
            if id(v) in seen:
                continue
            seen.add(id(v))
            node.inputs.append(v)
            v.consumers.append(node)
        node.outputs = list(last.outputs)
        for v in node.outputs:
            v.producer = node
        self.nodes[pos] = node
        return node

    def reindex(self) -> None:
        """Drop fused-away nodes and renumber the rest."""
        self.nodes = [n for n in self.nodes if n.index != -2]
        for i, n in enumerate(self.nodes):
            n.index = i

    def lint(self) -> None:
        """Check ownership and topological order; raise :class:`GraphError`."""
        position = {id(n): i for i, n in enumerate(self.nodes)}
        if len(position) != len(self.nodes):
            raise GraphError("a node appears twice")
        # membership as id sets, so a value with a million consumers stays linear
        consumer_ids = {id(v): {id(c) for c in v.consumers} for n in self.nodes for v in (*n.inputs, *n.outputs)}
        input_ids = {id(n): {id(v) for v in n.inputs} for n in self.nodes}
        for i, n in enumerate(self.nodes):
            if n.index != i:
                raise GraphError(f"node {n.name!r} has index {n.index}, expected {i}")
            if not isinstance(n.kind, OpKind):
                raise GraphError(f"node {n.name!r} has kind {n.kind!r} outside OpKind")
            if type(n.attrs) is not ATTRS[n.kind]:
                raise GraphError(f"node {n.name!r} ({n.kind.value}) has attributes of another kind ({type(n.attrs).__name__})")
            for v in n.inputs:
                p = v.producer
                if p is None:
                    raise GraphError(f"input {v.name!r} of {n.name!r} has no producer")
                if id(p) not in position:
                    raise GraphError(f"producer of {v.name!r} is not in the graph")
                if position[id(p)] >= i:
                    raise GraphError(f"{n.name!r} comes before its producer {p.name!r}")
                if id(n) not in consumer_ids[id(v)]:
                    raise GraphError(f"{n.name!r} reads {v.name!r} but is not a consumer")
            for v in n.outputs:
                if v.producer is not n:
                    raise GraphError(f"{v.name!r} lists a producer other than {n.name!r}")
                for c in v.consumers:
                    if id(c) not in position:
                        raise GraphError(f"consumer {c.name!r} of {v.name!r} not in graph")
                    if id(v) not in input_ids[id(c)]:
                        raise GraphError(f"{c.name!r} is a consumer of {v.name!r} but not reading it")


class GraphBuilder:
    """The only way edges are made. Frontends add nodes in any order that
    respects data dependencies and call :meth:`finish`."""

    def __init__(self, name: str, fmt: str) -> None:
        self.graph = Graph(name=name, format=fmt)
        self._values: dict[str, Value] = {}
        self._names: set[str] = set()
        self._next_suffix: dict[str, int] = {}

    def value(self, name: str) -> Value | None:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        return name in self._values

    def _unique(self, name: str) -> str:
        if name not in self._names:
            self._names.add(name)
            return name
        # remember where the suffix search stopped: a million nodes of one name stay linear
        i = self._next_suffix.get(name, 1)
        while f"{name}_{i}" in self._names:
            i += 1
        self._next_suffix[name] = i + 1
        self._names.add(f"{name}_{i}")
        return f"{name}_{i}"

    def add_input(self, name: str, shape: Sequence[int | None] | None = None) -> Node:
        node = self.add(OpKind.INPUT, "Input", name, inputs=(), outputs=(name,), name=name)
        node.output.shape = tuple(shape) if shape is not None else None
        self.graph.inputs.append(node.output)
        return node

    def add(
        self,
        kind: OpKind,
        op_type: str,
        layer: str,
        *,
        inputs: Iterable[str],
        outputs: Iterable[str],
        attrs: Mapping[str, Any] | None = None,
        source: SourceLocation | None = None,
        name: str | None = None,
    ) -> Node:
        """Add a node reading the named values and producing new ones. Inputs
        that name no known value are dropped (weights, constants)."""
        node = Node(
            name=self._unique(name or layer or op_type),
            kind=kind,
            op_type=op_type,
            layer=layer,
            attrs=ATTRS[kind](attrs or ()),
            source=source,
            index=len(self.graph.nodes),
        )
        for vname in inputs:
            v = self._values.get(vname)
            if v is None:
                continue
            node.inputs.append(v)
            v.consumers.append(node)
        for vname in outputs:
            if vname in self._values:
                raise GraphError(f"value {vname!r} is produced twice")
            v = Value(name=vname, producer=node)
            self._values[vname] = v
            node.outputs.append(v)
        self.graph.nodes.append(node)
        return node

    def mark_output(self, vname: str) -> None:
        v = self._values.get(vname)
        if v is None:
            return
        self.graph.outputs.append(v)
        self.add(OpKind.OUTPUT, "Output", vname, inputs=(vname,), outputs=(), name=f"output:{vname}")

    def fuse(
        self,
        group: Sequence[Node],
        kind: OpKind,
        op_type: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
    ) -> Node:
        """:meth:`Graph.fuse` on the graph being built."""
        return self.graph.fuse(group, kind, op_type, inputs, attrs)

    def reindex(self) -> None:
        """:meth:`Graph.reindex` on the graph being built."""
        self.graph.reindex()

    def finish(self) -> Graph:
        """The graph as built. Shapes, patterns and layouts are filled by the
        pass pipeline (:mod:`archlint.graph.passes`) that ``load_graph`` runs."""
        return self.graph
