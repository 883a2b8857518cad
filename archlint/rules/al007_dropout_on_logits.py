from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._match import feeding, nearest_upstream
from archlint.rules._dropout import is_noop
from archlint.rules.base import Rule, RuleContext

_NO_WEIGHTS = frozenset(OpKind) - WEIGHT_KINDS - {OpKind.INPUT}


class DropoutOnLogits(Rule):
    """Dropout is applied after the last weight layer, to the network's output.

    ## What it flags
    A dropout layer with a convolution or dense layer upstream and none
    downstream: it drops the logits (or the probabilities after a softmax)
    rather than features.

    ## Why it hurts
    Dropout regularises by making the next layer learn from random subsets of
    features. After the classifier there is no next layer: zeroing logits
    just adds noise to the loss (a dropped logit of 0 is a confident vote),
    and no weights learn to be robust to it. It is usually a misplaced layer,
    meant to go before the classifier.

    ## Example
    ```python
    Dense(512, activation="relu"), Dense(10), Dropout(0.5), Softmax()
    ```

    ## Use instead
    ```python
    Dense(512, activation="relu"), Dropout(0.5), Dense(10), Softmax()
    ```

    ## Evidence
    Srivastava et al. (2014) apply dropout to inputs and hidden units only,
    never to the output layer; the same holds for every reference
    architecture that uses dropout (AlexNet, VGG, Inception).

    ## References
    - N. Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks
      from Overfitting", JMLR 15, 2014.
    """

    code = "AL007"
    name = "dropout-on-logits"
    severity = Severity.WARNING
    references = ("Srivastava et al. 2014, JMLR",)

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        feeds_weights = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.of_kind(OpKind.DROPOUT):
            if id(node) in feeds_weights or is_noop(node):
                continue
            up = [n for n in nearest_upstream(node, _NO_WEIGHTS) if n.kind in WEIGHT_KINDS]
            if not up:
                continue
            yield self.finding(
                node,
                f"dropout after the last weight layer '{up[-1].layer}' drops the network's outputs, "
                "not features: no layer after it learns from the dropped units",
                f"move '{node.layer}' before '{up[-1].layer}'",
                ctx,
                last_weight_layer=up[-1].layer,
            )
