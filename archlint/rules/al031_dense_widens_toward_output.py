from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import ELEMENTWISE, NORMALISATIONS, REGULARISERS, feeding, through
from archlint.rules.base import Ref, Rule, RuleContext

_CHAIN = through(ELEMENTWISE, REGULARISERS, {OpKind.IDENTITY}, NORMALISATIONS,
                 norm="normalisation keeps the widths of the dense chain the rule compares")


def _previous_dense(node: Node) -> Node | None:
    cur = node
    while True:
        preds = cur.predecessors()
        if len(preds) != 1:
            return None
        cur = preds[0]
        if cur.kind is OpKind.DENSE:
            return cur
        if cur.kind not in _CHAIN:
            return None


def _last_dense(node: Node) -> Node | None:
    """The last dense layer down the single-consumer chain from ``node``."""
    last, cur = None, node
    while True:
        succ = cur.successors()
        if len(succ) != 1:
            return last
        cur = succ[0]
        if cur.kind is OpKind.DENSE:
            last = cur
        elif cur.kind not in _CHAIN:
            return last


def _vector(node: Node) -> bool:
    x = node.inputs[0].shape if node.inputs else None
    return x is not None and len(x) == 2


class DenseWidensTowardOutput(Rule):
    """Hidden dense layers get wider toward the output.

    ## What it flags
    Three or more dense layers in a plain chain (activations, normalisation
    and dropout between them) on a flat vector, where a hidden layer is
    wider than the hidden layer before it, e.g. `Dense(64) -> Dense(128) ->
    Dense(256) -> Dense(10)`, and the chain ends in a narrower output layer.
    The output layer itself is not compared, decoders that widen toward a
    wide output (autoencoders) are not flagged, and transformer MLPs (which widen inside a residual block, on sequences) are
    not flat chains, so they are not flagged.

    ## Why it hurts
    A classifier head compresses features toward the class scores. A later
    hidden layer wider than an earlier one cannot hold more information than
    the narrower layer passed it, yet costs more weights; it is usually a
    reversed list of widths (`[256, 128, 64]` written as `[64, 128, 256]`).

    ## Example
    ```python
    Flatten(), Dense(64, activation="relu"), Dense(256, activation="relu"), Dense(10, activation="softmax")
    ```

    ## Use instead
    ```python
    Flatten(), Dense(256, activation="relu"), Dense(64, activation="relu"), Dense(10, activation="softmax")
    ```

    ## Evidence
    Data processing inequality: a layer's output holds no more information
    about the input than its own input does, so width after a bottleneck
    adds parameters, not information. A fault class of the buggy-program
    benchmark of Nikanjam et al. (2021). Convention; not measured by
    archlint.
    """

    code = "AL031"
    name = "dense-widens-toward-output"
    severity = Severity.INFO
    references = (
        Ref("Cover & Thomas 2006, Sec. 2.8 (data processing inequality)",
            'T. M. Cover, J. A. Thomas, "Elements of Information Theory", 2nd ed., Wiley 2006, Section 2.8.'),
        Ref("Nikanjam et al. 2021, TOSEM",
            'A. Nikanjam et al., "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        hidden = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.of_kind(OpKind.DENSE):
            if id(node) not in hidden or not _vector(node):
                continue  # the output layer's width is the number of classes
            prev = _previous_dense(node)
            if prev is None or not _vector(prev):
                continue
            w, wp = node.attrs.get("units"), prev.attrs.get("units")
            if not w or not wp or w <= wp:
                continue
            last = _last_dense(node)
            if last is None or not last.attrs.get("units") or last.attrs["units"] >= w:
                continue  # a decoder widening toward a wide output (autoencoder), not a classifier head
            yield self.finding(
                node,
                f"hidden dense layer '{node.layer}' ({w} units) is wider than '{prev.layer}' ({wp} units) before "
                "it: the head widens toward the output after a narrower layer",
                f"order the hidden widths from wide to narrow (e.g. {w} then {wp}), or make '{node.layer}' "
                f"at most {wp} units",
                ctx,
                units=w,
                previous_units=wp,
            )

    autofix = 'none: the widths of the hidden layers are a design choice'
