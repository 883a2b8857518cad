from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._dropout import flavour, is_noop
from archlint.rules._match import THROUGH_FEATURE_OPS, feeding, nearest_downstream, nearest_upstream
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


class DropoutBetweenConv(Rule):
    """Element-wise dropout sits between two convolutions.

    ## What it flags
    A standard (element-wise) dropout layer whose nearest weight layer upstream
    and nearest weight layer downstream are both convolutions, looking through
    activations, normalisation, pooling, padding and merges. Dropout that feeds
    the dense head (after the last convolution, before Flatten or Dense) is not
    flagged, nor is a dropout before a 1x1 convolution that is the classifier
    (SqueezeNet, FCN heads), spatial (channel-wise) dropout, stochastic depth
    (whole residual branches dropped per sample: Keras `noise_shape=(None, 1,
    1, 1)`, StochasticDepth, DropPath) or a no-op rate of 0.

    ## Why it hurts
    Neighbouring activations of a feature map are strongly correlated, so
    dropping single units removes little information and mostly adds noise to
    the gradient; the convolution has few parameters to regularise anyway.
    Dropout also shifts the variance of its output between training and
    inference, which hurts any batch normalisation that follows (Li et al.,
    2019). In the 2018 experiment, dropout between convolutions trained worse
    than no regularisation at all, and rate 0.5 did not train.

    ## Example
    ```python
    Conv2D(60, 3, padding="same"), Dropout(0.3), Activation("relu"),
    Conv2D(60, 3, padding="same"), ...
    ```

    ## Use instead
    Batch normalisation between the convolution and its activation; where
    regularisation of feature maps is needed, channel-wise dropout
    (`SpatialDropout2D` in Keras, `nn.Dropout2d` in PyTorch) or DropBlock;
    keep element-wise dropout for the dense head.
    """

    code = "AL001"
    name = "dropout-between-conv"
    severity = Severity.WARNING
    references = (
        Ref("Jansma 2018, Don't Use Dropout in Convolutional Networks",
            'H. Jansma, "Don\'t Use Dropout in Convolutional Networks", KDnuggets, 2018.'),
        Ref("Tompson et al. 2015, CVPR",
            'J. Tompson et al., "Efficient Object Localization Using Convolutional Networks", CVPR 2015 (spatial dropout).'),
        Ref("Ghiasi et al. 2018, NeurIPS (DropBlock)",
            'G. Ghiasi, T.-Y. Lin, Q. V. Le, "DropBlock: A regularization method for convolutional networks", NeurIPS 2018.'),
        Ref("Li et al. 2019, CVPR",
            'X. Li, S. Chen, X. Hu, J. Yang, "Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift", CVPR 2019.'),
    )
    evidence = ("jansma2018",)

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        up_memo: dict = {}
        down_memo: dict = {}
        hidden = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.of_kind(OpKind.DROPOUT):
            if node.attrs.spatial or is_noop(node) or flavour(node) in ("spatial", "stochastic_depth"):
                continue
            up = nearest_upstream(node, THROUGH_FEATURE_OPS, memo=up_memo)
            if not up or any(n.kind is not OpKind.CONV for n in up):
                continue
            down = nearest_downstream(node, THROUGH_FEATURE_OPS, memo=down_memo)
            if not down or any(n.kind is not OpKind.CONV for n in down):
                continue
            if all(id(n) not in hidden and set(n.attrs.get("kernel") or ()) == {1} for n in down):
                continue  # head dropout before a 1x1 convolution classifier
            rate = node.attrs.rate
            known = isinstance(rate, (int, float)) and 0 <= rate <= 1
            rate_txt = f" (rate {rate:g})" if known else ""
            yield self.finding(
                node,
                f"dropout{rate_txt} between convolutions '{up[0].layer}' and "
                f"'{down[0].layer}': element-wise dropout on correlated feature maps "
                "regularises little and slows training",
                "remove it, or use batch normalization between convolution and activation; where the "
                "convolutions need regularising, channel-wise dropout (SpatialDropout2D / nn.Dropout2d); "
                "keep dropout for the dense head",
                ctx,
                upstream=[n.layer for n in up],
                downstream=[n.layer for n in down],
                rate=rate,
            )

    autofix = ("removes the dropout: the fix the rule's measurements compared (dropout between the convolutions "
               "vs none); a channel-wise dropout at the same rate trained no better on the article's network "
               "(docs/reference-experiments.md)")

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import remove_finding_node

        return remove_finding_node(self.code, graph, finding)
