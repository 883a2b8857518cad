from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, WEIGHT_KINDS, Graph, OpKind
from archlint.rules._match import SATURATING, activation_of, feeding, walk_up_chain
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_PASSIVE = frozenset({OpKind.IDENTITY, OpKind.DROPOUT})


class DeepSaturatingStack(Rule):
    """A deep stack of sigmoid or tanh hidden layers has no normalisation.

    ## What it flags
    A network with at least `min_layers` (default 4) hidden weight layers
    followed by a saturating activation (sigmoid, tanh, hard sigmoid,
    softsign) and no batch, layer, group or instance normalisation anywhere.
    Output activations and gates (a sigmoid that multiplies another tensor,
    as in squeeze-and-excitation or LSTM cells) are not counted. One finding,
    at the first such activation.

    ## Why it hurts
    Sigmoid and tanh saturate: their derivatives are at most 0.25 and 1 and
    vanish for large inputs. Through several layers the backpropagated
    gradient shrinks multiplicatively, the top layers of a sigmoid network
    saturate early in training and the lower layers barely learn (Glorot &
    Bengio, 2010). Normalisation keeps pre-activations in the non-saturated
    range; ReLU-family activations avoid the problem.

    ## Example
    ```python
    Dense(256, activation="sigmoid"), Dense(256, activation="sigmoid"),
    Dense(256, activation="sigmoid"), Dense(256, activation="sigmoid"), Dense(10)
    ```

    ## Use instead
    ```python
    Dense(256), BatchNormalization(), ReLU(), ...   # or GELU / SiLU, He initialisation
    ```
    """

    code = "AL010"
    name = "deep-saturating-stack"
    severity = Severity.WARNING
    references = (
        Ref("Glorot & Bengio 2010, AISTATS",
            'X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward neural networks", AISTATS 2010.'),
        Ref("Ioffe & Szegedy 2015, ICML",
            'S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015.'),
    )
    options = {"min_layers": 4}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        if any(True for _ in graph.of_kind(*NORM_KINDS)):
            return
        min_layers = int(ctx.option("min_layers"))
        hidden = []
        feeds_weights = feeding(graph.nodes, WEIGHT_KINDS)
        for act in graph.nodes:
            if activation_of(act) not in SATURATING:
                continue
            if any(s.kind is OpKind.MUL for s in act.successors()):
                continue  # a gate
            if act.kind is OpKind.ACTIVATION:
                src, _ = walk_up_chain(act, _PASSIVE)
                if src is None or src.kind not in WEIGHT_KINDS:
                    continue
            if id(act) not in feeds_weights:
                continue
            hidden.append(act)
        if len(hidden) < min_layers:
            return
        names = sorted({str(activation_of(a)) for a in hidden})
        first = hidden[0]
        yield self.finding(
            first,
            f"{len(hidden)} hidden layers use saturating activations ({', '.join(names)}) with no "
            f"normalisation anywhere, starting at '{first.layer}': gradients vanish through the stack",
            "use ReLU-family activations (ReLU, GELU, SiLU) or add batch/layer normalisation before each activation",
            ctx,
            layers=[a.layer for a in hidden],
        )

    autofix = 'replaces each hidden sigmoid/tanh activation it counted with ReLU'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs

        layers = set(finding.data.get("layers") or ())
        acts = [n for n in graph.nodes if n.layer in layers and activation_of(n) in SATURATING]
        if not acts:
            return None
        return Rewrite(self.code, finding.node, f"use ReLU in {len(acts)} hidden layers",
                       [SetAttrs(n, {"activation": "relu"}) for n in acts])
