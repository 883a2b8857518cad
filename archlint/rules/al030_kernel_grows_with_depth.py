from __future__ import annotations

import math
from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import (
    ELEMENTWISE,
    LOCAL_POOLING,
    NORMALISATIONS,
    REGULARISERS,
    dims,
    is_depthwise_or_grouped,
    through,
    whole_map_conv,
)
from archlint.rules.base import Ref, Rule, RuleContext

#: single-input ops a plain chain of convolutions may pass through
_CHAIN = through(ELEMENTWISE, REGULARISERS, {OpKind.IDENTITY, OpKind.PAD}, LOCAL_POOLING, NORMALISATIONS,
                 norm="normalisation keeps the chain of convolutions whose kernels the rule compares")


def _regular(node: Node) -> bool:
    kernel = node.attrs.get("kernel") or ()
    return (
        node.kind is OpKind.CONV
        and bool(kernel)
        and math.prod(kernel) > 1
        and not is_depthwise_or_grouped(node)
        and not node.attrs.get("transposed")
    )


def _previous_conv(node: Node) -> Node | None:
    """The nearest regular (non-1x1, non-grouped) convolution up a single-input
    chain; None at a merge, a 1x1 or grouped convolution, or anything else."""
    cur = node
    while True:
        preds = cur.predecessors()
        if len(preds) != 1:
            return None
        cur = preds[0]
        if cur.kind is OpKind.CONV:
            return cur if _regular(cur) else None
        if cur.kind not in _CHAIN:
            return None


class KernelGrowsWithDepth(Rule):
    """A convolution's kernel is larger than the kernel of the convolution before it.

    ## What it flags
    A regular convolution whose kernel covers more pixels than that of the
    regular convolution feeding it along a plain chain (through activations,
    normalisation, dropout, padding and pooling only), e.g. `3x3 -> 5x5` or
    `5x5 -> 7x7` (at least as large on every axis, larger on one). Not
    flagged: 1x1 and grouped/depthwise convolutions
    (searched kernel sizes in MobileNetV3 and EfficientNet grow on purpose),
    branches after a merge (Inception's parallel 1x1/3x3/5x5 towers), a
    convolution whose window covers its whole map (a dense layer written as
    a convolution), and
    factorised `1xk -> kx1` or `7x1 -> 3x3` steps (Inception-v3).

    ## Why it hurts
    Deeper layers already see a large receptive field through the layers
    before them; growing the kernel with depth multiplies the weights and
    compute (a 7x7 costs 5.4 times a 3x3) where the maps are widest in
    channels. The convention since VGG is small kernels throughout, with
    any large kernel at the stem, where the input has three channels. It is
    often a transposed list of kernel sizes.

    ## Example
    ```python
    Conv2D(32, 3, activation="relu"), Conv2D(64, 5, activation="relu"), Conv2D(128, 7, activation="relu")
    ```

    ## Use instead
    ```python
    Conv2D(32, 7, activation="relu"), Conv2D(64, 5, activation="relu"), Conv2D(128, 3, activation="relu")
    # or 3x3 throughout, with pooling between stages
    ```

    ## Evidence
    Simonyan & Zisserman (2015, Sec. 2.3): a stack of 3x3 convolutions
    has the receptive field of a larger kernel with fewer weights and more
    nonlinearity; AlexNet and ZFNet shrink kernels with depth
    (11 -> 5 -> 3). Convention; archlint has no controlled measurement
    of its cost. NeuraLint (Nikanjam et al. 2021) checks the opposite
    direction: its rule f016 says "the local window size for spatial
    filtering should generally increase or stay the same throughout the
    convolutional layers" and flags a 15x15 convolution followed by a 7x7
    one; archlint leaves shrinking kernels alone (that doctrine would flag
    AlexNet and every ResNet stem).
    """

    code = "AL030"
    name = "kernel-grows-with-depth"
    severity = Severity.INFO
    references = (
        Ref("Simonyan & Zisserman 2015, ICLR, Sec. 2.3",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, Section 2.3.'),
        Ref("Krizhevsky et al. 2012, NeurIPS",
            'A. Krizhevsky, I. Sutskever, G. Hinton, "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS 2012 (11x11, 5x5, then 3x3 kernels).'),
        Ref("contrary: Nikanjam et al. 2021, TOSEM (NeuraLint f016)",
            'Contrary: A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021; NeuraLint rule f016 (`checkDecreasingWindowSize`).'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.CONV):
            if not _regular(node) or whole_map_conv(node):
                continue  # a dense layer written as a convolution (VGG's fc6) is a head, not a deeper kernel
            prev = _previous_conv(node)
            if prev is None:
                continue
            k, kp = tuple(node.attrs["kernel"]), tuple(prev.attrs["kernel"])
            if len(k) != len(kp) or any(a < b for a, b in zip(k, kp, strict=False)) or k == kp:
                continue  # grows only if at least as large on every axis (7x1 -> 3x3 is a factorised pair)
            yield self.finding(
                node,
                f"{dims(k)} convolution '{node.layer}' follows {dims(kp)} convolution '{prev.layer}': the kernel "
                "grows with depth, where the receptive field is already larger and the channels wider",
                f"use {dims(kp)} (or smaller) kernels after '{prev.layer}', and put any large kernel at the stem",
                ctx,
                kernel=list(k),
                previous_kernel=list(kp),
            )

    autofix = 'none: which kernel sizes a stage should use is a design choice'
