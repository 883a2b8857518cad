"""Graph walks shared by rules. Skip-sets are explicit parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from archlint.graph import MERGE_KINDS, NORM_KINDS, WEIGHT_KINDS, Node, OpKind, Value

# -- what a walk may pass through, by meaning ---------------------------------------------------
# One vocabulary for every rule's walk. A rule builds its skip-set from these groups with
# :func:`through` (what it looks through) or :func:`stopped_by` (everything a walk may pass but
# the groups that stop it). Kinds in no group (inputs, outputs, attention, embeddings, recurrent
# layers, unknown ops) stop every walk. A walk that passes a normalisation must say why
# (``norm=...``): a normalisation changes the statistics most rules reason about, so only a rule
# whose claim survives it may look through one; the walkers refuse an unexplained one.

#: ops that only move or relabel values (views, flatten, casts, padding)
SHAPE_ONLY = frozenset({OpKind.IDENTITY, OpKind.RESHAPE, OpKind.FLATTEN, OpKind.PAD})
#: training-only noise, the identity at inference
REGULARISERS = frozenset({OpKind.DROPOUT})
#: element-wise nonlinearities (and softmax, which keeps the shape)
ELEMENTWISE = frozenset({OpKind.ACTIVATION})
#: batch, group, instance, layer and RMS normalisation
NORMALISATIONS = NORM_KINDS
#: local pooling (the map keeps its channels, shrinks in space)
LOCAL_POOLING = frozenset({OpKind.POOL})
#: global pooling (the map becomes a vector)
GLOBAL_POOLING = frozenset({OpKind.GLOBAL_POOL})
#: element-wise merges of several inputs (residual sums, gates) and concatenation
MERGES = MERGE_KINDS
#: convolutions and dense layers
WEIGHT_LAYERS = WEIGHT_KINDS
#: every kind some walk may pass
PASSABLE = SHAPE_ONLY | REGULARISERS | ELEMENTWISE | NORMALISATIONS | LOCAL_POOLING | GLOBAL_POOLING | MERGES | WEIGHT_LAYERS


class WalkSet(frozenset):
    """A skip-set built from the vocabulary; ``norm`` says why it may pass a normalisation."""

    norm: str | None = None


def through(*groups: frozenset[OpKind], norm: str | None = None) -> WalkSet:
    """The skip-set of a walk that looks through ``groups`` (unions of the vocabulary above)."""
    kinds = frozenset().union(*groups)
    stray = kinds - PASSABLE
    if stray:
        raise ValueError(f"no walk passes {sorted(k.value for k in stray)}")
    if kinds & NORMALISATIONS and not norm:
        raise ValueError("a walk through a normalisation must say why (norm=...)")
    out = WalkSet(kinds)
    out.norm = norm if kinds & NORMALISATIONS else None
    return out


def stopped_by(*groups: frozenset[OpKind], norm: str | None = None) -> WalkSet:
    """The skip-set of a walk that passes every passable kind except ``groups``."""
    return through(PASSABLE - frozenset().union(*groups), norm=norm)


def _checked(skip: Iterable[OpKind]) -> frozenset[OpKind]:
    # called once per walk, so per node in many rules: a skip-set already checked is returned
    # as it is (no copy, its hash cached for the memo lookup), and the check allocates nothing
    kinds = skip if isinstance(skip, frozenset) else frozenset(skip)
    if not kinds.isdisjoint(NORMALISATIONS) and not getattr(skip, "norm", None):
        raise ValueError("a walk through a normalisation must be built with through(..., norm=why)")
    return kinds


#: what "looking through activations, normalisation and pooling" means
THROUGH_FEATURE_OPS = through(
    ELEMENTWISE, NORMALISATIONS, LOCAL_POOLING, REGULARISERS, {OpKind.IDENTITY, OpKind.PAD}, MERGES,
    norm="normalisation keeps a feature map's spatial layout and correlation",
)


#: memo dicts shared by every walk of one graph's rule run (see :func:`shared_walks`)
_SHARED: dict[tuple[str, frozenset[OpKind]], dict[int, tuple[Node, ...]]] | None = None


@contextmanager
def shared_walks() -> Iterator[None]:
    """While active, :func:`nearest_upstream` / :func:`nearest_downstream`
    calls without a ``memo`` share one memo per direction and skip-set, so
    every rule's walks are linear in the graph however many nodes ask.
    ``api.check_graph`` wraps one graph's rules in it (the graph must not
    change meanwhile: rules never mutate it)."""
    global _SHARED
    prev, _SHARED = _SHARED, {}
    try:
        yield
    finally:
        _SHARED = prev


def _memo_for(direction: str, skip: frozenset[OpKind], memo: dict[int, tuple[Node, ...]] | None):
    if memo is not None or _SHARED is None:
        return memo
    return _SHARED.setdefault((direction, skip), {})


def nearest_upstream(
    node: Node, through: Iterable[OpKind], limit: int = 10_000, memo: dict[int, tuple[Node, ...]] | None = None
) -> list[Node]:
    """The first nodes upstream of ``node`` whose kind is not in ``through``,
    following every data input. Bounded by ``limit`` visits.

    A rule that asks for many nodes passes one ``memo`` dict (for one
    ``through`` set) per run: answers for nodes in ``through`` are then shared,
    so a chain of a million dropouts costs linear, not quadratic, time. Inside
    :func:`shared_walks` (every ``check_graph`` run) a shared memo is used."""
    skip = _checked(through)
    memo = _memo_for("up", skip, memo)
    if memo is not None:
        return _frontier(node, skip, memo, Node.predecessors)
    return _walk(node, skip, limit, Node.predecessors)


def nearest_downstream(
    node: Node, through: Iterable[OpKind], limit: int = 10_000, memo: dict[int, tuple[Node, ...]] | None = None
) -> list[Node]:
    """The first nodes downstream of ``node`` whose kind is not in ``through``."""
    skip = _checked(through)
    memo = _memo_for("down", skip, memo)
    if memo is not None:
        return _frontier(node, skip, memo, Node.successors)
    return _walk(node, skip, limit, Node.successors)


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
    skip = _checked(through)
    path: list[Node] = []
    cur = single_producer(node)
    while cur is not None and cur.kind in skip:
        path.append(cur)
        cur = single_producer(cur)
    return cur, path


#: ops that pass features on without a nonlinearity (for "is this stack linear?")
LINEAR_THROUGH = through(
    {OpKind.BATCH_NORM, OpKind.NORM}, REGULARISERS, SHAPE_ONLY,
    norm="batch and group norm are affine maps at inference: the composition stays linear",
)
#: activations that squash into a bounded range and saturate
SATURATING = frozenset({"sigmoid", "tanh", "hard_sigmoid", "softsign"})
#: activation names that are no nonlinearity at all
NOT_NONLINEAR = frozenset({"linear", "identity", None})


def is_linear_passthrough(node: Node) -> bool:
    """Ops that keep a composition linear: normalisation, reshapes, average pooling."""
    if node.kind in LINEAR_THROUGH:
        return True
    return node.kind in (OpKind.POOL, OpKind.GLOBAL_POOL) and node.attrs.get("pool") == "avg"


def sole_consumer(node: Node) -> Node | None:
    """The only consumer of the node's outputs, or None."""
    users = node.successors()
    return users[0] if len(users) == 1 else None


