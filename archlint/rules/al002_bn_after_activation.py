from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import single_producer, walk_up_chain
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_PASSIVE = frozenset({OpKind.DROPOUT, OpKind.IDENTITY})


def _fix(bn: str, conv: str, act: Node) -> str:
    """Where the batch norm belongs. A fused activation (Keras ``Conv2D(..., activation="relu")``)
    shares the convolution's layer name, so "between 'conv2d' and 'conv2d'" would say nothing."""
    if act.layer == conv or act.attrs.get("fused"):
        name = act.attrs.get("activation")
        return (f"move '{bn}' between convolution '{conv}' and its activation: build '{conv}' without "
                f"activation=\"{name}\", then add the batch norm and a separate {name} activation")
    return f"move '{bn}' between '{conv}' and '{act.layer}'"


class BnAfterActivation(Rule):
    """Batch normalisation placed after the activation of a convolution.

    ## What it flags
    A batch normalisation whose input comes from an activation that follows a
    convolution, either directly (`conv -> relu -> BN`) or through a pooling
    layer (`conv -> relu -> maxpool -> BN`). The finding says which.

    ## Why it hurts
    The convention since Ioffe & Szegedy (2015) is `conv -> BN -> activation`:
    the normalised pre-activation keeps ReLU units from dying or saturating,
    and the BN can be folded into the convolution for inference. After the
    activation, BN normalises a half-rectified, non-Gaussian distribution and
    cannot be folded into the preceding convolution. The measured cost is small
    and disputed: Jansma (2018) saw similar accuracy either way, which is why
    this rule is advisory.

    ## Example
    ```python
    Conv2D(60, 3, padding="same"), Activation("relu"), BatchNormalization()
    ```

    ## Use instead
    ```python
    Conv2D(60, 3, padding="same", use_bias=False), BatchNormalization(), Activation("relu")
    ```
    """

    code = "AL002"
    name = "bn-after-activation"
    severity = Severity.INFO
    references = (
        Ref("Ioffe & Szegedy 2015, ICML",
            'S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML 2015.'),
        Ref("He et al. 2016, CVPR",
            'K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.'),
        Ref("Jansma 2018, KDnuggets",
            'H. Jansma, "Don\'t Use Dropout in Convolutional Networks", KDnuggets, 2018.'),
    )
    evidence = ("jansma2018",)

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.BATCH_NORM):
            src = single_producer(node)
            pool = None
            if src is not None and src.kind is OpKind.POOL:
                pool, src = src, single_producer(src)
            if src is None or src.kind is not OpKind.ACTIVATION:
                continue
            if src.attrs.get("activation") in ("softmax", "linear", None):
                continue
            conv, _ = walk_up_chain(src, _PASSIVE)
            if conv is None or conv.kind is not OpKind.CONV:
                continue
            act = src.attrs.get("activation")
            how = (
                f"after activation '{src.layer}' ({act}) through pooling layer '{pool.layer}'"
                if pool
                else f"directly after activation '{src.layer}' ({act})"
            )
            yield self.finding(
                node,
                f"batch norm placed {how} of convolution '{conv.layer}'; the convention is "
                "conv -> BN -> activation (measured cost is small, and BN here cannot be folded into the conv)",
                _fix(node.layer, conv.layer, src),
                ctx,
                activation=src.layer,
                conv=conv.layer,
                through_pool=pool.layer if pool else None,
            )

    autofix = 'moves the batch norm between the convolution and its activation (a fused Keras activation is split out into an `Activation` layer)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Move, Rewrite, node_named, sole_path

        bn = node_named(graph, finding.node)
        src = single_producer(bn) if bn is not None else None
        if src is not None and src.kind is OpKind.POOL:
            src = single_producer(src)
        if bn is None or src is None or src.kind is not OpKind.ACTIVATION or not sole_path(bn):
            return None
        return Rewrite(self.code, bn.name, f"move '{bn.layer}' before '{src.layer}'", [Move(bn, src)])
