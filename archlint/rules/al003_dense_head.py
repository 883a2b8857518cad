from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import SPATIAL_LAYOUTS, WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import (
    ELEMENTWISE,
    GLOBAL_POOLING,
    LOCAL_POOLING,
    NORMALISATIONS,
    REGULARISERS,
    SHAPE_ONLY,
    from_stacked_vectors,
    nearest_downstream,
    nearest_upstream,
    through,
    whole_map_conv,
)
from archlint.rules.base import Ref, Rule, RuleContext
from archlint.graph.shapes import spatial_size

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_NORM_WHY = "a normalised feature map is still a map with its spatial layout"
_TO_DENSE = through(REGULARISERS, ELEMENTWISE, {OpKind.IDENTITY}, NORMALISATIONS, norm=_NORM_WHY)
_TO_FEATURES = _TO_DENSE
_TO_HEAD = through(_TO_DENSE, LOCAL_POOLING, GLOBAL_POOLING, SHAPE_ONLY - {OpKind.PAD}, norm=_NORM_WHY)


def _flattens_spatial_map(node: Node) -> tuple[bool, int | None]:
    """Whether ``node`` turns a spatial feature map into a vector, and H*W."""
    xv = node.inputs[0] if node.inputs else None
    if xv is not None and xv.layout is not None and xv.layout not in SPATIAL_LAYOUTS:
        return False, None  # a sequence (B, L, D) or a vector: no feature map to pool
    x = xv.shape if xv is not None else None
    if node.kind is OpKind.RESHAPE:
        out = node.output.shape
        if out is None or len(out) != 2:
            return False, None
        if x and x[0] is not None and out[0] is not None and out[0] != x[0]:  # x may be () (a scalar)
            return False, None  # (B, L, D) -> (B*L, D): positions folded into the batch, not flattened
    hw = spatial_size(x)
    if hw is not None and x is not None and x[1] == 1 and from_stacked_vectors(xv):
        return False, None  # one channel made of stacked vectors (CoaT's class-token aggregation): no map
    if hw is not None:
        # the network input itself (an MLP on pixels) is no feature map
        from_input = all(u.kind is OpKind.INPUT for u in nearest_upstream(node, _TO_FEATURES))
        return hw > 1 and not from_input, hw
    if x is not None and len(x) < 3:
        return False, None
    # shape unknown: decide from what produced the features
    ups = nearest_upstream(node, _TO_FEATURES)
    return bool(ups) and all(u.kind in (OpKind.CONV, OpKind.POOL) for u in ups), None


def _after(node: Node) -> list[Node]:
    return nearest_downstream(node, _TO_HEAD)


def _chain_params(m: Node, include: frozenset[OpKind], memo: dict[int, int | None]) -> int | None:
    """Parameters (of ``include`` kinds) from ``m`` to the end of the single path that starts at it,
    or None when the path forks. Every node after ``m`` on such a path has ``m``'s path as its only
    way in, so nothing else can reach it without passing ``m``: the sum is exact and memoised, and
    many heads sharing one long tail cost one walk of it, not one each."""
    path: list[Node] = []
    n: Node | None = m
    result: int | None = 0
    while n is not None:
        if n is not m and len(n.predecessors()) != 1:  # reachable another way: not exact from m
            result = None
            break
        if id(n) in memo:
            result = memo[id(n)]
            break
        succ = n.successors()
        if len(succ) > 1:
            result = None
            break
        path.append(n)
        n = succ[0] if succ else None
    for p in reversed(path):
        if result is not None:
            result += p.params if p.kind in include else 0
        memo[id(p)] = result
    return result


def _head_params(
    start: Node, include: frozenset[OpKind] = frozenset({OpKind.DENSE}), memo: dict[int, int | None] | None = None
) -> int:
    """Parameters of the ``include`` layers reachable from ``start`` (itself included)."""
    memo = {} if memo is None else memo
    total = 0
    seen: set[int] = set()
    stack = [start]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        tail = _chain_params(n, include, memo) if len(n.successors()) <= 1 else None
        if tail is not None:
            total += tail
            continue
        if n.kind in include:
            total += n.params
        stack.extend(n.successors())
    return total