def weight_depths(nodes: Iterable[Node]) -> dict[int, int]:
    """For each node (by id), the most weight layers on any path from an input up to and including it."""
    depth: dict[int, int] = {}
    for n in nodes:
        d = max((depth.get(id(p), 0) for p in n.predecessors()), default=0)
        depth[id(n)] = d + (1 if n.kind in WEIGHT_KINDS else 0)
    return depth


def spatial(shape: tuple[int | None, ...] | None) -> tuple[int, ...] | None:
    """The known spatial dims of a canonical ``(N, C, *spatial)`` shape, else None."""
    if shape is None or len(shape) < 3 or any(d is None for d in shape[2:]):
        return None
    return tuple(int(d) for d in shape[2:])  # type: ignore[arg-type]


def is_depthwise_or_grouped(node: Node) -> bool:
    return bool(node.attrs.get("depthwise")) or int(node.attrs.get("groups", 1) or 1) > 1


def dims(values: Iterable[int]) -> str:
    """``(3, 3)`` -> ``3x3``."""
    return "x".join(str(v) for v in values)


def upstream(node: Node, limit: int = 100_000) -> list[Node]:
    """Every node upstream of ``node`` (its ancestors), nearest first by graph order."""
    seen: dict[int, Node] = {}
    stack = list(node.predecessors())
    while stack and len(seen) < limit:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(n.predecessors())
    return sorted(seen.values(), key=lambda n: -n.index)


