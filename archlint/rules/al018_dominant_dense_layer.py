from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import ELEMENTWISE, NORMALISATIONS, REGULARISERS, fed_by, through
from archlint.rules.base import Ref, Rule, RuleContext

_TO_POOLED = through({OpKind.FLATTEN, OpKind.RESHAPE, OpKind.IDENTITY}, REGULARISERS, ELEMENTWISE, NORMALISATIONS,
                     norm="a normalised pooled vector is still the pooled vector")


def _after_global_pool(node: Node) -> bool:
    """Whether ``node`` reads a globally pooled vector: up a single chain of activations,
    normalisation, reshapes and weight layers on 1x1 maps or vectors (LCNet's 1x1 conv head
    after pooling) to a global pooling."""
    cur = node
    while True:
        preds = cur.predecessors()
        if len(preds) != 1:
            return False
        cur = preds[0]
        if cur.kind is OpKind.GLOBAL_POOL:
            return True
        if cur.kind in _TO_POOLED:
            continue
        x = cur.inputs[0].shape if cur.kind in WEIGHT_KINDS and cur.inputs else None
        if x is not None and (len(x) == 2 or all(d == 1 for d in x[2:])):
            continue
        return False


class DominantDenseLayer(Rule):
    """One dense layer holds most of the model's parameters.

    ## What it flags
    A dense (fully connected) layer after convolutions (the head of a CNN)
    with more than `max_share` (default 0.5) of all parameters and at least
    `min_params` (default 100,000). Not flagged: the first layer of a plain
    MLP (there it is inherent), a layer that already reads a globally pooled
    vector, directly or through layers on the pooled vector (LCNet's and
    MobileNetV3's 1x1 head convolution after pooling): there is no map left
    to pool, small layers in small models (LeNet-5's 48,000-parameter fc1),
    and a dense layer applied to each position of a sequence (a speech or
    language model's vocabulary projection, tied to the embedding or not):
    pooling does not apply there, and a tied projection shares its weights.

    ## Why it hurts
    A layer that big is where the model overfits and what dominates its size
    and memory traffic, while contributing little accuracy: VGG-16's first
    fully connected layer holds 103M of its 138M parameters. Replacing large
    fully connected layers with global pooling and one classifier loses
    little or no accuracy (Lin et al., 2014; He et al., 2016), and pruning
    removes most of their weights without loss (Han et al., 2015).

    ## Example
    ```python
    Flatten(), Dense(4096, activation="relu")   # on a 7x7x512 map: 102.8M weights
    ```

    ## Use instead
    ```python
    GlobalAveragePooling2D(), Dense(num_classes)
    ```
    """

    code = "AL018"
    name = "dominant-dense-layer"
    severity = Severity.INFO
    references = (
        Ref("Lin et al. 2014, ICLR",
            'M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014.'),
        Ref("Han et al. 2015, NeurIPS",
            'S. Han, J. Pool, J. Tran, W. Dally, "Learning both Weights and Connections for Efficient Neural Networks", NeurIPS 2015.'),
    )
    options = {"max_share": 0.5, "min_params": 100_000}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        total = graph.total_params
        if not total or sum(1 for n in graph.nodes if n.kind in WEIGHT_KINDS) < 2:
            return
        max_share = float(ctx.option("max_share"))
        min_params = int(ctx.option("min_params"))
        after_conv = fed_by(graph.nodes, {OpKind.CONV})  # one pass, not a walk per dense layer
        for node in graph.of_kind(OpKind.DENSE):
            share = node.params / total
            if share <= max_share or node.params < min_params or id(node) not in after_conv:
                continue
            if _after_global_pool(node):
                continue  # the classifier after global pooling: nothing left to shrink
            x = node.inputs[0] if node.inputs else None
            if node.attrs.tied or (x is not None and x.layout not in (None, "ND")):
                continue  # a per-position projection of a sequence: no spatial map to pool
            yield self.finding(
                node,
                f"dense layer '{node.layer}' ({node.attrs.get('in_features')} -> {node.attrs.get('units')}) "
                f"holds {node.params:,} of the model's {total:,} parameters ({share:.0%})",
                "shrink its input with global average pooling, or reduce its width",
                ctx,
                params=node.params,
                total_params=total,
                share=round(share, 4),
            )

    autofix = "none: where a Flatten feeds the layer, AL003's rewrite (global pooling) shrinks it; other heads need a design choice"
