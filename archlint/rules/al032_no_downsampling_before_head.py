from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import dims, spatial, upstream
from archlint.rules.base import Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


def _downsamples(node: Node) -> bool:
    if node.kind in (OpKind.POOL, OpKind.GLOBAL_POOL):
        return True
    if node.kind is OpKind.CONV:
        return any(int(s) > 1 for s in (node.attrs.get("stride") or ())) or bool(node.attrs.get("transposed"))
    return node.kind is OpKind.UNKNOWN  # resizing, custom layers: do not guess


class NoDownsamplingBeforeHead(Rule):
    """A run of convolutions reaches the dense head without any downsampling.

    ## What it flags
    A Flatten that reads a feature map of more than one
    pixel produced by at least `min_convs` (default 3) convolutions, when no
    layer between the input and it downsamples: no pooling, no strided
    convolution. Networks that pool or stride anywhere on the way are not
    flagged (AL003 judges their head).

    ## Why it hurts
    Without downsampling, each convolution widens the receptive field by
    only `k - 1` pixels: three 3x3 convolutions see 7x7 patches of a
    28x28 image, so no unit ever sees the whole object, and the head must
    learn position-specific weights over every pixel of the full-resolution
    map. The head's first dense layer then holds `H*W*C*units` weights at
    full resolution. Pooling or strided convolutions between stages grow
    the receptive field geometrically and shrink the head.

    ## Example
    ```python
    Conv2D(32, 3, activation="relu"), Conv2D(32, 3, activation="relu"), Conv2D(64, 3, activation="relu"),
    Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")
    ```

    ## Use instead
    ```python
    Conv2D(32, 3, activation="relu"), MaxPooling2D(), Conv2D(64, 3, activation="relu"), MaxPooling2D(),
    Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")
    ```

    ## Evidence
    LeCun et al. (1998) alternate convolution and subsampling so that
    higher layers see larger fields at lower resolution; Luo et al. (2016)
    show the effective receptive field grows with the square root of the
    number of stride-1 layers, and that subsampling enlarges it. A fault
    class of the buggy-program benchmark of Nikanjam et al. (2021).

    ## References
    - Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document
      Recognition", Proc. IEEE 1998.
    - W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep
      Convolutional Neural Networks", NeurIPS 2016.
    - A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph
      Transformations", TOSEM 2021.
    """

    code = "AL032"
    name = "no-downsampling-before-head"
    severity = Severity.WARNING
    references = ("LeCun et al. 1998, Proc. IEEE", "Luo et al. 2016, NeurIPS", "Nikanjam et al. 2021, TOSEM")
    options = {"min_convs": 3}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        min_convs = int(ctx.option("min_convs", 3))
        for node in graph.of_kind(OpKind.FLATTEN):
            x = node.inputs[0].shape if node.inputs else None
            size = spatial(x)
            if size is None or all(d <= 1 for d in size):
                continue
            ups = upstream(node)
            if any(_downsamples(u) for u in ups):
                continue
            convs = [u for u in ups if u.kind is OpKind.CONV]
            if len(convs) < min_convs:
                continue
            first = min(convs, key=lambda n: n.index)
            yield self.finding(
                node,
                f"{len(convs)} convolutions from '{first.layer}' on and no pooling or strided convolution: "
                f"'{node.layer}' flattens the full-resolution {dims(size)} map, whose units each see only a "
                "small patch of the input",
                "downsample between the convolutions (MaxPooling2D or stride 2) so the receptive field grows, "
                "then pool globally before the classifier",
                ctx,
                convs=len(convs),
                spatial=list(size),
            )

    autofix = 'the same rewrite as AL003: global average pooling before the Flatten (the dense layer reads the pooled channels), which downsamples the map to 1x1 before the head'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import node_named, pooled_head

        node = node_named(graph, finding.node)
        if node is None:
            return None
        return pooled_head(self.code, node)
