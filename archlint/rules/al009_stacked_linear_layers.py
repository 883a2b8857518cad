from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import fused_activation, is_depthwise_or_grouped, is_linear_passthrough, single_producer
from archlint.rules.base import Rule, RuleContext

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
    dense layers), spatially factorised `1xk -> kx1` pairs, and a first
    layer whose linear output is also read elsewhere (a residual stream).

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

    ## References
    - I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 6.1.
    - M. Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.
    """

    code = "AL009"
    name = "stacked-linear-layers"
    severity = Severity.WARNING
    references = ("Goodfellow et al. 2016, Deep Learning, Sec. 6.1", "Sandler et al. 2018, CVPR")

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            if node.kind not in WEIGHT_KINDS:
                continue
            src, path = _linear_source(node)
            if src is None or src.kind not in WEIGHT_KINDS or fused_activation(src) or _deliberate(src, node):
                continue
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
