from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, Node, OpKind
from archlint.rules._match import dims, spatial
from archlint.rules.base import Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

#: ops after which an output still has the layout of the Dense it came from
_KEEPS_MAP = frozenset({OpKind.DENSE, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.IDENTITY, OpKind.BATCH_NORM,
                        OpKind.OUTPUT}) | NORM_KINDS


def _map_size(node: Node) -> tuple[int, ...] | None:
    """Spatial size (>1 element) of a 2-D-or-more feature map read by ``node``."""
    x = node.inputs[0].shape if node.inputs else None
    if x is None or len(x) < 4:
        return None
    size = spatial(x)
    return size if size is not None and math.prod(size) > 1 else None


class DenseOnFeatureMap(Rule):
    """A dense layer is applied to an unflattened feature map and the model outputs a map of predictions.

    ## What it flags
    A dense (fully connected) layer that reads a 4-D (or higher) feature map
    of more than one pixel, when the model's output is produced by dense
    layers on that map with no Flatten, global pooling or reshape between:
    the "classifier" runs once per pixel. Dense layers used as 1x1
    convolutions inside a network that pools or flattens later (ConvNeXt's
    pointwise layers in Keras) are not flagged.

    ## Why it hurts
    Keras' `Dense` (and `nn.Linear`) act on the last axis only: on a
    `(batch, H, W, C)` map they compute one prediction per pixel and return a
    `(batch, H, W, classes)` tensor. With a classification loss this either
    fails late with a shape error or, where shapes broadcast, trains every
    pixel to predict the image's label from its own receptive field. It is
    almost always a forgotten `Flatten()` or `GlobalAveragePooling2D()`.

    ## Example
    ```python
    Conv2D(32, 3, activation="relu"), MaxPooling2D(), Dense(64, activation="relu"),
    Dense(10, activation="softmax")                # output shape (None, 13, 13, 10)
    ```

    ## Use instead
    ```python
    Conv2D(32, 3, activation="relu"), MaxPooling2D(), GlobalAveragePooling2D(),
    Dense(64, activation="relu"), Dense(10, activation="softmax")
    ```

    ## Evidence
    Keras documentation of `Dense`: "If the input to the layer has a rank
    greater than 2, Dense computes the dot product between the inputs and
    the kernel along the last axis of the inputs". A fault class ("missing
    flatten") of the buggy-program benchmark of Nikanjam et al. (2021).

    ## References
    - Keras API reference, `keras.layers.Dense` (https://keras.io/api/layers/core_layers/dense/).
    - A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph
      Transformations", TOSEM 2021.
    """

    code = "AL027"
    name = "dense-on-feature-map"
    severity = Severity.WARNING
    references = ("Keras API reference: Dense", "Nikanjam et al. 2021, TOSEM")

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        reported: set[int] = set()
        for out in graph.outputs:
            # walk up from the output through dense-layout ops to the first dense on a map
            cur = out.producer
            first: Node | None = None
            saw_dense = False
            while cur is not None and cur.kind in _KEEPS_MAP:
                if cur.kind is OpKind.DENSE:
                    saw_dense = True
                    if _map_size(cur) is not None:
                        first = cur
                preds = cur.predecessors()
                cur = preds[0] if len(preds) == 1 else None
            if not saw_dense or first is None or id(first) in reported:
                continue
            reported.add(id(first))
            size = _map_size(first)
            x = first.inputs[0].shape
            yield self.finding(
                first,
                f"dense layer '{first.layer}' is applied to a {x[1]}-channel {dims(size or ())} feature map "
                f"without flattening: it runs once per pixel and the model outputs a map of "
                f"{dims(size or ())} predictions",
                f"add Flatten() or GlobalAveragePooling2D() before '{first.layer}'",
                ctx,
                spatial=list(size or ()),
            )

    autofix = 'inserts global average pooling before the dense layer'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite, node_named

        node = node_named(graph, finding.node)
        if node is None or len(node.inputs) != 1:
            return None
        rank = len(finding.data.get("spatial") or (1, 1))
        gap = NewLayer(OpKind.GLOBAL_POOL, f"{node.layer}_gap", {"pool": "avg", "rank": rank})
        return Rewrite(self.code, node.name, f"global average pooling before '{node.layer}'", [Insert(node, "before", gap)])
