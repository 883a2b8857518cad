from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._init import FIXED, fan_in, fixed_std, kernel_init
from archlint.rules._match import SATURATING, activation_of
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


def _gain(node: Node) -> float:
    """He et al.'s variance gain for the activation after ``node``: 2 for the ReLU family, 1 otherwise."""
    acts = {activation_of(s) for s in node.successors()}
    return 1.0 if acts & SATURATING else 2.0


class InitialiserScale(Rule):
    """Fixed-scale random initialisers make the signal grow or vanish through a deep stack.

    ## What it flags
    A network whose weight layers use fixed-scale random initialisers
    (`RandomNormal(stddev=...)`, `TruncatedNormal`, `RandomUniform`) on a
    path of at least `min_layers` (default 3) layers, where the product of
    each layer's scale relative to He initialisation (`sqrt(2 / fan_in)`,
    `sqrt(1 / fan_in)` before tanh/sigmoid) reaches `max_factor` (default
    100) or its inverse: the activations at the end of the path are that
    many times larger or smaller than at its start. Fan-in-scaled
    initialisers (Glorot, He, LeCun, the Keras defaults) count as 1. A
    normalisation layer sets the variance again, so a path restarts after
    one, and a residual add keeps its skip path's variance (the fixed 0.02
    initialisers of BERT, GPT-2 and Llama, whose blocks are normalised and
    residual, are not flagged).

    ## Why it hurts
    Each layer multiplies the variance of its input by about
    `fan_in * std^2 / gain`. A fixed `stddev=0.01` under a 3x3x64 fan-in
    shrinks it about 35x per layer; `stddev=1` grows it 290x. Over a few
    layers the forward signal and the gradients vanish or explode, and
    training stalls (He et al. 2015, Sec. 2.2; Glorot & Bengio 2010).

    ## Example
    ```python
    init = keras.initializers.RandomNormal(stddev=0.01)
    Conv2D(64, 3, activation="relu", kernel_initializer=init)  # x 4 layers
    ```

    ## Use instead
    ```python
    Conv2D(64, 3, activation="relu", kernel_initializer="he_normal")
    ```

    ## Evidence
    He et al. (2015, Sec. 2.2 and Figure 3) derive the `sqrt(2 / fan_in)`
    scale and show a 30-layer ReLU network that does not converge with
    Glorot scaling does with theirs. Simonyan & Zisserman (2015, Sec. 3.1)
    sampled weights from a zero-mean normal with variance 10^-2 and trained
    the deeper VGG configurations by initialising them from a shallower
    trained net, adding that Glorot & Bengio's initialisation made this
    pre-training unnecessary. (NeuraLint's initialisation rules check
    constant, missing and repeated initialisation, not the scale.)
    """

    code = "AL029"
    name = "initialiser-scale"
    severity = Severity.WARNING
    references = (
        Ref("He et al. 2015, ICCV",
            'K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification", ICCV 2015.'),
        Ref("Glorot & Bengio 2010, AISTATS",
            'X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.'),
        Ref("Simonyan & Zisserman 2015, ICLR",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, Section 3.1.'),
    )
    options = {"min_layers": 3, "max_factor": 100.0}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        min_layers = int(ctx.option("min_layers"))
        limit = math.log10(float(ctx.option("max_factor")))
        # per node: (log10 variance factor, fixed-init layers, first such layer) along the worst path
        grow: dict[int, tuple[float, int, Node | None]] = {}
        shrink: dict[int, tuple[float, int, Node | None]] = {}
        worst: tuple[float, int, Node | None] = (0.0, 0, None)
        for node in graph.nodes:
            preds = node.predecessors()
            g = max((grow[id(p)] for p in preds), default=(0.0, 0, None), key=lambda t: t[0])
            # a sum is no smaller than its largest term: a residual add keeps the skip path's variance
            pick = max if node.kind is OpKind.ADD else min
            s = pick((shrink[id(p)] for p in preds), default=(0.0, 0, None), key=lambda t: t[0])
            if node.kind in NORM_KINDS:  # a normalisation sets the variance again: the chain starts anew
                g = s = (0.0, 0, None)
            if node.kind in WEIGHT_KINDS:
                init = kernel_init(node)
                std = fixed_std(*init) if init and init[0] in FIXED else None
                fan = fan_in(node)
                if std is not None and fan:
                    f = math.log10(max(fan * std * std / _gain(node), 1e-300))
                    g = (g[0] + f, g[1] + 1, g[2] or node)
                    s = (s[0] + f, s[1] + 1, s[2] or node)
                # a fan-in-scaled layer keeps the variance: factor 1, nothing to add
            grow[id(node)], shrink[id(node)] = g, s
            for cand in (g, s):
                if cand[1] >= min_layers and abs(cand[0]) > abs(worst[0]):
                    worst = cand
        factor, layers, first = worst
        if first is None or abs(factor) < limit:
            return
        verb = "grows" if factor > 0 else "shrinks"
        init = kernel_init(first)
        std = fixed_std(*init) if init else None
        yield self.finding(
            first,
            f"{layers} layers from '{first.layer}' on use fixed-scale {init[0] if init else ''} initialisers"
            f"{f' (std {std:.3g})' if std is not None else ''}: the activation variance {verb} about "
            f"{10 ** abs(factor):.0e}x through them, so signals and gradients "
            f"{'explode' if factor > 0 else 'vanish'}",
            "use he_normal (ReLU) or glorot_uniform (tanh/sigmoid) kernel initialisers, which scale with the fan-in",
            ctx,
            layers=layers,
            log10_factor=round(factor, 2),
        )

    autofix = 'sets a fan-in-scaled initialiser (`he_normal`, or `glorot_uniform` before tanh/sigmoid) on every weight layer with a fixed-scale one'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs

        edits = []
        for node in graph.of_kind(*WEIGHT_KINDS):
            init = kernel_init(node)
            if not init or init[0] not in FIXED:
                continue
            acts = [activation_of(n) for n in (node, *node.successors())]
            name = "glorot_uniform" if any(a in ("tanh", "sigmoid") for a in acts) else "he_normal"
            edits.append(SetAttrs(node, {"kernel_initializer": name}))
        if not edits:
            return None
        return Rewrite(self.code, finding.node, f"fan-in-scaled initialisers on {len(edits)} layers", edits)
