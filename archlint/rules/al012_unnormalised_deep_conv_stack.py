from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, Node, OpKind
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_SELF_NORMALISING = frozenset({"selu"})


#: ops that only a normalisation written out by hand computes: ``x * rsqrt(mean(x**2) + eps)``
#: (MobileNetV5's channel RMSNorm), ``F.normalize`` (a vector norm, then a division)
_NORM_OPS = frozenset({"rsqrt", "linalg_vector_norm", "norm", "frobenius_norm", "normalize", "l2_normalize",
                       "LpNormalization", "ReduceL2"})


def _written_out_norm(node: Node) -> bool:
    return node.op_type in _NORM_OPS


class UnnormalisedDeepConvStack(Rule):
    """A deep convolutional network has no normalisation layer at all.

    ## What it flags
    A network with at least `min_convs` (default 8) convolutions on one path
    from input to output and no batch, layer, group or instance
    normalisation anywhere. Parallel branches do not add up: four 2-conv
    branches side by side are a 2-conv stack. Self-normalising networks
    (every activation SELU) are not flagged, nor are networks that
    normalise with ops written out by hand (`x * rsqrt(mean(x**2) + eps)`,
    MobileNetV5's channel RMSNorm; `F.normalize`), nor normaliser-free
    networks that standardise their convolution weights instead (NF-Nets'
    scaled weight standardisation, seen in a captured PyTorch graph), nor
    an export that folded its batch norms into the convolutions (AL900 says
    so instead). One
    finding, at the first convolution of the longest path.

    ## Why it hurts
    Without normalisation the scale of activations drifts layer by layer;
    deep plain stacks then need careful initialisation and small learning
    rates to train at all. The deeper VGG nets (no BN) were initialised from
    a shallower trained one (Simonyan & Zisserman, 2015, Sec. 3.1, which
    adds that Glorot initialisation made this unnecessary); with batch
    normalisation Ioffe & Szegedy (2015) trained their Inception network at
    much higher learning rates and matched its accuracy in 14 times fewer
    steps.

    ## Example
    ```python
    10 x [Conv2D(60, 3, padding="same"), Activation("relu")]  # no BatchNormalization
    ```

    ## Use instead
    ```python
    Conv2D(60, 3, padding="same", use_bias=False), BatchNormalization(), Activation("relu")
    ```
    (GroupNorm when batches are small.)
    """

    code = "AL012"
    name = "unnormalised-deep-conv-stack"
    severity = Severity.WARNING
    references = (
        Ref("Ioffe & Szegedy 2015, ICML",
            'S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015.'),
        Ref("Simonyan & Zisserman 2015, ICLR",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.'),
        Ref("Jansma 2018",
            'H. Jansma, "Don\'t Use Dropout in Convolutional Networks", KDnuggets, 2018.'),
    )
    evidence = ("jansma2018",)
    options = {"min_convs": 8}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        if any(True for _ in graph.of_kind(*NORM_KINDS)) or any(_written_out_norm(n) for n in graph.nodes):
            return
        if any(note.kind == "bn-folded" for note in graph.notes):
            return  # the normalisation is there, folded by the exporter: AL900 reports it
        if any(n.attrs.weight_standardised for n in graph.of_kind(OpKind.CONV)):
            return  # normaliser-free by design: the weights are standardised instead (NF-Nets)
        acts = {n.attrs.get("activation") for n in graph.of_kind(OpKind.ACTIVATION)} - {"softmax", "log_softmax"}
        if acts and acts <= _SELF_NORMALISING:
            return
        # the most convolutions on one path, and where that path starts and ends
        best: dict[int, tuple[int, Node | None]] = {}
        deepest: tuple[int, Node | None, Node | None] = (0, None, None)
        for n in graph.nodes:
            d, first = max((best[id(p)] for p in n.predecessors()), default=(0, None), key=lambda t: t[0])
            if n.kind is OpKind.CONV:
                d, first = d + 1, first or n
                if d > deepest[0]:
                    deepest = (d, first, n)
            best[id(n)] = (d, first)
        count, first, last = deepest
        if count < int(ctx.option("min_convs")) or first is None or last is None:
            return
        yield self.finding(
            first,
            f"{count} convolutions on one path, from '{first.layer}' to '{last.layer}', and no "
            "normalisation layer: activations drift in scale and the stack trains slowly",
            "add batch normalisation between each convolution and its activation (GroupNorm for small batches)",
            ctx,
            convs=count,
        )

    autofix = "inserts a batch norm after each convolution (before its activation); the convolutions keep their bias, which AL005's rewrite then folds into the new batch norm"

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite

        edits = []
        for conv in graph.of_kind(OpKind.CONV):
            c = conv.attrs.get("channels")
            if not isinstance(c, int) or conv.attrs.get("transposed") or not conv.outputs[0].consumers:
                continue
            bn = NewLayer(OpKind.BATCH_NORM, f"{conv.layer}_bn", {"channels": c, "rank": len(conv.attrs.get("kernel") or (1, 1))})
            edits.append(Insert(conv, "after", bn))
        if not edits:
            return None
        return Rewrite(self.code, finding.node, f"insert {len(edits)} batch norms after the convolutions", edits)
