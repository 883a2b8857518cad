from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import fused_activation, is_depthwise_or_grouped, is_linear_passthrough, single_producer
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


def _width_in(n: Node) -> int | None:
    return n.attrs.get("in_channels") or n.attrs.get("in_features")


def _width_out(n: Node) -> int | None:
    return n.attrs.get("channels") or n.attrs.get("units")


def _passes(node: Node) -> bool:
    """Linear ops, and local max pooling: a max over a window is piecewise linear and no
    substitute for an activation between two weight layers."""
    return is_linear_passthrough(node) or (node.kind is OpKind.POOL and node.attrs.get("pool") == "max")


def _linear_source(node: Node) -> tuple[Node | None, list[Node]]:
    path: list[Node] = []
    cur = single_producer(node)
    while cur is not None and _passes(cur):
        path.append(cur)
        cur = single_producer(cur)
    return cur, path


_PERMUTES = frozenset({"permute", "transpose", "t", "Transpose", "Permute", "swapaxes", "movedim"})
#: a merged convolution this many times the pair's parameters is a different layer, not a saving
#: (two stacked 3x3 merge into a 5x5 at 1.4x: still a forgotten activation; a patchify 4x4/4
#: before a 3x3 into a 12x12 at 5.8x: a factorisation)
_FACTOR = 2.0


def _merged_is_larger(first: Node, second: Node, path: list[Node]) -> bool:
    """Whether the one layer the pair would merge into is larger than the two together, so the
    pair is a factorisation, not waste: projections on different axes (a permutation between
    them: merged, a Kronecker product), a transposed convolution (a learned upsampler, kernel
    equal to stride, beside a convolution), a convolution then a dense layer (merged, a dense
    layer over the whole map), or two convolutions whose merged kernel outweighs both."""
    if any(p.op_type in _PERMUTES for p in path):
        return True
    if first.attrs.get("transposed") or second.attrs.get("transposed"):
        return True
    if first.kind is not second.kind:
        return first.kind is OpKind.CONV
    if first.kind is OpKind.CONV:
        k1, k2 = tuple(first.attrs.get("kernel") or ()), tuple(second.attrs.get("kernel") or ())
        s1 = tuple(first.attrs.get("stride") or (1,) * len(k1))
        c_in, c_mid, c_out = _width_in(first), _width_out(first), _width_out(second)
        if not (k1 and len(k1) == len(k2) == len(s1) and c_in and c_mid and c_out):
            return False
        merged = 1
        for a, b, st in zip(k1, k2, s1):
            merged *= a + (b - 1) * st
        one = 1
        for a in k1:
            one *= a
        two = 1
        for b in k2:
            two *= b
        return c_in * c_out * merged > _FACTOR * (c_in * c_mid * one + c_mid * c_out * two)
    return False


def _deliberate(first: Node, second: Node) -> bool:
    """Linear pairs that are design choices, not mistakes."""
    if is_depthwise_or_grouped(first) or is_depthwise_or_grouped(second):
        return True  # depthwise-separable convolution
    mid, w_in, w_out = _width_out(first), _width_in(first), _width_out(second)
    if mid and w_in and w_out and mid <= w_in and mid < w_out:
        return True  # low-rank bottleneck (MobileNetV2 linear bottleneck, factorised dense)
    k1, k2 = tuple(first.attrs.get("kernel") or ()), tuple(second.attrs.get("kernel") or ())
    if len(k1) == 2 and len(k2) == 2 and k1 == k2[::-1] and 1 in k1 and k1 != (1, 1):
        return True  # spatially factorised 1xk / kx1
    return False


class StackedLinearLayers(Rule):
    """Two weight layers follow each other with no nonlinearity between them.

    ## What it flags
    A convolution or dense layer whose input comes from another convolution
    or dense layer through only linear ops (batch norm, dropout, reshape,
    flatten, average pooling) or local max pooling, which selects but is no
    activation worth the name between two weight layers. Not flagged:
    depthwise-separable pairs (depthwise then pointwise), low-rank
    bottlenecks where the middle width is no larger than the input and
    smaller than the output (MobileNetV2's linear bottleneck, factorised
    dense layers), spatially factorised `1xk -> kx1` pairs, a first
    layer whose linear output is also read elsewhere (a residual stream),
    and pairs whose merge would be a larger or costlier layer: projections
    on different axes (a permutation between them), a transposed
    convolution (a learned upsampler) beside a convolution, a convolution
    then a dense layer, and two convolutions whose merged kernel would hold
    more than twice the pair's parameters (a kernel-equals-stride patchify
    before a 3x3).

    ## Why it hurts
    A composition of linear maps is one linear map: the pair has the
    expressive power of a single layer, with more parameters, more compute
    and a harder optimisation. It is usually a forgotten activation.

    ## Example
    ```python
    nn.Linear(512, 256), nn.Linear(256, 128), nn.ReLU()
    ```

    ## Use instead
    ```python
    nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU()
    ```
    """

    code = "AL009"
    name = "stacked-linear-layers"
    severity = Severity.WARNING
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 6.1",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 6.1.'),
        Ref("Sandler et al. 2018, CVPR",
            'M. Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            if node.kind not in WEIGHT_KINDS:
                continue
            src, path = _linear_source(node)
            if src is None or src.kind not in WEIGHT_KINDS or fused_activation(src) or _deliberate(src, node):
                continue
            if _merged_is_larger(src, node, path):
                continue  # a factorisation: merging would make a larger or costlier layer
            if any(len(n.successors()) > 1 for n in (src, *path)):
                continue  # the linear output is also read elsewhere (a residual stream), not just composed
            between = ", ".join(f"'{p.layer}'" for p in reversed(path))
            via = f" (through {between})" if between else ""
            yield self.finding(
                node,
                f"'{node.layer}' ({node.describe()}) follows '{src.layer}' ({src.describe()}){via} "
                "with no nonlinearity: the two collapse into one linear map",
                f"add an activation after '{src.layer}', or merge the two layers into one",
                ctx,
                previous=src.layer,
                between=[p.layer for p in path],
            )

    autofix = 'inserts a ReLU before the second weight layer'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite, node_named

        node = node_named(graph, finding.node)
        if node is None or len(node.inputs) != 1:
            return None
        relu = NewLayer(OpKind.ACTIVATION, f"{node.layer}_relu", {"activation": "relu"})
        return Rewrite(self.code, node.name, f"insert a ReLU before '{node.layer}'", [Insert(node, "before", relu)])
