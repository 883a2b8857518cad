from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._init import CONSTANT, kernel_init
from archlint.rules._match import (
    ELEMENTWISE,
    GLOBAL_POOLING,
    LOCAL_POOLING,
    NORMALISATIONS,
    REGULARISERS,
    SHAPE_ONLY,
    activation_of,
    feeding,
    nearest_downstream,
    through,
)
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_TO_MERGE = through(REGULARISERS, {OpKind.IDENTITY}, NORMALISATIONS, norm="normalisation does not change that the branch ends in a residual sum")
_RELU = frozenset({"relu", "relu6"})
#: what keeps a layer's units interchangeable on the way to the next weight layer: element-wise
#: ops, normalisation, pooling, views and concatenation, not a product, a gate or a sampling op
_AS_FEATURES = through(ELEMENTWISE, REGULARISERS, SHAPE_ONLY, NORMALISATIONS, LOCAL_POOLING, GLOBAL_POOLING,
                       {OpKind.CONCAT}, norm="units that start identical stay identical through a normalisation")


class ConstantKernelInitialiser(Rule):
    """A hidden layer's kernel starts as zeros or one constant, so its units start identical.

    ## What it flags
    A hidden convolution or dense layer (one that feeds further weight
    layers) whose kernel initialiser is `zeros`, `ones` or `Constant` (Keras
    files record every layer's initialisers). Not flagged: the output layer
    (a zero-initialised classifier trains normally) and a layer whose output
    goes straight into a residual addition (zero-initialised residual
    branches, as in Fixup and SkipInit, start the block as an identity on
    purpose), nor one whose units reach the next weight layer only through
    an op that gives each unit its own role (a product, a gate, a sampling
    step: Deformable DETR's zero-initialised sampling offsets and attention
    weights, whose units are coordinates and per-point weights, start the
    sampling on its reference grid on purpose). ONNX and PyTorch files do
    not record initialisers.

    ## Why it hurts
    Every unit of the layer computes the same function of its input at the
    start, and gradient descent updates units that start equal in the same
    way unless something after them tells them apart (Goodfellow et al.
    2016, Sec. 8.4): the layer's width is wasted. With zeros and a ReLU
    after it the pre-activation is exactly 0, where ReLU's gradient is 0,
    so the layer and everything before it never receive a gradient.

    ## Example
    ```python
    Conv2D(32, 3, activation="relu", kernel_initializer="zeros")
    ```

    ## Use instead
    ```python
    Conv2D(32, 3, activation="relu", kernel_initializer="he_normal")   # or the default glorot_uniform
    ```

    ## Evidence
    Goodfellow et al. (2016, Sec. 8.4) on breaking symmetry; He et al.
    (2015) derive the random scale ReLU layers need. A fault class of the
    buggy-program benchmark of Nikanjam et al. (2021).
    """

    code = "AL028"
    name = "constant-kernel-initialiser"
    severity = Severity.WARNING
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 8.4",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Section 8.4.'),
        Ref("He et al. 2015, ICCV",
            'K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015.'),
        Ref("Zhang et al. 2019, ICLR (Fixup)",
            'H. Zhang, Y. N. Dauphin, T. Ma, "Fixup Initialization", ICLR 2019.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        hidden = feeding(graph.nodes, WEIGHT_KINDS)
        for node in graph.nodes:
            if node.kind not in WEIGHT_KINDS or id(node) not in hidden:
                continue
            init = kernel_init(node)
            if init is None or init[0] not in CONSTANT:
                continue
            if any(n.kind is OpKind.ADD for n in nearest_downstream(node, _TO_MERGE)):
                continue  # a zero-initialised residual branch
            if not any(n.kind in WEIGHT_KINDS for n in nearest_downstream(node, _AS_FEATURES)):
                continue  # its units reach the next weight layer in different roles (Deformable DETR's offsets)
            name, cfg = init
            value = {"zeros": 0.0, "ones": 1.0}.get(name, cfg.get("value"))
            after = [activation_of(n) for n in node.successors()]
            dead = name == "zeros" and any(a in _RELU for a in after)
            what = "dead: its pre-activation is 0, where ReLU has no gradient" if dead else (
                "its units start identical and differ only through the random weights after them"
            )
            yield self.finding(
                node,
                f"'{node.layer}' ({node.describe()}) initialises its kernel with {name}"
                f"{f' ({value})' if name == 'constant' and value is not None else ''}: {what}",
                f"use a random initialiser in '{node.layer}' (he_normal for ReLU layers, or the default glorot_uniform)",
                ctx,
                initializer=name,
            )

    autofix = 'sets the kernel initialiser to `he_normal` (ReLU layers) or `glorot_uniform`; the written weights file draws the kernel from it'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, node_named

        node = node_named(graph, finding.node)
        if node is None:
            return None
        relu = any(activation_of(n) in _RELU for n in node.successors())
        init = "he_normal" if relu else "glorot_uniform"
        return Rewrite(self.code, node.name, f"initialise '{node.layer}' with {init}",
                       [SetAttrs(node, {"kernel_initializer": init})])
