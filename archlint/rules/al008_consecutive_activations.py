from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import NOT_NONLINEAR, activation_of, walk_up_chain
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

#: ops between two activations that leave the second one redundant: ReLU -> max pool ->
#: ReLU is one ReLU, ReLU -> average pool -> Flatten -> softmax is a softmax over ReLU scores
_PASSIVE = frozenset(
    {OpKind.IDENTITY, OpKind.DROPOUT, OpKind.POOL, OpKind.GLOBAL_POOL, OpKind.FLATTEN, OpKind.RESHAPE, OpKind.PAD}
)


def _rescales(node: Node) -> bool:
    """A multiplication by a constant other than +-1 (kept as an identity with its scalar): the
    second activation then reads a rescaled range, not the first one's output."""
    c = node.attrs.get("scalar")
    scaled = node.attrs.get("constant_mul") or node.attrs.get("constant_div")
    return bool(scaled) and isinstance(c, (int, float)) and abs(abs(c) - 1.0) > 1e-6


class ConsecutiveActivations(Rule):
    """Two activation functions are applied one after the other.

    ## What it flags
    An activation whose input comes straight from another activation (looking
    through dropout, identity, padding, pooling, flatten and reshape ops),
    e.g. `relu -> relu`, `relu -> maxpool -> relu`, `relu -> average pool ->
    flatten -> softmax`, `tanh -> sigmoid`. Gating patterns where the second activation's output
    multiplies a tensor (Mish's `x * tanh(softplus(x))`, GLU/SE gates) are not
    flagged.

    ## Why it hurts
    A second elementwise nonlinearity without a weight layer in between adds
    no capacity: `relu(relu(x))` is `relu(x)`, and `relu` before a softmax
    clips negative logits to 0 so the classifier can no longer express
    "unlikely". It is almost always a duplicated `activation=` argument plus
    an explicit activation layer.

    ## Example
    ```python
    Dense(10, activation="relu"), Activation("softmax")
    ```

    ## Use instead
    ```python
    Dense(10), Activation("softmax")
    ```
    """

    code = "AL008"
    name = "consecutive-activations"
    severity = Severity.WARNING
    references = (
        Ref("Goodfellow, Bengio & Courville 2016, Deep Learning, Sec. 6.2-6.3",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 6.3 (hidden units) and 6.2.2.3 (softmax units).'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.ACTIVATION):
            act = node.attrs.get("activation")
            if act in NOT_NONLINEAR:
                continue
            prev, path = walk_up_chain(node, _PASSIVE)
            first = activation_of(prev) if prev is not None else None
            if prev is None or first is None:
                continue
            if path and any(_rescales(p) for p in path):
                continue  # cap * tanh(x / cap) -> softmax: logit soft-capping (Gemma 2), not a duplicate
            if any(s.kind is OpKind.MUL for s in node.successors()):
                continue  # a gate: x * f(g(x))
            where = "activation" if prev.kind is OpKind.ACTIVATION else "the activation built into"
            yield self.finding(
                node,
                f"activation '{node.layer}' ({act}) directly follows {where} '{prev.layer}' "
                f"({first}) with no weight layer between them",
                f"remove one of '{prev.layer}' and '{node.layer}' (often a duplicated activation= argument)",
                ctx,
                previous=prev.layer,
            )

    autofix = 'removes the first of the two activations (or the activation built into the layer before)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Remove, Rewrite, SetAttrs, node_named

        node = node_named(graph, finding.node)
        prev = walk_up_chain(node, _PASSIVE)[0] if node is not None else None
        if prev is None or len(prev.outputs[0].consumers) != 1:
            return None
        if prev.kind is OpKind.ACTIVATION:
            return Rewrite(self.code, node.name, f"remove '{prev.layer}'", [Remove(prev)])
        return Rewrite(self.code, node.name, f"drop the activation built into '{prev.layer}'",
                       [SetAttrs(prev, {"activation": "linear"})])
