from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._match import walk_up_chain
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_THROUGH = frozenset({OpKind.DROPOUT, OpKind.IDENTITY})


class BiasBeforeBatchNorm(Rule):
    """A convolution or dense layer with a bias feeds batch normalisation directly.

    ## What it flags
    A convolution or dense layer that has a bias term and whose only consumer
    is a batch normalisation layer, directly or through dropout (`conv ->
    dropout -> BN`: dropout scales the bias with everything else, and BN
    still subtracts it).

    ## Why it hurts
    Batch normalisation subtracts the per-channel mean, so any constant added
    before it is cancelled: the bias gets no useful gradient and its role is
    taken by the BN shift `beta` (Ioffe & Szegedy, 2015). The parameters and
    the addition are wasted; harmless for accuracy, hence advisory.

    ## Example
    ```python
    nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU()
    ```

    ## Use instead
    ```python
    nn.Conv2d(64, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128), nn.ReLU()
    ```
    """

    code = "AL005"
    name = "bias-before-batch-norm"
    severity = Severity.INFO
    references = (
        Ref("Ioffe & Szegedy 2015, ICML, Sec. 3.2",
            'S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML 2015.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for bn in graph.of_kind(OpKind.BATCH_NORM):
            src, path = walk_up_chain(bn, _THROUGH)
            if src is None or src.kind not in WEIGHT_KINDS or not src.attrs.get("bias"):
                continue
            if any(len(n.successors()) != 1 for n in (src, *path)):
                continue
            width = src.attrs.get("channels") or src.attrs.get("units")
            yield self.finding(
                src,
                f"the bias of '{src.layer}' ({width} values) is cancelled by the mean subtraction of "
                f"batch norm '{bn.layer}' that follows it",
                f"build '{src.layer}' without a bias (use_bias=False / bias=False)",
                ctx,
                batch_norm=bn.layer,
            )

    autofix = "drops the bias and subtracts it from the batch norm's running mean (the same output in inference)"

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, node_named

        src = node_named(graph, finding.node)
        if src is None:
            return None
        bn = next((n for n in graph.of_kind(OpKind.BATCH_NORM) if walk_up_chain(n, _THROUGH)[0] is src), None)
        if bn is None:
            return None
        return Rewrite(self.code, src.name, f"drop the bias of '{src.layer}' (folded into '{bn.layer}')",
                       [SetAttrs(src, {"bias": False}, fold_into=bn)])
