from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._match import dims, is_depthwise_or_grouped, weight_depths, whole_map_conv
from archlint.rules.base import Ref, Rule, RuleContext


class LargeKernelDeep(Rule):
    """A regular (non-depthwise) convolution with a 7x7 or larger kernel sits past the stem.

    ## What it flags
    A regular convolution whose kernel is at least `min_kernel` (default 7)
    in every spatial dimension and that has another weight layer before it.
    The first layer (the stem), depthwise convolutions (ConvNeXt's 7x7
    depthwise), transposed convolutions and a convolution whose window covers
    its whole input map (a dense layer written as a convolution, such as
    timm's VGG fc6; AL003 judges it as a head) are not flagged.

    ## Why it hurts
    A stack of three 3x3 convolutions sees the same 7x7 receptive field with
    `27 C^2` weights instead of `49 C^2` (45% fewer) and adds two more
    nonlinearities, which makes the decision function more discriminative
    (Simonyan & Zisserman, 2015). Large dense kernels deep in the network are
    costly and rarely pay off.

    ## Example
    ```python
    Conv2D(64, 3), ReLU(), Conv2D(128, 7, padding="same"), ReLU()
    ```

    ## Use instead
    ```python
    Conv2D(64, 3), ReLU(), Conv2D(128, 3), ReLU(), Conv2D(128, 3), ReLU(), Conv2D(128, 3), ReLU()
    ```
    or a 7x7 depthwise convolution followed by a 1x1 (ConvNeXt).
    """

    code = "AL022"
    name = "large-kernel-deep"
    severity = Severity.INFO
    references = (
        Ref("Simonyan & Zisserman 2015, ICLR, Sec. 2.3",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.'),
        Ref("Szegedy et al. 2016, CVPR, Sec. 3.1",
            'C. Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.'),
    )
    options = {"min_kernel": 7}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        min_kernel = int(ctx.option("min_kernel"))
        depth = weight_depths(graph.nodes)
        for node in graph.of_kind(OpKind.CONV):
            kernel = tuple(node.attrs.kernel or ())
            if not kernel or min(kernel) < min_kernel or depth[id(node)] < 2:
                continue
            if is_depthwise_or_grouped(node) or node.attrs.transposed:
                continue
            if whole_map_conv(node):
                continue  # a dense layer written as a convolution: AL003 judges it as a head
            k = kernel[0]
            n3 = (k - 1) // 2
            yield self.finding(
                node,
                f"{dims(kernel)} convolution '{node.layer}' after the stem: {n3} stacked 3x3 convolutions see the "
                f"same field with {9 * n3}/{k * k} of the weights and more nonlinearity",
                f"replace '{node.layer}' with {n3} 3x3 convolutions (with activations), or a depthwise "
                f"{dims(kernel)} followed by a 1x1",
                ctx,
                kernel=list(kernel),
            )

    autofix = 'none: replacing a large kernel by a stack of 3x3 convolutions is a design choice (depth, widths)'
