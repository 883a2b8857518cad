"""Graph walks shared by rules. Skip-sets are explicit parameters."""

from __future__ import annotations

from collections.abc import Iterable

from archlint.graph import Node, OpKind

#: what "looking through activations, normalisation and pooling" means
THROUGH_FEATURE_OPS = frozenset(
    {
        OpKind.ACTIVATION,
        OpKind.BATCH_NORM,
        OpKind.NORM,
        OpKind.POOL,
        OpKind.DROPOUT,
        OpKind.IDENTITY,
        OpKind.PAD,
        OpKind.ADD,
        OpKind.MUL,
        OpKind.CONCAT,
    }
)


def nearest_upstream(node: Node, through: Iterable[OpKind], limit: int = 10_000) -> list[Node]:
    """The first nodes upstream of ``node`` whose kind is not in ``through``,
    following every data input. Bounded by ``limit`` visits."""
    skip = frozenset(through)
    found: dict[int, Node] = {}
    seen: set[int] = set()
    stack = list(node.predecessors())
    while stack and len(seen) < limit:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in skip:
            stack.extend(n.predecessors())
        else:
            found[id(n)] = n
    return sorted(found.values(), key=lambda n: n.index)


def nearest_downstream(node: Node, through: Iterable[OpKind], limit: int = 10_000) -> list[Node]:
    """The first nodes downstream of ``node`` whose kind is not in ``through``."""
    skip = frozenset(through)
    found: dict[int, Node] = {}
    seen: set[int] = set()
    stack = list(node.successors())
    while stack and len(seen) < limit:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in skip:
            stack.extend(n.successors())
        else:
            found[id(n)] = n
    return sorted(found.values(), key=lambda n: n.index)


def single_producer(node: Node) -> Node | None:
    """The producer of the node's only data input, or None."""
    preds = node.predecessors()
    return preds[0] if len(preds) == 1 else None


def walk_up_chain(node: Node, through: Iterable[OpKind]) -> tuple[Node | None, list[Node]]:
    """Follow single-input producers through ``through`` kinds; return the first
    other node and the path walked (nearest first)."""
    skip = frozenset(through)
    path: list[Node] = []
    cur = single_producer(node)
    while cur is not None and cur.kind in skip:
        path.append(cur)
        cur = single_producer(cur)
    return cur, path