def feeding(nodes: Sequence[Node], kinds: Iterable[OpKind]) -> set[int]:
    """Ids of the nodes from which a node of ``kinds`` is reached downstream
    (one reverse pass over a topologically ordered list)."""
    want = frozenset(kinds)
    out: set[int] = set()
    for n in reversed(nodes):
        if any(s.kind in want or id(s) in out for s in n.successors()):
            out.add(id(n))
    return out


def fed_by(nodes: Sequence[Node], kinds: Iterable[OpKind]) -> set[int]:
    """Ids of the nodes that a node of ``kinds`` reaches (has upstream), in one
    forward pass over a topologically ordered list: the linear form of
    ``any(u.kind in kinds for u in upstream(node))`` asked of many nodes."""
    want = frozenset(kinds)
    out: set[int] = set()
    for n in nodes:
        if any(p.kind in want or id(p) in out for p in n.predecessors()):
            out.add(id(n))
    return out


def fused_activation(node: Node) -> str | None:
    """The nonlinearity built into a weight layer (Keras ``Dense(..., activation="relu")``)
    when a frontend keeps it as an attribute instead of an ACTIVATION node."""
    if node.kind not in WEIGHT_KINDS:
        return None
    act = node.attrs.get("activation")
    return None if act in NOT_NONLINEAR else str(act)


def activation_of(node: Node) -> str | None:
    """The nonlinearity a node applies: an ACTIVATION node's, or a weight layer's fused one."""
    if node.kind is OpKind.ACTIVATION:
        act = node.attrs.get("activation")
        return None if act in NOT_NONLINEAR else str(act)
    return fused_activation(node)


def whole_map_conv(node: Node) -> bool:
    """A convolution whose window covers its whole input map, larger than 1x1, with no padding,
    so it outputs one pixel: a dense layer written as a convolution (VGG's fc6 as a 7x7 conv in
    timm and in fully convolutional heads)."""
    if node.kind is not OpKind.CONV or not node.inputs or node.attrs.get("transposed"):
        return False
    size = spatial(node.inputs[0].shape)
    kernel = tuple(node.attrs.get("kernel") or ())
    if size is None or len(kernel) != len(size) or all(d <= 1 for d in size):
        return False
    pad = node.attrs.get("padding", "valid")
    unpadded = pad == "valid" or (isinstance(pad, (list, tuple)) and not any(pad))
    return unpadded and tuple(kernel) == tuple(size) and not is_depthwise_or_grouped(node)


def from_stacked_vectors(v: Value | None) -> bool:
    """Whether ``v`` is a convolution's output (through activations, dropout, identities and
    normalisations) over an input that is no spatial map but vectors stacked along a new axis
    (CoaT's class-token aggregation): its length axis is the vectors' features, not positions."""
    p = v.producer if v is not None else None
    while p is not None and p.kind in (ELEMENTWISE | REGULARISERS | NORMALISATIONS | {OpKind.IDENTITY}) and p.inputs:
        p = p.inputs[0].producer
    if p is None or p.kind is not OpKind.CONV or not p.inputs:
        return False
    src = p.inputs[0]
    return src.layout is None and src.producer is not None and src.producer.kind is OpKind.RESHAPE