class DenseHead(Rule):
    """A spatial feature map is flattened into dense layers.

    ## What it flags
    A Flatten (or a Reshape to a matrix) of a feature map larger than 1x1
    that feeds a dense layer, where global average pooling would serve; and
    the same head written as convolutions: a convolution whose window covers
    its whole map (VGG's fc6 as a 7x7 convolution in timm) followed by more
    weight layers. The
    message gives the head's parameter count and its share of the model.
    Heads under `min_head_params` (default 100,000) are not flagged: a
    LeNet-5's 59,000-parameter head is cheap, and the whole model is small;
    VGG-16's 123.6 million-parameter head, or the 2018 article network's
    501,100, are.

    ## Why it hurts
    The first dense layer after the flatten needs `H*W*C*units` weights:
    often most of the model's parameters, easy to overfit, and tied to one input
    resolution. Global average pooling has no parameters, acts as a structural
    regulariser and makes the network accept any input size (Lin et al., 2014).

    ## Example
    ```python
    ..., Conv2D(100, 3, padding="same"), Activation("relu"),
    Flatten(), Dense(1000, activation="relu"), Dropout(0.5), Dense(100, activation="softmax")
    ```

    ## Use instead
    ```python
    ..., Conv2D(100, 3, padding="same"), Activation("relu"),
    GlobalAveragePooling2D(), Dense(100, activation="softmax")
    ```
    """

    code = "AL003"
    name = "dense-head"
    severity = Severity.WARNING
    references = (
        Ref("Lin et al. 2014, ICLR (Network In Network)",
            'M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014.'),
        Ref("He et al. 2016, CVPR",
            'K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.'),
        Ref("Jansma 2018",
            'H. Jansma, "Don\'t Use Dropout in Convolutional Networks", KDnuggets, 2018.'),
    )
    evidence = ("jansma2018-head",)
    options = {"min_head_params": 100_000}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        total = graph.total_params
        min_head = int(ctx.option("min_head_params"))
        dense_memo: dict[int, int | None] = {}  # one memo per kind set: heads that share a tail walk it once
        weight_memo: dict[int, int | None] = {}
        for node in graph.of_kind(OpKind.FLATTEN, OpKind.RESHAPE):
            spatial, hw = _flattens_spatial_map(node)
            if not spatial:
                continue
            dense = nearest_downstream(node, _TO_DENSE)
            if not dense or not any(d.kind is OpKind.DENSE for d in dense):
                continue
            head = _head_params(node, memo=dense_memo)
            if head < min_head:
                continue
            share = head / total if total else 0.0
            x = node.inputs[0].shape if node.inputs else None
            fmap = (
                f"a {x[1]}x{'x'.join(str(d) for d in x[2:])} feature map"
                if x is not None and hw is not None
                else "a spatial feature map"
            )
            yield self.finding(
                node,
                f"{fmap} is flattened into dense layers: the head holds {head:,} parameters "
                f"({share:.0%} of the model's {total:,})",
                "replace Flatten + Dense with global average pooling (GlobalAveragePooling2D / "
                "nn.AdaptiveAvgPool2d(1)) followed by one classifier layer",
                ctx,
                head_params=head,
                total_params=total,
                share=round(share, 4),
                spatial=hw,
            )
        for node in graph.of_kind(OpKind.CONV):
            if not whole_map_conv(node) or not any(n.kind in WEIGHT_KINDS for n in _after(node)):
                continue
            x = node.inputs[0].shape
            head = _head_params(node, include=WEIGHT_KINDS, memo=weight_memo)  # this convolution and every weight layer after it
            if head < min_head:
                continue
            share = head / total if total else 0.0
            yield self.finding(
                node,
                f"a {x[1]}x{'x'.join(str(d) for d in x[2:])} feature map is read whole by the "
                f"{'x'.join(str(d) for d in node.attrs['kernel'])} convolution '{node.layer}' (a dense layer "
                f"written as a convolution): the head holds {head:,} parameters ({share:.0%} of the model's {total:,})",
                f"replace '{node.layer}' and the layers after it with global average pooling followed by one "
                "classifier layer",
                ctx,
                head_params=head,
                total_params=total,
                share=round(share, 4),
                spatial=spatial_size(x),
            )

    autofix = 'puts global average pooling before the Flatten; the dense layer after it reads the pooled channels (its weights summed over the positions). A head written as a whole-map convolution is left alone: its replacement changes the layers after it'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import node_named, pooled_head

        node = node_named(graph, finding.node)
        if node is None or node.kind not in (OpKind.FLATTEN, OpKind.RESHAPE):
            return None
        return pooled_head(self.code, node)
