from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph
from archlint.rules._match import feeding
from archlint.rules.base import Ref, Rule, RuleContext


class ChannelsNotMultipleOf8(Rule):
    """A layer's width is not a multiple of 8, which tensor cores need for FP16.

    ## What it flags
    (Opt-in.) A hidden convolution or dense layer whose number of output
    channels / units is not a multiple of `multiple` (default 8). The output
    layer (no weight layer after it) is not flagged: its width is the number
    of classes.

    ## Why it hurts
    NVIDIA tensor cores run FP16 matrix multiplies on tiles whose dimensions
    are multiples of 8 (16 bytes); other sizes are padded or fall back to
    slower kernels. A width of 60 or 100 leaves tensor-core throughput on the
    table for no accuracy gain.

    ## Example
    ```python
    Conv2D(60, 3), Conv2D(100, 3)
    ```

    ## Use instead
    ```python
    Conv2D(64, 3), Conv2D(96, 3)
    ```
    """

    code = "AL020"
    name = "channels-not-multiple-of-8"
    severity = Severity.INFO
    references = (
        Ref("NVIDIA Deep Learning Performance Guide: Tensor Core Requirements",
            'NVIDIA, "Deep Learning Performance Documentation: Matrix Multiplication Background / Tensor Core Requirements", 2023.'),
        Ref("Micikevicius et al. 2018, ICLR",
            'P. Micikevicius et al., "Mixed Precision Training", ICLR 2018.'),
    )
    options = {"multiple": 8}
    opt_in = True

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        multiple = int(ctx.option("multiple"))
        feeds_weights = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.nodes:
            if node.kind not in WEIGHT_KINDS:
                continue
            width = node.attrs.get("channels") or node.attrs.get("units")
            if not width or width % multiple == 0 or id(node) not in feeds_weights:
                continue
            up = -(-width // multiple) * multiple
            yield self.finding(
                node,
                f"'{node.layer}' has {width} output channels, not a multiple of {multiple}: FP16 tensor "
                "cores run padded or slower kernels",
                f"use {up} (or {up - multiple if up > multiple else up}) channels",
                ctx,
                width=width,
                multiple=multiple,
            )

    autofix = 'none: widths are a design choice and change the weights of the layers after them'
