from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._dropout import flavour, is_noop
from archlint.rules._match import NORMALISATIONS, nearest_downstream, stopped_by
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

#: everything but normalisation: the variance shift travels through weight layers too, and any
#: normalisation (LayerNorm, GroupNorm) on the way re-standardises it before a batch norm sees it
_TO_NORM = stopped_by(NORMALISATIONS)


class DropoutBeforeBatchNorm(Rule):
    """Dropout feeds a batch normalisation layer further down the network.

    ## What it flags
    A dropout layer (element-wise or spatial) from which a batch
    normalisation layer is reached, looking through convolutions, dense
    layers, activations, pooling and merges. Dropout placed after the last
    batch normalisation (in the classifier head) is not flagged, nor is a
    no-op rate of 0, stochastic depth (it drops a whole residual branch per
    sample, added back to an undropped identity path: EfficientNet,
    ConvNeXt, Swin) or AlphaDropout (built to keep the mean and variance of
    a SELU network).

    ## Why it hurts
    Dropout scales the surviving activations by `1/(1-p)` during training,
    which changes their variance; at inference it is switched off. Batch
    normalisation downstream learns its running variance under dropout and
    then sees a different variance at test time ("variance shift"), so its
    normalisation is wrong exactly when it matters. Li et al. (2019) show the
    shift grows with the dropout rate and costs accuracy on ResNet, DenseNet
    and ResNeXt.

    ## Example
    ```python
    Conv2D(64, 3), BatchNormalization(), ReLU(), Dropout(0.3),
    Conv2D(64, 3), BatchNormalization(), ReLU(), ...
    ```

    ## Use instead
    Move dropout after the last batch normalisation (before the classifier),
    use a small rate, or a variance-stable form (Li et al.'s "Uout").
    """

    code = "AL004"
    name = "dropout-before-batch-norm"
    severity = Severity.WARNING
    references = (
        Ref("Li et al. 2019, CVPR (variance shift)",
            'X. Li, S. Chen, X. Hu, J. Yang, "Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift", CVPR 2019.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.DROPOUT):
            if is_noop(node) or flavour(node) in ("stochastic_depth", "alpha"):
                continue
            bns = [n for n in nearest_downstream(node, _TO_NORM) if n.kind is OpKind.BATCH_NORM]
            if not bns:
                continue
            rate = node.attrs.rate
            rate_txt = f" (rate {rate:g})" if isinstance(rate, (int, float)) else ""
            more = f" and {len(bns) - 1} more" if len(bns) > 1 else ""
            yield self.finding(
                node,
                f"dropout{rate_txt} feeds batch norm '{bns[0].layer}'{more}: its running variance is "
                "learnt under dropout and is wrong at inference (variance shift)",
                "move the dropout after the last batch normalisation (into the classifier head) or drop it",
                ctx,
                batch_norms=[n.layer for n in bns],
                rate=rate,
            )

    autofix = 'removes the dropout (moving it into the head is a design choice the rewrite does not make)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import remove_finding_node

        return remove_finding_node(self.code, graph, finding)
