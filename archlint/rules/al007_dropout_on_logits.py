from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, WEIGHT_KINDS, Graph, OpKind
from archlint.rules._dropout import is_noop
from archlint.rules._match import WEIGHT_LAYERS, feeding, nearest_downstream, nearest_upstream, stopped_by
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_NO_WEIGHTS = stopped_by(WEIGHT_LAYERS, norm="only to find the weight layer that produced the values")
#: ops that leave a weight layer's raw outputs raw (normalisation, merges and attention do not)
_RAW = frozenset({OpKind.DROPOUT, OpKind.ACTIVATION, OpKind.IDENTITY, OpKind.RESHAPE, OpKind.FLATTEN, OpKind.PAD})
#: downstream of the dropout, ops that mix the dropped units with other features
_MIXING = frozenset({OpKind.ADD, OpKind.CONCAT, OpKind.MUL}) | NORM_KINDS


class DropoutOnLogits(Rule):
    """Dropout is applied after the last weight layer, to the network's output.

    ## What it flags
    A dropout layer with a convolution or dense layer upstream and none
    downstream: it drops the logits (or the probabilities after a softmax)
    rather than features. Not flagged: dropout on normalised or merged
    features (a transformer backbone's output after its final norm, as in
    T5) and dropout on a residual branch that is added back to the stream
    (DistilBERT's last feed-forward dropout): those outputs are features a
    downstream head learns from.

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
    """

    code = "AL007"
    name = "dropout-on-logits"
    severity = Severity.WARNING
    references = (
        Ref("Srivastava et al. 2014, JMLR",
            'N. Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 15, 2014.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        feeds_weights = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.of_kind(OpKind.DROPOUT):
            if id(node) in feeds_weights or is_noop(node):
                continue
            up = [n for n in nearest_upstream(node, _NO_WEIGHTS) if n.kind in WEIGHT_KINDS]
            if not up:
                continue
            if not all(n.kind in WEIGHT_KINDS for n in nearest_upstream(node, _RAW)):
                continue  # normalised or merged features (a backbone's hidden states), not logits
            if any(n.kind in _MIXING for n in nearest_downstream(node, _RAW)):
                continue  # a residual branch's dropout: the dropped units join the residual stream
            yield self.finding(
                node,
                f"dropout after the last weight layer '{up[-1].layer}' drops the network's outputs, "
                "not features: no layer after it learns from the dropped units",
                f"move '{node.layer}' before '{up[-1].layer}'",
                ctx,
                last_weight_layer=up[-1].layer,
            )

    autofix = 'removes the dropout'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import remove_finding_node

        return remove_finding_node(self.code, graph, finding)
