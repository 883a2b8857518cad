from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._dropout import flavour, is_noop
from archlint.rules._match import ELEMENTWISE, THROUGH_FEATURE_OPS, nearest_downstream, nearest_upstream, spatial, through
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

#: what may sit between the dropout and the pooling: the activation, nothing that mixes values
_TO_POOL = through(ELEMENTWISE, {OpKind.IDENTITY})


def _max_pool(node: Node) -> bool:
    return node.kind is OpKind.POOL and node.attrs.get("pool") == "max"


def _all_conv(nodes: list[Node]) -> bool:
    return bool(nodes) and all(n.kind is OpKind.CONV for n in nodes)


def _window(node: Node) -> int:
    k = node.attrs.get("kernel") or ()
    n = 1
    for d in k:
        n *= int(d)
    return n


class DropoutBeforeMaxPooling(Rule):
    """Element-wise dropout feeds a max pooling layer.

    ## What it flags
    A standard (element-wise) dropout layer whose output goes, through an
    activation at most, only into local max pooling layers of a feature map,
    unless the next weight layer is a convolution too (a dropout between two
    convolutions is AL001's finding). Spatial (channel-wise) dropout, stochastic
    depth and a rate of 0 are not flagged.

    ## Why it hurts
    Max pooling keeps the largest surviving value of each window, so the
    rate the layer states is not the rate the next layer sees: a pooled
    output is zero only when every unit of its window is dropped (with a 2x2
    window and rate 0.5, one output in 16); otherwise the next largest value
    takes over, scaled up by `1 / (1 - rate)`. The dropout also draws a mask
    over the full-resolution map, four times the values it would after the
    pooling. Placed after the pooling, the same rate drops what it says.
    NeuraLint (Nikanjam et al. 2021, rule f018) reports this placement as a
    fault: "Dropout layer must be placed after the pooling layer to be more
    effective".

    ## Example
    ```python
    Conv2D(64, 3, activation="relu"), Dropout(0.25), MaxPooling2D(), Flatten(), Dense(10)
    ```

    ## Use instead
    ```python
    Conv2D(64, 3, activation="relu"), MaxPooling2D(), Dropout(0.25), Flatten(), Dense(10)
    ```
    """

    code = "AL033"
    name = "dropout-before-max-pooling"
    severity = Severity.INFO
    references = (
        Ref("Nikanjam et al. 2021, TOSEM (NeuraLint f018)",
            'A. Nikanjam, H. B. Braiek, M. M. Morovati, F. Khomh, "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021 (NeuraLint rule f018).'),
        Ref("contrary: Wu & Gu 2015, Neural Networks",
            'Contrary: H. Wu, X. Gu, "Towards Dropout Training for Convolutional Neural Networks", Neural Networks 2015 (arXiv 1512.00242): dropout before max pooling ("max-pooling dropout") picks activations from a multinomial distribution and regularises well.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.DROPOUT):
            if is_noop(node) or flavour(node) != "dropout" or not node.outputs:
                continue
            size = spatial(node.outputs[0].shape)
            if size is None or all(d <= 1 for d in size):
                continue  # not a feature map
            pools = nearest_downstream(node, _TO_POOL)
            if not pools or not all(_max_pool(p) and _window(p) > 1 for p in pools):
                continue
            up = nearest_upstream(node, THROUGH_FEATURE_OPS)
            down = nearest_downstream(node, THROUGH_FEATURE_OPS)
            if _all_conv(up) and _all_conv(down):
                continue  # between two convolutions: AL001 reports it
            pool = pools[0]
            rate = node.attrs.get("rate")
            known = isinstance(rate, (int, float)) and 0 < rate < 1
            window = _window(pool)
            seen = f"; with a {window}-value window and rate {rate:g}, {rate ** window:.1%} of the pooled outputs are zero" if known else ""
            yield self.finding(
                node,
                f"dropout{f' (rate {rate:g})' if known else ''} before max pooling '{pool.layer}': the pooling "
                f"keeps the largest surviving value, so the next layer sees far fewer drops than the rate "
                f"says{seen}",
                f"move the dropout after '{pool.layer}'",
                ctx,
                pooling=pool.layer,
                rate=rate,
            )

    autofix = "moves the dropout after the max pooling layer (on the pooled map, where the rate means what it says)"

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Move, Rewrite, node_named

        node = node_named(graph, finding.node)
        pool = next((n for n in graph.of_kind(OpKind.POOL) if n.layer == finding.data.get("pooling")), None)
        if node is None or pool is None or len(node.inputs) != 1 or len(node.outputs[0].consumers) != 1:
            return None
        readers = pool.outputs[0].consumers
        if len(readers) != 1 or readers[0].kind is OpKind.OUTPUT or not readers[0].inputs:
            return None
        return Rewrite(self.code, node.name, f"move '{node.layer}' after '{pool.layer}'", [Move(node, readers[0])])
