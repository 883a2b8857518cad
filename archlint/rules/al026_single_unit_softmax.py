from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node
from archlint.rules._match import activation_of
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


def _softmax_width(node: Node, graph: Graph) -> int | None:
    """The size of the axis a softmax normalises over, when known."""
    shape = node.output.shape
    if shape is None or len(shape) < 2:
        return None
    axis = node.attrs.get("axis", -1)
    if not isinstance(axis, int):
        return None
    if graph.format in ("keras", "savedmodel") and len(shape) >= 3:
        # Keras axes are channels-last; the IR is (N, C, *spatial)
        rank = len(shape)
        a = axis % rank
        return shape[1] if a == rank - 1 else (shape[a + 1] if a >= 1 else shape[0])
    try:
        return shape[axis]
    except IndexError:
        return None


class SingleUnitSoftmax(Rule):
    """A softmax normalises over a single unit, so it always outputs 1.

    ## What it flags
    A softmax (a `Softmax` layer or `activation="softmax"` on a layer) whose
    normalised axis has size 1, typically `Dense(1, activation="softmax")`
    meant as a binary classifier.

    ## Why it hurts
    Softmax divides each exponential by the sum over the axis: over one
    element the result is exactly 1.0 for every input. The output is
    constant, its gradient is zero, and no layer before it learns anything
    from the loss. The model trains without an error and predicts the same
    class for every sample.

    ## Example
    ```python
    Dense(1, activation="softmax")    # binary classifier
    ```

    ## Use instead
    ```python
    Dense(1, activation="sigmoid")    # with binary_crossentropy
    # or Dense(2, activation="softmax") with (sparse_)categorical_crossentropy
    ```

    ## Evidence
    Follows from the definition: softmax(x)_i = exp(x_i) / sum_j exp(x_j),
    which is 1 when j ranges over i alone (Goodfellow et al. 2016,
    Sec. 6.2.2.3). A fault class of the buggy-program benchmark of Nikanjam
    et al. (2021).
    """

    code = "AL026"
    name = "single-unit-softmax"
    severity = Severity.ERROR
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 6.2.2.3",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 6.2.2.3.'),
        Ref("Nikanjam et al. 2021, TOSEM",
            'A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            if activation_of(node) != "softmax" or not node.outputs:
                continue
            if _softmax_width(node, graph) != 1:
                continue
            yield self.finding(
                node,
                f"softmax '{node.layer}' normalises over a single unit: it outputs 1.0 for every input, "
                "so the prediction is constant and no gradient reaches the layers before it",
                f"use a sigmoid in '{node.layer}' (with binary cross entropy), or one unit per class with softmax",
                ctx,
            )

    autofix = 'uses a sigmoid instead of the softmax (and binary cross entropy where the file records a categorical loss)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, SetLoss, node_named

        node = node_named(graph, finding.node)
        if node is None:
            return None
        edits: list = [SetAttrs(node, {"activation": "sigmoid"})]
        loss = (graph.meta.get("training") or {}).get("loss")
        if isinstance(loss, str) and "categorical" in loss:
            edits.append(SetLoss("binary_crossentropy", was=loss))
        return Rewrite(self.code, node.name, f"use a sigmoid in '{node.layer}'", edits)
