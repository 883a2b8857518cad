from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import (
    ELEMENTWISE,
    NORMALISATIONS,
    REGULARISERS,
    dims,
    from_stacked_vectors,
    nearest_downstream,
    spatial,
    through,
)
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


_TO_HEAD = through({OpKind.IDENTITY, OpKind.RESHAPE, OpKind.FLATTEN}, REGULARISERS, ELEMENTWISE, NORMALISATIONS,
                   norm="a normalised vector is still the flattened map the head reads")


def _downsamples(node: Node) -> bool:
    if node.kind in (OpKind.POOL, OpKind.GLOBAL_POOL):
        return True
    if node.kind is OpKind.CONV:
        return any(int(s) > 1 for s in (node.attrs.get("stride") or ())) or bool(node.attrs.get("transposed"))
    # resizing, custom layers, a product of activations (it mixes positions globally): do not guess
    return node.kind in (OpKind.UNKNOWN, OpKind.MATMUL)


def _flattens_map(node: Node) -> bool:
    """A Flatten, or a reshape of a feature map into one vector per sample (``Reshape((-1,))``)."""
    if node.kind is OpKind.FLATTEN:
        return True
    if node.kind is not OpKind.RESHAPE or not node.inputs or not node.outputs:
        return False
    x, y = node.inputs[0].shape, node.outputs[0].shape
    if x is not None and y is not None and x and y and x[0] is not None and y[0] is not None and x[0] != y[0]:
        return False  # (B, C, L) -> (B*C, L): positions or heads folded into the batch, not flattened
    if from_stacked_vectors(node.inputs[0]):
        return False  # vectors stacked and mixed by a kernel-1 convolution (CoaT): no map
    if x is not None and y is not None and None not in x[1:] and None not in y[1:] and _count(x[1:]) != _count(y[1:]):
        return False  # a select or slice (Mamba's scan picks one step), not a flatten
    return x is not None and y is not None and len(x) >= 3 and len(y) == 2 and node.inputs[0].layout in (None, "NCL", "NCHW", "NCDHW")


def _count(dims_: tuple) -> int:
    n = 1
    for d in dims_:
        n *= int(d)
    return n


def _read_by_dense(node: Node) -> bool:
    """Whether a dense layer reads the flattened vector (through shape-only ops, dropout,
    activations and normalisation): without one there is no head (HaloNet flattens its relative
    position logits to re-index them)."""
    return any(n.kind is OpKind.DENSE for n in nearest_downstream(node, _TO_HEAD))


def _run_since_downsampling(node: Node) -> tuple[list[Node], list[Node]]:
    """The convolutions between ``node`` and the nearest downsampling layers upstream (on every
    path), and those downsampling layers."""
    convs: dict[int, Node] = {}
    downs: dict[int, Node] = {}
    seen: set[int] = set()
    stack = list(node.predecessors())
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if _downsamples(n):
            downs[id(n)] = n
            continue
        if n.kind is OpKind.CONV:
            convs[id(n)] = n
        stack.extend(n.predecessors())
    return sorted(convs.values(), key=lambda n: n.index), sorted(downs.values(), key=lambda n: n.index)


class NoDownsamplingBeforeHead(Rule):
    """A run of convolutions reaches the dense head without any downsampling.

    ## What it flags
    A Flatten (or a reshape of a map into one vector per sample) that
    reads a feature map of more than one pixel and feeds dense layers
    (through dropout, activations or norms only), made by a run of at least
    `min_convs` (default 3) stride-1 convolutions with no downsampling
    (pooling, strided convolution) between the run and the Flatten: either
    none on the whole way from the input, or none since an earlier pooling
    (`Conv, MaxPool, Conv, Conv, Conv, Flatten`). A network that pools or
    strides after its last convolutions is not flagged (AL003 judges its
    head); a Dense that reads the map with no Flatten at all is AL027's
    finding.

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
    """

    code = "AL032"
    name = "no-downsampling-before-head"
    severity = Severity.INFO
    references = (
        Ref("LeCun et al. 1998, Proc. IEEE",
            'Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 1998.'),
        Ref("Luo et al. 2016, NeurIPS",
            'W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive Field in Deep Convolutional Neural Networks", NeurIPS 2016.'),
        Ref("Nikanjam et al. 2021, TOSEM",
            'A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021.'),
    )
    options = {"min_convs": 3}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        min_convs = int(ctx.option("min_convs"))
        for node in graph.nodes:
            if not _flattens_map(node) or not _read_by_dense(node):
                continue
            x = node.inputs[0].shape if node.inputs else None
            size = spatial(x)
            if size is None or all(d <= 1 for d in size):
                continue
            convs, downs = _run_since_downsampling(node)
            if len(convs) < min_convs:
                continue
            first = convs[0]
            if not downs:
                message = (
                    f"{len(convs)} convolutions from '{first.layer}' on and no pooling or strided convolution: "
                    f"'{node.layer}' flattens the full-resolution {dims(size)} map, whose units each see only a "
                    "small patch of the input"
                )
            else:
                last = downs[-1]
                message = (
                    f"{len(convs)} stride-1 convolutions since the last downsampling '{last.layer}', from "
                    f"'{first.layer}' on: '{node.layer}' flattens their {dims(size)} map without pooling it, so "
                    "the receptive field grew by only k - 1 pixels per convolution and the head's weights "
                    "grow with the map"
                )
            yield self.finding(
                node,
                message,
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
