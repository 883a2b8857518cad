"""A fix as data: the edits a rule's rewrite asks for, in terms of the graph it checked.

A rule never mutates the graph it checks. Its ``fix(graph, finding)`` returns a
:class:`Rewrite`: a list of edits naming nodes of that graph. A writer
(:mod:`archlint.fixes.onnx_edit`, :mod:`archlint.fixes.keras_edit`) applies the
edits to a copy of the model file's own representation (the ONNX protobuf with
its initialisers, the Keras config), so weights and everything archlint does not
model are kept. The edits are few and framework-independent:

- :class:`Remove`: take a one-input layer out; its consumers read its input.
- :class:`Delete`: drop a layer whose outputs nothing reads (a dead branch).
- :class:`SetAttrs`: change a layer in place (dropout rate or flavour, an
  activation, a bias dropped, a kernel initialiser, a stride).
- :class:`Insert`: add a new layer before (on the first data input of) or after
  (on the output of) an existing one.
- :class:`Move`: take a layer out and put it back before another one.
- :class:`Resize`: a dense layer that now reads a pooled vector of ``in_features``
  channels instead of a flattened map (its weights are summed over the positions).
- :class:`SetLoss`: change the training configuration's loss (Keras files).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from archlint.graph import Node, OpKind


@dataclass(frozen=True, eq=False)
class NewLayer:
    """A layer a rewrite adds: its kind, a name stem and its attributes
    (``channels`` for a batch norm, ``activation`` for an activation ...)."""

    kind: OpKind
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)


def what(node: Node) -> str:
    """``Dropout(0.3)``, ``Conv(60, 3x3)``: a node as the diff names it."""
    if node.kind is OpKind.DROPOUT:
        rate = node.attrs.get("rate")
        kind = "channel-wise dropout" if node.attrs.get("spatial") else node.op_type
        return f"{kind}({rate:.4g})" if isinstance(rate, (int, float)) else kind
    return node.describe()


def _fused(node: Node) -> bool:
    return node.kind is OpKind.ACTIVATION and bool(node.attrs.get("fused"))


@dataclass(frozen=True, eq=False)
class Remove:
    node: Node

    def describe(self) -> str:
        if _fused(self.node):
            return f"remove the {self.node.attrs.get('activation')} built into '{self.node.layer}'"
        return f"remove '{self.node.layer}' ({what(self.node)})"


@dataclass(frozen=True, eq=False)
class Delete:
    node: Node

    def describe(self) -> str:
        return f"delete unused '{self.node.layer}' ({what(self.node)})"


@dataclass(frozen=True, eq=False)
class SetAttrs:
    """Change a layer in place. Known keys: ``rate`` (dropout), ``spatial`` (True:
    channel-wise dropout), ``activation`` (relu, sigmoid, softmax, linear),
    ``bias`` (False: drop it; ``fold_into`` names the batch norm that absorbs it),
    ``kernel_initializer`` (he_normal, glorot_uniform), ``stride``."""

    node: Node
    attrs: dict[str, Any]
    fold_into: Node | None = None

    def describe(self) -> str:
        text = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        where = f"the activation built into '{self.node.layer}'" if _fused(self.node) else f"'{self.node.layer}'"
        return f"set {text} on {where}"


@dataclass(frozen=True, eq=False)
class Insert:
    anchor: Node
    where: Literal["before", "after"]
    new: NewLayer

    def describe(self) -> str:
        return f"insert {self.new.kind.value} '{self.new.name}' {self.where} '{self.anchor.layer}'"


@dataclass(frozen=True, eq=False)
class Move:
    node: Node
    before: Node

    def describe(self) -> str:
        if _fused(self.before):
            return f"move '{self.node.layer}' between '{self.before.layer}' and its built-in {self.before.attrs.get('activation')}"
        return f"move '{self.node.layer}' before '{self.before.layer}'"


@dataclass(frozen=True, eq=False)
class Resize:
    node: Node
    in_features: int

    def describe(self) -> str:
        return f"resize '{self.node.layer}' to read {self.in_features} features"


@dataclass(frozen=True, eq=False)
class SetLoss:
    loss: str
    from_logits: bool = False
    was: str | None = None

    def describe(self) -> str:
        logits = "(from_logits=True)" if self.from_logits else ""
        return f"set the loss to {self.loss}{logits}" + (f" (was {self.was})" if self.was else "")


Edit = Remove | Delete | SetAttrs | Insert | Move | Resize | SetLoss


@dataclass(eq=False)
class Rewrite:
    """What one finding's fix does: the rule's code, a one-line summary and the edits."""

    code: str
    node: str | None
    summary: str
    edits: list[Edit]

    def nodes(self) -> set[str]:
        """Names of the graph nodes the edits touch (two rewrites that share one conflict)."""
        out: set[str] = set()
        for e in self.edits:
            for attr in ("node", "anchor", "before", "fold_into"):
                n = getattr(e, attr, None)
                if isinstance(n, Node):
                    out.add(n.name)
        return out


_BY_NAME: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def node_named(graph: Any, name: str | None) -> Node | None:
    """The graph's node called ``name`` (a finding's ``node``); one index per graph, so a
    model with thousands of findings is not walked once per finding."""
    if name is None:
        return None
    index = _BY_NAME.get(graph)
    if index is None or len(index) != len(graph.nodes):
        index = _BY_NAME[graph] = {n.name: n for n in graph.nodes}
    return index.get(name)


def remove_finding_node(code: str, graph: Any, finding: Any) -> Rewrite | None:
    """The rewrite that takes the finding's own one-input layer out."""
    node = node_named(graph, finding.node)
    if node is None or len(node.inputs) != 1:
        return None
    return Rewrite(code, node.name, f"remove '{node.layer}'", [Remove(node)])


