from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._match import single_producer
from archlint.rules.base import Ref, Rule, RuleContext


class UnfoldableBatchNorm(Rule):
    """A batch normalisation cannot be folded into a weight layer for inference.

    ## What it flags
    (Opt-in.) A batch normalisation whose input is not the sole output use of
    a convolution or dense layer: after an activation, a pooling layer, a
    merge, or the network input.

    ## Why it hurts
    At inference a BN directly after a convolution is an affine map that
    deployment tools fold into the convolution's weights for free. Anywhere
    else it stays a separate pass over the feature map: extra memory traffic
    and latency on every inference. Pre-activation designs (ResNet v2,
    DenseNet) accept that cost on purpose, which is why this rule is opt-in.

    ## Example
    ```python
    Conv2D(64, 3), ReLU(), BatchNormalization()
    ```

    ## Use instead
    ```python
    Conv2D(64, 3, use_bias=False), BatchNormalization(), ReLU()
    ```
    """

    code = "AL019"
    name = "unfoldable-batch-norm"
    severity = Severity.INFO
    references = (
        Ref("Ioffe & Szegedy 2015, ICML",
            'S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015.'),
        Ref("Jacob et al. 2018, CVPR, Sec. 3.2",
            'B. Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference", CVPR 2018.'),
    )
    opt_in = True

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for bn in graph.of_kind(OpKind.BATCH_NORM):
            src = single_producer(bn)
            if src is not None and src.kind in WEIGHT_KINDS and src.successors() == [bn]:
                continue
            what = f"'{src.layer}' ({src.describe()})" if src is not None else "several inputs"
            yield self.finding(
                bn,
                f"batch norm '{bn.layer}' reads {what}, not a convolution or dense layer of its own: "
                "it cannot be folded away and costs a separate pass at inference",
                f"place '{bn.layer}' directly after a convolution or dense layer (conv -> BN -> activation)",
                ctx,
                reads=src.layer if src is not None else None,
            )

    autofix = "none: where the batch norm follows an activation AL002's rewrite moves it; after a merge or the input, moving it changes what it normalises"
