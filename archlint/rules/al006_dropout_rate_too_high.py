from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._dropout import drops_units, is_stochastic_depth
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


class DropoutRateTooHigh(Rule):
    """A dropout layer drops more than half of its inputs.

    ## What it flags
    A dropout layer whose rate (the probability of dropping a unit) is above
    the `max_rate` option (default 0.5). GaussianDropout (its rate sets the
    noise, it drops nothing) and stochastic depth (a per-sample rate for a
    whole residual branch) are not judged by it.

    ## Why it hurts
    Srivastava et al. (2014) found rates between 0.2 (inputs) and 0.5 (hidden
    units) close to optimal across tasks; above 0.5 the network keeps too few
    units to learn from each step, training slows and underfits, and the
    rescaling by `1/(1-p)` amplifies noise. A rate above 0.5 is often a
    keep-probability passed where a drop-probability was expected (TF1's
    `keep_prob` versus Keras/PyTorch's `rate`/`p`).

    ## Example
    ```python
    Dense(512, activation="relu"), Dropout(0.8), Dense(10)
    ```

    ## Use instead
    ```python
    Dense(512, activation="relu"), Dropout(0.2), Dense(10)   # rate = 1 - keep_prob
    ```
    """

    code = "AL006"
    name = "dropout-rate-too-high"
    severity = Severity.WARNING
    references = (
        Ref("Srivastava et al. 2014, JMLR",
            'N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov, "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 15, 2014.'),
    )
    options = {"max_rate": 0.5}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        max_rate = float(ctx.option("max_rate"))
        for node in graph.of_kind(OpKind.DROPOUT):
            rate = node.attrs.rate
            if not isinstance(rate, (int, float)) or rate <= max_rate:
                continue
            if not drops_units(node) or is_stochastic_depth(node):
                continue  # Gaussian noise drops nothing; drop-path rates are per sample, not per unit
            yield self.finding(
                node,
                f"dropout rate {rate:g} drops more than {max_rate:g} of the units: training keeps "
                f"only {1 - rate:.0%} of them each step",
                f"use a rate of at most {max_rate:g} (if {rate:g} is a keep probability, the rate is {1 - rate:g})",
                ctx,
                rate=rate,
                max_rate=max_rate,
            )

    autofix = 'sets the rate to `max_rate` (default 0.5)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, node_named

        node = node_named(graph, finding.node)
        rate = finding.data.get("max_rate", 0.5)
        if node is None:
            return None
        return Rewrite(self.code, node.name, f"set the rate of '{node.layer}' to {rate:g}", [SetAttrs(node, {"rate": rate})])
