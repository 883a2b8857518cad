from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, OpKind
from archlint.rules.base import Rule, RuleContext

_SELF_NORMALISING = frozenset({"selu"})


class UnnormalisedDeepConvStack(Rule):
    """A deep convolutional network has no normalisation layer at all.

    ## What it flags
    A network with at least `min_convs` (default 8) convolutions and no batch,
    layer, group or instance normalisation anywhere. Self-normalising
    networks (every activation SELU) are not flagged. One finding, at the
    first convolution.

    ## Why it hurts
    Without normalisation the scale of activations drifts layer by layer;
    deep plain stacks then need careful initialisation and small learning
    rates to train at all. VGG-19 without BN had to be trained in stages from
    shallower networks (Simonyan & Zisserman, 2015); with batch normalisation
    the same networks train from scratch with much higher learning rates and
    converge several times faster (Ioffe & Szegedy, 2015).

    ## Example
    ```python
    10 x [Conv2D(60, 3, padding="same"), Activation("relu")]  # no BatchNormalization
    ```

    ## Use instead
    ```python
    Conv2D(60, 3, padding="same", use_bias=False), BatchNormalization(), Activation("relu")
    ```
    (GroupNorm when batches are small.)

    ## References
    - S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015.
    - K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for
      Large-Scale Image Recognition", ICLR 2015.
    - H. Jansma, "Don't Use Dropout in Convolutional Networks", KDnuggets, 2018.
    """

    code = "AL012"
    name = "unnormalised-deep-conv-stack"
    severity = Severity.WARNING
    references = ("Ioffe & Szegedy 2015, ICML", "Simonyan & Zisserman 2015, ICLR", "Jansma 2018")
    evidence = ("jansma2018",)
    options = {"min_convs": 8}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        convs = list(graph.of_kind(OpKind.CONV))
        if len(convs) < int(ctx.option("min_convs", 8)):
            return
        if any(True for _ in graph.of_kind(*NORM_KINDS)):
            return
        acts = {n.attrs.get("activation") for n in graph.of_kind(OpKind.ACTIVATION)} - {"softmax", "log_softmax"}
        if acts and acts <= _SELF_NORMALISING:
            return
        yield self.finding(
            convs[0],
            f"{len(convs)} convolutions, from '{convs[0].layer}' to '{convs[-1].layer}', and no "
            "normalisation layer: activations drift in scale and the stack trains slowly",
            "add batch normalisation between each convolution and its activation (GroupNorm for small batches)",
            ctx,
            convs=len(convs),
        )
