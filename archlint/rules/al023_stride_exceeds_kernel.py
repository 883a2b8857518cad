from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import NORMALISATIONS, dims, nearest_downstream, through
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


_TO_SUM = through({OpKind.IDENTITY}, NORMALISATIONS, norm="a shortcut's normalisation keeps the pixels the stride skipped")


def _merge_point(node: Node) -> Node | None:
    """The Add that ``node`` feeds through normalisation only, if any."""
    down = nearest_downstream(node, _TO_SUM)
    return down[0] if len(down) == 1 and down[0].kind is OpKind.ADD else None


def _reparam_branch(node: Node, stride: tuple[int, ...]) -> bool:
    """A training-time branch summed with a sibling convolution that reads the same input with a
    window covering the stride (RepVGG, MobileOne, FastViT): the sum folds into one convolution
    at inference, and the sibling reads every pixel."""
    add = _merge_point(node)
    if add is None or not node.inputs:
        return False
    for sib in node.inputs[0].consumers:
        if sib is node or sib.kind is not OpKind.CONV or tuple(sib.attrs.get("stride") or ()) != stride:
            continue
        k = tuple(sib.attrs.get("kernel") or ())
        if len(k) == len(stride) and all(kk >= st for kk, st in zip(k, stride, strict=False)) and _merge_point(sib) is add:
            return True
    return False


class StrideExceedsKernel(Rule):
    """A convolution or pooling layer's stride is larger than its kernel, so inputs are skipped.

    ## What it flags
    A (non-transposed) convolution or pooling layer whose stride is larger
    than its (dilated) kernel in some dimension, e.g. a 1x1 convolution with
    stride 2, as in the projection shortcut of the original ResNet. Not
    flagged: a training-time re-parameterisation branch whose output is
    summed with a sibling convolution that reads the same input with a
    window covering the stride (RepVGG, MobileOne, FastViT: the branches fold
    into that convolution at inference).

    ## Why it hurts
    Windows no longer overlap or even touch: a 1x1 stride-2 convolution reads
    one pixel in four and ignores the other three quarters of its input. He
    et al. (2019) show that moving the stride to a 3x3 convolution, or
    average pooling before the 1x1 projection (ResNet-D), recovers accuracy
    at almost no cost.

    ## Example
    ```python
    shortcut = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False), nn.BatchNorm2d(128))
    ```

    ## Use instead
    ```python
    shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(64, 128, 1, bias=False), nn.BatchNorm2d(128))
    ```
    """

    code = "AL023"
    name = "stride-exceeds-kernel"
    severity = Severity.INFO
    references = (
        Ref("He et al. 2019, CVPR (Bag of Tricks, ResNet-D)",
            'T. He, Z. Zhang, H. Zhang, Z. Zhang, J. Xie, M. Li, "Bag of Tricks for Image Classification with Convolutional Neural Networks", CVPR 2019.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.CONV, OpKind.POOL):
            if node.attrs.get("transposed"):
                continue
            kernel = tuple(node.attrs.get("kernel") or ())
            stride = tuple(node.attrs.get("stride") or ())
            if not kernel or len(stride) != len(kernel):
                continue
            dil = tuple(node.attrs.get("dilation") or (1,) * len(kernel))
            eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil, strict=False))
            if all(s <= e for s, e in zip(stride, eff, strict=False)):
                continue
            if _reparam_branch(node, stride):
                continue
            skipped = 1 - math.prod(eff) / math.prod(stride)
            yield self.finding(
                node,
                f"'{node.layer}' has a {dims(eff)} window with stride {dims(stride)}: it never reads "
                f"{skipped:.0%} of its input",
                "average-pool before a stride-1 projection (ResNet-D), or make the kernel at least as large as the stride",
                ctx,
                kernel=list(eff),
                stride=list(stride),
            )

    autofix = ("for a 1x1 convolution: an average pool over the stride's window before it (rounding up, so the "
               "output size is the same), and stride 1 (ResNet-D); a pooling layer is left alone")

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite, SetAttrs, node_named

        node = node_named(graph, finding.node)
        if node is None or node.kind is not OpKind.CONV or len(node.inputs) != 1:
            return None
        kernel, stride = tuple(node.attrs.get("kernel") or ()), tuple(node.attrs.get("stride") or ())
        pad = node.attrs.get("padding", "valid")
        if set(kernel) != {1} or len(stride) != len(kernel) or not (pad in ("valid", "same") or not any(pad)):
            return None
        pool = NewLayer(OpKind.POOL, f"{node.layer}_pool", {"pool": "avg", "kernel": stride, "stride": stride})
        return Rewrite(self.code, node.name, f"average-pool before '{node.layer}', then stride 1",
                       [Insert(node, "before", pool), SetAttrs(node, {"stride": (1,) * len(stride)})])
