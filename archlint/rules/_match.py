"""Graph walks shared by rules. Skip-sets are explicit parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def nearest_upstream(
    node: Node, through: Iterable[OpKind], limit: int = 10_000, memo: dict[int, tuple[Node, ...]] | None = None
) -> list[Node]:
    """The first nodes upstream of ``node`` whose kind is not in ``through``,
    following every data input. Bounded by ``limit`` visits.

    A rule that asks for many nodes passes one ``memo`` dict (for one
    ``through`` set) per run: answers for nodes in ``through`` are then shared,
    so a chain of a million dropouts costs linear, not quadratic, time."""
    if memo is not None:
        return _frontier(node, frozenset(through), memo, Node.predecessors)
    return _walk(node, frozenset(through), limit, Node.predecessors)


def nearest_downstream(
    node: Node, through: Iterable[OpKind], limit: int = 10_000, memo: dict[int, tuple[Node, ...]] | None = None
) -> list[Node]:
    """The first nodes downstream of ``node`` whose kind is not in ``through``."""
    if memo is not None:
        return _frontier(node, frozenset(through), memo, Node.successors)
    return _walk(node, frozenset(through), limit, Node.successors)


def _walk(node: Node, skip: frozenset[OpKind], limit: int, step: Callable[[Node], list[Node]]) -> list[Node]:
    found: dict[int, Node] = {}
    seen: set[int] = set()
    stack = list(step(node))
    while stack and len(seen) < limit:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in skip:
            stack.extend(step(n))
        else:
            found[id(n)] = n
    return sorted(found.values(), key=lambda n: n.index)


#: most nodes one memoised answer keeps (bounds memory on merge-heavy graphs)
FRONTIER_CAP = 256


def _frontier(
    node: Node, skip: frozenset[OpKind], memo: dict[int, tuple[Node, ...]], step: Callable[[Node], list[Node]]
) -> list[Node]:
    """Iterative post-order: the frontier of a skip-kind node is the union of
    its neighbours' (a neighbour not in ``skip`` is its own frontier). A node
    is looked at twice at most: once to push its pending neighbours, once to
    combine them (the graph is a DAG, so this ends)."""
    stack = [n for n in step(node) if n.kind in skip and id(n) not in memo]
    while stack:
        n = stack[-1]
        if id(n) in memo:
            stack.pop()
            continue
        nbrs = step(n)
        pending = [m for m in nbrs if m.kind in skip and id(m) not in memo]
        if pending:
            stack.extend(pending)
            continue
        acc: dict[int, Node] = {}
        for m in nbrs:
            for f in memo[id(m)] if m.kind in skip else (m,):
                if len(acc) >= FRONTIER_CAP:
                    break
                acc.setdefault(id(f), f)
        memo[id(n)] = tuple(acc.values())
        stack.pop()
    out: dict[int, Node] = {}
    for m in step(node):
        for f in memo[id(m)] if m.kind in skip else (m,):
            out.setdefault(id(f), f)
    return sorted(out.values(), key=lambda n: n.index)


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