def fresh_name(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem_1``, ``stem_2`` ...: the first not in ``taken`` (which it joins)."""
    name, i = stem, 1
    while name in taken:
        name, i = f"{stem}_{i}", i + 1
    taken.add(name)
    return name


def pooled_head(code: str, flatten: Node) -> Rewrite | None:
    """Global average pooling before ``flatten``, and each dense layer it feeds reads the
    C pooled channels (its weights summed over the positions: the same output on a
    spatially constant map). None when the channel count is unknown."""
    from archlint.rules.walks import ELEMENTWISE, NORMALISATIONS, REGULARISERS, nearest_downstream, through

    x = flatten.inputs[0].shape if flatten.inputs else None
    if x is None or len(x) < 3 or not isinstance(x[1], int):
        return None
    walk = through(REGULARISERS, ELEMENTWISE, {OpKind.IDENTITY}, NORMALISATIONS,
                   norm="to find the dense layers the flattened features reach (a norm between them stops the rewrite)")
    dense = nearest_downstream(flatten, walk)
    if not dense or any(d.kind is not OpKind.DENSE for d in dense):
        return None
    if any(n.kind in (OpKind.BATCH_NORM, OpKind.NORM, OpKind.LAYER_NORM) for n in _between(flatten, dense)):
        return None  # a norm over the flattened features would change width too
    gap = NewLayer(OpKind.GLOBAL_POOL, f"{flatten.layer}_gap", {"pool": "avg", "rank": len(x) - 2})
    edits: list[Edit] = [Insert(flatten, "before", gap), *(Resize(d, x[1]) for d in dense)]
    return Rewrite(code, flatten.name, f"global average pooling before '{flatten.layer}'; "
                   + ", ".join(f"'{d.layer}'" for d in dense) + f" reads {x[1]} pooled channels", edits)


def _between(start: Node, ends: list[Node]) -> list[Node]:
    stop = {id(e) for e in ends}
    out: list[Node] = []
    stack = list(start.successors())
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen or id(n) in stop:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.successors())
    return out


def sole_path(node: Node) -> bool:
    """Whether ``node`` has one data input and its output one reader (safe to take out or move)."""
    return len(node.inputs) == 1 and len(node.outputs) >= 1 and len(node.outputs[0].consumers) == 1
