from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import activation_of
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_PASSIVE = frozenset({OpKind.IDENTITY, OpKind.DROPOUT, OpKind.FLATTEN, OpKind.RESHAPE, OpKind.PAD})
_FEATURE_LAYERS = frozenset({OpKind.CONV, OpKind.DENSE, OpKind.BATCH_NORM, OpKind.NORM, OpKind.LAYER_NORM, OpKind.RMS_NORM, OpKind.POOL, OpKind.GLOBAL_POOL})


_PERMUTES = frozenset({"permute", "transpose", "t", "Transpose", "Permute", "swapaxes", "movedim"})


def _fed_layers(node: Node) -> list[Node]:
    """Feature layers the softmax output reaches through passive ops, leaving out those reached
    through an axis permutation: a dense layer there mixes whole distributions across another
    axis (CaiT's talking-heads attention mixes the heads' attention maps), it does not read
    probabilities as features."""
    out: list[Node] = []
    seen: set[int] = set()
    stack = list(node.successors())
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in _PASSIVE:
            if n.op_type not in _PERMUTES:
                stack.extend(n.successors())
        elif n.kind in _FEATURE_LAYERS:
            out.append(n)
    return sorted(out, key=lambda n: n.index)


def _over_non_channel_axis(node: Node) -> bool:
    """A softmax over an axis other than a map's channel axis (attention maps ``(N, heads, Q, K)``
    normalised over ``K``): a convolution after it mixes the channel axis, i.e. whole
    distributions across heads (EfficientFormerV2's talking heads as 1x1 convolutions)."""
    shape = node.outputs[0].shape if node.outputs else None
    axis = node.attrs.get("axis")
    if shape is None or len(shape) < 3 or not isinstance(axis, int):
        return False
    return axis % len(shape) != 1


class SoftmaxInHiddenLayer(Rule):
    """A softmax feeds further feature layers instead of being the output.

    ## What it flags
    A softmax (or log-softmax) whose output goes, through reshapes, dropout
    or identities only, into a convolution, dense, normalisation or pooling
    layer. Softmax used as attention weights (multiplied with or
    matrix-multiplied into values) is not flagged, nor is a layer reached
    through an axis permutation, which mixes whole distributions across
    another axis (talking-heads attention in CaiT), nor a convolution after a
    softmax over a non-channel axis, which mixes whole attention maps across
    heads (EfficientFormerV2's talking heads as 1x1 convolutions).

    ## Why it hurts
    Softmax turns a feature vector into a probability distribution that sums
    to one: all units compete, most are pushed to near zero and the gradient
    through it is small once one unit dominates. As a hidden activation it
    destroys the magnitude information the next layer needs. It is almost
    always a `Dense(..., activation="softmax")` copied from the output layer
    into the body of the network.

    ## Example
    ```python
    Dense(128, activation="softmax"), Dense(10, activation="softmax")
    ```

    ## Use instead
    ```python
    Dense(128, activation="relu"), Dense(10, activation="softmax")
    ```
    """

    code = "AL011"
    name = "softmax-in-hidden-layer"
    severity = Severity.ERROR
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 6.2.2.3",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Sections 6.2.2.3 and 6.3.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            if activation_of(node) not in ("softmax", "log_softmax"):
                continue
            after = _fed_layers(node)
            if after and graph.format != "keras" and _over_non_channel_axis(node):  # Keras axes are NHWC
                after = [n for n in after if n.kind is not OpKind.CONV]  # a conv mixes heads, not probabilities
            if not after:
                continue
            yield self.finding(
                node,
                f"softmax '{node.layer}' feeds '{after[0].layer}' ({after[0].describe()}): a hidden "
                "softmax squashes features into a probability distribution",
                f"use a hidden activation such as ReLU in '{node.layer}'; keep softmax for the output layer",
                ctx,
                feeds=[n.layer for n in after],
            )

    autofix = 'replaces the hidden softmax with ReLU'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, node_named

        node = node_named(graph, finding.node)
        if node is None:
            return None
        return Rewrite(self.code, node.name, f"use ReLU in '{node.layer}'", [SetAttrs(node, {"activation": "relu"})])
