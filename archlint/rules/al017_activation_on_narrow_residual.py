from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, Node, OpKind
from archlint.rules._match import NOT_NONLINEAR, is_depthwise_or_grouped, sole_consumer
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


def _is_shortcut(add: Node, branch: Node, conv: Node, limit: int = 2000) -> bool:
    """Whether another input of ``add`` carries what the branch started from (the block's input,
    upstream of the projection): a residual sum, not two parallel branches of one input summed
    (a CSP block's halves)."""
    others = {id(v.producer) for v in add.inputs if v.producer is not None and v.producer is not branch}
    seen: set[int] = set()
    stack = list(conv.predecessors())
    while stack and len(seen) < limit:
        n = stack.pop()
        if id(n) in seen:
            continue
        if id(n) in others:
            return True
        seen.add(id(n))
        stack.extend(n.predecessors())
    return False


class ActivationOnNarrowResidual(Rule):
    """A ReLU is applied to a low-dimensional projection on the residual stream.

    ## What it flags
    A 1x1 projection convolution that reduces channels by at least
    `min_reduction` (default 4x), followed by (optional) normalisation and a
    nonlinear activation whose output is added to a shortcut: an
    inverted-residual block whose narrow output is not kept linear. ResNet
    bottlenecks (where the reducing 1x1 feeds a 3x3 convolution, and the
    ReLU comes after the addition) are not flagged, nor are two branches
    of one input summed (a CSP block's halves, RT-DETR's and D-FINE's
    `CSPRepLayer`): the sum has no shortcut to keep linear.

    ## Why it hurts
    Sandler et al. (2018) show that ReLU on a low-dimensional manifold
    destroys information: with few channels, the half of the space it zeroes
    cannot be recovered by the next layer. In inverted residuals the narrow
    tensors carry the information between blocks, so they must stay linear
    ("linear bottleneck"); a nonlinearity there costs accuracy.

    ## Example
    ```python
    expand = Conv2d(24, 144, 1); dw = Conv2d(144, 144, 3, groups=144)
    project = Conv2d(144, 24, 1); out = x + relu(bn(project(...)))
    ```

    ## Use instead
    ```python
    out = x + bn(project(...))     # no activation after the projection
    ```
    """

    code = "AL017"
    name = "activation-on-narrow-residual"
    severity = Severity.WARNING
    references = (
        Ref("Sandler et al. 2018, CVPR (linear bottlenecks)",
            'M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.'),
    )
    options = {"min_reduction": 4}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        min_red = float(ctx.option("min_reduction"))
        for conv in graph.of_kind(OpKind.CONV):
            kernel = tuple(conv.attrs.get("kernel") or ())
            c_in, c_out = conv.attrs.get("in_channels"), conv.attrs.get("channels")
            if not kernel or set(kernel) != {1} or is_depthwise_or_grouped(conv) or not c_in or not c_out:
                continue
            if c_in / c_out < min_red:
                continue
            nxt = sole_consumer(conv)
            if nxt is not None and nxt.kind in NORM_KINDS:
                nxt = sole_consumer(nxt)
            if nxt is None or nxt.kind is not OpKind.ACTIVATION or nxt.attrs.get("activation") in NOT_NONLINEAR:
                continue
            add = next((s for s in nxt.successors() if s.kind is OpKind.ADD and _is_shortcut(s, nxt, conv)), None)
            if add is None:
                continue
            yield self.finding(
                nxt,
                f"activation '{nxt.layer}' ({nxt.attrs.get('activation')}) on the {c_out}-channel projection "
                f"'{conv.layer}' ({c_in} -> {c_out}) that feeds residual add '{add.layer}': a nonlinearity on a "
                "narrow bottleneck destroys information",
                f"remove '{nxt.layer}': keep the projection linear (conv -> BN -> add)",
                ctx,
                projection=conv.layer,
                add=add.layer,
            )

    autofix = 'removes the activation after the projection (keeps the bottleneck linear)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import remove_finding_node

        return remove_finding_node(self.code, graph, finding)
