from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, OpKind
from archlint.rules._match import weight_depths
from archlint.rules.base import Ref, Rule, RuleContext


class DeepPlainStack(Rule):
    """A very deep network has no skip connections.

    ## What it flags
    A network whose longest path holds more than `max_depth` (default 20)
    weight layers while the graph has no residual addition or concatenation
    at all. The finding sits at the first weight layer past that depth.

    ## Why it hurts
    He et al. (2016) showed the degradation problem: past about 20 layers a
    plain stack trains to a *higher* training error than a shallower one,
    even with batch normalisation; they suggest the solver has difficulty
    approximating identity mappings with many nonlinear layers. Identity shortcuts
    (ResNet) or dense connections (DenseNet) remove it.

    ## Example
    ```python
    34 x [Conv2D(64, 3, padding="same"), BatchNormalization(), ReLU()]
    ```

    ## Use instead
    Residual blocks, `y = relu(x + F(x))`, or concatenating dense blocks.
    """

    code = "AL013"
    name = "deep-plain-stack"
    severity = Severity.WARNING
    references = (
        Ref("He et al. 2016, CVPR",
            'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.'),
        Ref("Huang et al. 2017, CVPR",
            'G. Huang et al., "Densely Connected Convolutional Networks", CVPR 2017.'),
    )
    options = {"max_depth": 20}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        if any(len(n.predecessors()) > 1 for n in graph.of_kind(OpKind.ADD, OpKind.CONCAT)):
            return
        max_depth = int(ctx.option("max_depth"))
        depth = weight_depths(graph.nodes)
        deepest = max(depth.values(), default=0)
        if deepest <= max_depth:
            return
        first = next(n for n in graph.nodes if n.kind in WEIGHT_KINDS and depth[id(n)] == max_depth + 1)
        yield self.finding(
            first,
            f"the longest path holds {deepest} weight layers and the network has no skip connection; "
            f"'{first.layer}' is layer {max_depth + 1}: plain stacks this deep train worse than shallower ones "
            "(degradation)",
            "add residual (identity shortcut) connections every two or three layers, or make the network shallower",
            ctx,
            depth=deepest,
        )

    autofix = 'none: adding skip connections needs matching shapes and a choice of where blocks start and end'
