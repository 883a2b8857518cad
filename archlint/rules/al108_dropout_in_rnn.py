from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._match import nearest_downstream
from archlint.rules.base import Ref, Rule, RuleContext

_VIEW = frozenset({OpKind.RESHAPE, OpKind.IDENTITY})


class DropoutInRnn(Rule):
    """A recurrent layer uses dropout with a fresh mask at every time step.

    ## What it flags
    A stacked LSTM / GRU / RNN with `dropout > 0` whose masks are drawn anew
    for each time step (PyTorch's `nn.LSTM(dropout=...)` between stacked
    layers). Keras' `dropout` and `recurrent_dropout`, which reuse one mask
    over the sequence (the variational form), are not flagged. Advisory.

    ## Why it hurts
    Gal & Ghahramani (2016) show that dropout in RNNs is approximate
    Bayesian inference only when the same mask is used at every step, on
    the inputs, outputs and recurrent connections alike; with per-step
    masks the recurrent state is perturbed differently at each step. Their
    variational LSTM beat the per-step dropout of Zaremba et al. (2014) on
    Penn Treebank (Table 1).

    ## Example
    ```python
    nn.LSTM(256, 256, num_layers=2, dropout=0.3)
    ```

    ## Use instead
    ```python
    nn.LSTM(256, 256, num_layers=2)   # plus one dropout mask per sequence (locked /
                                      # variational dropout) on inputs and outputs, or
    keras.layers.LSTM(256, dropout=0.3, recurrent_dropout=0.3)
    ```

    ## Evidence
    Mixed. Gal & Ghahramani (2016) report lower perplexity with variational
    dropout; Zaremba et al. (2014) trained strong LSTM language models with
    exactly the non-recurrent per-step dropout that PyTorch implements, and
    Merity et al. (2018) combine both. Hence an info: consider the
    variational form, especially for small data.
    """

    code = "AL108"
    name = "dropout-in-rnn"
    severity = Severity.INFO
    references = (
        Ref("Gal & Ghahramani 2016, NeurIPS",
            'Y. Gal, Z. Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural Networks", NeurIPS 2016.'),
        Ref("Zaremba et al. 2014",
            'W. Zaremba, I. Sutskever, O. Vinyals, "Recurrent Neural Network Regularization", 2014.'),
        Ref("Merity et al. 2018, ICLR",
            'S. Merity, N. S. Keskar, R. Socher, "Regularizing and Optimizing LSTM Language Models", ICLR 2018.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.RNN):
            a = node.attrs
            rate = a.get("dropout") or 0.0
            layers = int(a.get("layers", 1) or 1)
            if not rate and not a.get("variational"):
                # an export that split the stack: RNN -> Dropout -> RNN (one layer each)
                drops = [d for d in nearest_downstream(node, _VIEW) if d.kind is OpKind.DROPOUT]
                nxt = [r for d in drops for r in nearest_downstream(d, _VIEW) if r.kind is OpKind.RNN]
                if nxt:
                    rate = drops[0].attrs.get("rate") or 0.0
                    layers = 2
            if a.get("variational") or not rate or layers < 2:
                continue
            cell = str(a.get("cell", "rnn")).upper()
            yield self.finding(
                node,
                f"{cell} '{node.layer}' drops {rate:g} of the outputs between its {layers} stacked "
                "layers with a new mask at every time step (not the variational form)",
                "use one dropout mask per sequence (variational / locked dropout) on the layer inputs and "
                "outputs, or Keras' dropout and recurrent_dropout",
                ctx,
                rate=rate,
            )

    autofix = "none: variational dropout is written in the model's code, not in the graph"
