from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, Node, OpKind
from archlint.rules._match import activation_of, dims, spatial, through, upstream
from archlint.rules.base import Ref, Rule, RuleContext

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


#: ops through which a sequence keeps its positions (one value per position in, one out)
_KEEPS_POSITIONS = through(
    frozenset({OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.IDENTITY, OpKind.DENSE}), NORM_KINDS,
    norm="the walk asks only whether the position axis survives, which a normalisation never removes",
)
_CLASSIFIER_ACTS = frozenset({"softmax", "sigmoid"})
_CLASSIFIER_LOSSES = frozenset({"categorical_crossentropy", "sparse_categorical_crossentropy",
                                "categorical_focal_crossentropy", "binary_crossentropy", "binary_focal_crossentropy"})


def _is_transpose(node: Node) -> bool:
    op = (node.op_type or "").lower()
    return node.kind is OpKind.RESHAPE and ("transpose" in op or "permute" in op)


def _sequence_map(dense: Node) -> Node | None:
    """The 1-D convolution or pooling whose ``(N, C, L)`` map ``dense`` reads position by position
    (Keras ``Dense`` on a ``Conv1D`` output; ``nn.Linear`` after ``transpose(1, 2)``), else None."""
    cur = dense
    while True:
        preds = cur.predecessors()
        if len(preds) != 1:
            return None
        cur = preds[0]
        if cur.kind in (OpKind.CONV, OpKind.POOL):
            shape = cur.outputs[0].shape if cur.outputs else None
            return cur if shape is not None and len(shape) == 3 and shape[2] is not None else None
        if cur.kind not in _KEEPS_POSITIONS and not _is_transpose(cur):
            return None


def _input_length(node: Node) -> int | None:
    """The sequence length of the model input the map comes from: ``(N, C, L)`` signals or
    ``(N, L)`` token ids."""
    lengths = set()
    for u in upstream(node):
        if u.kind is OpKind.INPUT and u.outputs:
            shape = u.outputs[0].shape
            if shape is None or len(shape) not in (2, 3) or shape[-1] is None:
                return None
            lengths.add(int(shape[-1]) if len(shape) == 3 else int(shape[1] or 0))
    return lengths.pop() if len(lengths) == 1 else None


class DenseOnFeatureMap(Rule):
    """A dense layer is applied to an unflattened feature map and the model outputs a map of predictions.

    ## What it flags
    A dense (fully connected) layer that reads a 4-D (or higher) feature map
    of more than one pixel, when the model's output is produced by dense
    layers on that map with no Flatten, global pooling or reshape between:
    the "classifier" runs once per pixel. Dense layers used as 1x1
    convolutions inside a network that pools or flattens later (ConvNeXt's
    pointwise layers in Keras) are not flagged. On a 1-D (sequence) map
    the rule flags a classifier (softmax or sigmoid output, or a
    cross-entropy loss) run per position when the map's length is no longer
    the input's (pooled, strided or trimmed by 'valid' convolutions): Keras
    `Dense` on a `Conv1D` output, or `nn.Linear` after `transpose(1, 2)`.
    A sequence labeller that keeps the length (one label per input
    position) is not flagged.

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
    """

    code = "AL027"
    name = "dense-on-feature-map"
    severity = Severity.WARNING
    references = (
        Ref("Keras API reference: Dense",
            "Keras API reference, `keras.layers.Dense` (https://keras.io/api/layers/core_layers/dense/)."),
        Ref("Nikanjam et al. 2021, TOSEM",
            'A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        reported: set[int] = set()
        training = graph.meta.get("training") if isinstance(graph.meta.get("training"), dict) else {}
        losses = {loss.get("name") for loss in training.get("losses") or ()}
        for out in graph.outputs:
            # walk up from the output through dense-layout ops to the first dense on a map
            cur = out.producer
            first: Node | None = None
            earliest: Node | None = None
            # a known loss says what the output is (a CTC loss reads per-frame softmax on purpose);
            # without one, a softmax or sigmoid output does
            classifier = bool(losses & _CLASSIFIER_LOSSES)
            while cur is not None and cur.kind in _KEEPS_MAP:
                if activation_of(cur) in _CLASSIFIER_ACTS and not losses:
                    classifier = True
                if cur.kind is OpKind.DENSE:
                    earliest = cur
                    if _map_size(cur) is not None:
                        first = cur
                preds = cur.predecessors()
                cur = preds[0] if len(preds) == 1 else None
            if earliest is None:
                continue
            if first is None:
                if classifier and id(earliest) not in reported:
                    found = self._per_position(earliest, ctx)
                    if found is not None:
                        reported.add(id(earliest))
                        yield found
                continue
            if id(first) in reported:
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

    def _per_position(self, dense: Node, ctx: RuleContext) -> Finding | None:
        """A classifier run once per position of a 1-D map whose length no longer matches the
        input's: the length was pooled or trimmed, so the outputs are not per-input-position labels
        (a sequence labeller keeps the length) but a forgotten Flatten or global pooling."""
        source = _sequence_map(dense)
        if source is None:
            return None
        length = int(source.outputs[0].shape[2])
        n_in = _input_length(source)
        if n_in is None or not 1 < length < n_in:
            return None
        return self.finding(
            dense,
            f"dense layer '{dense.layer}' classifies each of the {length} positions of the 1-D map of "
            f"'{source.layer}' (the input has {n_in}): the sequence was pooled or trimmed, so the model "
            f"outputs {length} predictions that match no input position instead of one per sample",
            f"add Flatten() or GlobalAveragePooling1D() (GlobalMaxPooling1D) before '{dense.layer}'; for "
            "one label per position keep the length (padding='same', no pooling)",
            ctx,
            positions=length,
            input_length=n_in,
        )

    autofix = 'inserts global average pooling before the dense layer'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite, node_named

        node = node_named(graph, finding.node)
        if node is None or len(node.inputs) != 1:
            return None
        shape = node.inputs[0].shape
        if shape and len(shape) >= 3:
            rank = len(shape) - 2
        else:  # a 1-D map's per-position finding says how many positions; a map finding, its size
            rank = 1 if "positions" in finding.data else len(finding.data.get("spatial") or (1, 1))
        # the dense layer reads features on the last axis: pool over the axes between batch and features
        gap = NewLayer(OpKind.GLOBAL_POOL, f"{node.layer}_gap", {"pool": "avg", "rank": rank, "features_last": True})
        return Rewrite(self.code, node.name, f"global average pooling before '{node.layer}'", [Insert(node, "before", gap)])
