from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._match import activation_of
from archlint.rules.base import Ref, Rule, RuleContext

_LOGS = frozenset({"log", "log2", "log10", "log1p"})


class SoftmaxIntoLog(Rule):
    """A softmax feeds a logarithm.

    ## What it flags
    `log(softmax(x))` written as two ops, looking through casts and a
    constant added for "safety" (`log(p + 1e-8)`), or a clamp.

    ## Why it hurts
    The softmax of a large negative logit underflows to 0 in float32 (and
    much sooner in float16), and `log(0)` is `-inf`: the loss becomes
    infinite or NaN. `log_softmax` computes `x - logsumexp(x)` instead,
    which is exact and stable for any logits, and it is cheaper. Adding an
    epsilon only hides the problem and biases the loss.

    ## Example
    ```python
    loss = F.nll_loss(torch.log(torch.softmax(logits, dim=-1)), target)
    ```

    ## Use instead
    ```python
    loss = F.nll_loss(F.log_softmax(logits, dim=-1), target)
    # or F.cross_entropy(logits, target), which fuses both
    ```

    ## Evidence
    A numerical identity: `log softmax(x)_i = x_i - logsumexp(x)`; the
    stable form is the one deep-learning libraries implement (Goodfellow et
    al. 2016, Sec. 4.1 on softmax and underflow).
    """

    code = "AL106"
    name = "softmax-into-log"
    severity = Severity.WARNING
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 4.1",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 4.1.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            if node.op_type.lower() not in _LOGS or len(node.inputs) != 1:
                continue
            cur = node.inputs[0].producer
            for _ in range(4):
                if cur is None or activation_of(cur) == "softmax":
                    break
                if cur.kind is OpKind.IDENTITY or cur.op_type.lower().startswith("clamp") or cur.op_type == "Clip":
                    cur = cur.inputs[0].producer if cur.inputs else None
                    continue
                if cur.kind is OpKind.ACTIVATION and cur.attrs.get("activation") == "clip":
                    cur = cur.inputs[0].producer if cur.inputs else None
                    continue
                cur = None
            if cur is None or activation_of(cur) != "softmax":
                continue
            yield self.finding(
                node,
                f"'{node.layer}' takes the log of softmax '{cur.layer}': probabilities that underflow to 0 "
                "give -inf and NaN losses",
                "use log_softmax (or a loss that takes logits, like cross_entropy) instead of log(softmax(x))",
                ctx,
                softmax=cur.layer,
            )

    autofix = 'none: the two ops are fused in the source (`log_softmax(x)`, or `cross_entropy` on the logits)'
