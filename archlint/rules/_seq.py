"""Graph walks shared by the sequence-model rules (AL101 upwards)."""

from __future__ import annotations

from collections.abc import Iterable

from archlint.graph import Graph, Node, OpKind, Value

#: ops that pass a tensor on unchanged as far as these rules care
PASSIVE = frozenset({OpKind.IDENTITY, OpKind.DROPOUT, OpKind.RESHAPE, OpKind.PAD})
SEQ_NORMS = frozenset({OpKind.LAYER_NORM, OpKind.RMS_NORM})


def readers(v: Value, through: Iterable[OpKind] = (OpKind.IDENTITY,)) -> list[Node]:
    """Consumers of ``v``, looking through ``through`` kinds (casts)."""
    skip = frozenset(through)
    out: dict[int, Node] = {}
    stack = list(v.consumers)
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in skip and len(n.inputs) == 1 and not _arith(n):
            for o in n.outputs:
                stack.extend(o.consumers)
        else:
            out[id(n)] = n
    return sorted(out.values(), key=lambda n: n.index)


def _arith(n: Node) -> bool:
    return any(k.startswith("constant_") for k in n.attrs)


def is_upstream(anc: Node, v: Value, limit: int = 2000) -> bool:
    """Whether ``anc`` produces (directly or not) the value ``v``; nodes before
    ``anc`` in graph order are not searched."""
    start = v.producer
    if start is None:
        return False
    stack = [start]
    seen: set[int] = set()
    while stack and len(seen) < limit:
        n = stack.pop()
        if n is anc:
            return True
        if id(n) in seen or n.index < anc.index:
            continue
        seen.add(id(n))
        stack.extend(n.predecessors())
    return False


def pre_norm_adds(nodes: Iterable[Node]) -> list[Node]:
    """Residual adds of pre-norm blocks: ``s + f(norm(s))``, the norm reading
    the same stream value that is added back."""
    out = []
    for add in nodes:
        if add.kind is not OpKind.ADD or len(add.inputs) != 2:
            continue
        for s, y in ((add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])):
            norms = [r for r in readers(s) if r.kind in SEQ_NORMS and r is not add]
            if any(is_upstream(nm, y) for nm in norms):
                out.append(add)
                break
    return out


def frontier(v: Value, through: Iterable[OpKind] = PASSIVE) -> list[Node]:
    """The first nodes reading ``v`` whose kind is not in ``through``."""
    return readers(v, through)


def token_embeddings(graph: Graph) -> list[Node]:
    """Embeddings fed by a graph input (through reshapes): the token embeddings."""
    out = []
    for e in graph.of_kind(OpKind.EMBEDDING):
        cur = e
        while cur.inputs and cur.inputs[0].producer is not None:
            cur = cur.inputs[0].producer
            if cur.kind is OpKind.INPUT:
                out.append(e)
                break
            if cur.kind not in (OpKind.RESHAPE, OpKind.FLATTEN, OpKind.IDENTITY):
                break
    return out
