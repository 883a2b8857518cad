from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archlint.findings import Finding, Severity
from archlint.graph import Graph
from archlint.rules._heads import Head, heads
from archlint.rules.base import Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

#: losses that read one probability distribution over the classes per sample
CATEGORICAL = frozenset({"categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_focal_crossentropy"})
#: losses that read one independent probability per unit
BINARY = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
#: regression losses
REGRESSION = frozenset(
    {"mean_squared_error", "mean_absolute_error", "huber", "log_cosh", "mean_squared_logarithmic_error"}
)
_PROB = frozenset({"softmax", "sigmoid", "log_softmax"})


def _applies(entry: dict[str, Any], head: Head) -> bool:
    out = entry.get("output")
    if out is None:
        return True
    if isinstance(out, int):
        return out == head.index
    return out in (head.layer, head.value.name, head.value.name.split(":")[0])


def mismatch(loss: dict[str, Any], head: Head) -> tuple[str, str] | None:
    """(problem, fix) when ``loss`` cannot train ``head`` as configured, else None."""
    name, logits, act, width = loss["name"], loss["from_logits"], head.activation, head.width
    pretty = name.replace("_", " ")
    if name in CATEGORICAL:
        if width == 1:
            return (
                f"{pretty} on the single output unit of '{head.layer}': with one class the loss is always "
                "0 and nothing is learnt",
                "give the output one unit per class (softmax), or use binary_crossentropy with a sigmoid unit",
            )
        if logits and act in _PROB:
            return (
                f"{pretty}(from_logits=True) reads the {act} probabilities of '{head.layer}' as logits: "
                "the loss applies softmax a second time and its gradients shrink",
                f"remove the {act} from '{head.layer}', or set from_logits=False",
            )
        if not logits and act == "sigmoid":
            return (
                f"{pretty} on sigmoid output '{head.layer}' ({width} units): the outputs do not sum to 1, "
                "so the loss is computed on renormalised scores and the classes are not trained against "
                "each other",
                f"use softmax in '{head.layer}' for one label per sample, or binary_crossentropy for "
                "independent labels",
            )
        if not logits and act not in _PROB:
            return (
                f"{pretty} expects probabilities but '{head.layer}' outputs {act} scores: they are read as "
                "probabilities (rescaled and clipped), which does not train a classifier",
                f"add softmax to '{head.layer}', or pass from_logits=True to the loss",
            )
    if name in BINARY:
        if logits and act in _PROB:
            return (
                f"{pretty}(from_logits=True) reads the {act} probabilities of '{head.layer}' as logits: "
                "the loss applies a sigmoid a second time",
                f"remove the {act} from '{head.layer}', or set from_logits=False",
            )
        if not logits and act == "softmax" and width is not None and width > 2:
            return (
                f"{pretty} on softmax output '{head.layer}' over {width} units: the units are scored as "
                "independent yes/no labels while softmax ties them together, and 'accuracy' becomes "
                "binary accuracy over all units",
                "use categorical_crossentropy with softmax (one label per sample), or sigmoid units with "
                "binary_crossentropy (several labels)",
            )
        if not logits and act not in _PROB:
            return (
                f"{pretty} expects probabilities but '{head.layer}' outputs {act} scores: they are clipped "
                "into [0, 1] and the loss's gradient vanishes outside it",
                f"add a sigmoid to '{head.layer}', or pass from_logits=True to the loss",
            )
    if name in REGRESSION and act == "softmax" and (width or 0) > 1:
        return (
            f"{pretty} on softmax classifier '{head.layer}': squared error through a softmax has vanishing "
            "gradients when the output is confidently wrong, so training stalls",
            "use categorical_crossentropy (or sparse_categorical_crossentropy for integer labels)",
        )
    return None


class LossOutputMismatch(Rule):
    """The loss the model is compiled with does not match its output layer.

    ## What it flags
    A Keras model saved with its training configuration (`.keras`
    `compile_config`, Keras 2 `.h5` `training_config`) whose loss cannot
    train its output as built: categorical cross entropy on a single unit,
    on sigmoid units or on outputs with no softmax; binary cross entropy on
    a softmax over more than two units or on outputs with no sigmoid; a
    loss with `from_logits=True` fed probabilities; squared or absolute
    error on a softmax classifier. ONNX and PyTorch files carry no loss, so
    the rule says nothing about them.

    ## Why it hurts
    The loss defines what is learnt. Categorical cross entropy reads one
    distribution per sample: over one unit it is identically zero; on
    sigmoid or linear scores Keras renormalises and clips them, so the
    classes are not trained against each other. `from_logits=True` on
    probabilities squashes twice and flattens the gradients. Squared error
    through a softmax has vanishing gradients where the prediction is
    confidently wrong (Golik et al., 2013). Keras trains all of these
    without an error: the model just learns badly.

    ## Example
    ```python
    model.add(Dense(10, activation="sigmoid"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    ```

    ## Use instead
    ```python
    model.add(Dense(10, activation="softmax"))   # or Dense(10) + from_logits=True
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    ```

    ## Evidence
    Follows from the loss definitions (Goodfellow et al. 2016, Sec. 6.2.2).
    Golik, Doetsch and Ney (2013) compare cross entropy and squared error
    on the same softmax networks: squared error from random initialisation
    converges to worse optima. These mismatches are fault classes of the
    buggy-program benchmark of Nikanjam et al. (2021), where they were
    found in real Stack Overflow and GitHub programs.

    ## References
    - I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Sections 6.2.2.2-6.2.2.3.
    - P. Golik, P. Doetsch, H. Ney, "Cross-Entropy vs. Squared Error Training: a Theoretical and
      Experimental Comparison", Interspeech 2013.
    - A. Nikanjam, H. B. Braiek, M. M. Morovati, F. Khomh, "Automatic Fault Detection for Deep
      Learning Programs Using Graph Transformations", TOSEM 2021 (NeuraLint).
    """

    code = "AL025"
    name = "loss-output-mismatch"
    severity = Severity.ERROR
    references = (
        "Goodfellow et al. 2016, Deep Learning, Sec. 6.2.2",
        "Golik et al. 2013, Interspeech",
        "Nikanjam et al. 2021, TOSEM (NeuraLint)",
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        training = graph.meta.get("training")
        if not isinstance(training, dict) or not training.get("losses"):
            return
        hs = heads(graph)
        for loss in training["losses"]:
            for head in hs:
                if not _applies(loss, head):
                    continue
                found = mismatch(loss, head)
                if found is None:
                    continue
                problem, fix = found
                yield self.finding(
                    head.node,
                    problem,
                    fix,
                    ctx,
                    loss=loss["name"],
                    from_logits=loss["from_logits"],
                    activation=head.activation,
                    units=head.width,
                )

    autofix = 'sets the loss the output matches (binary cross entropy for one unit, `from_logits` to what the output holds, categorical cross entropy for a softmax classifier) or the output activation the loss expects (softmax over sigmoid units)'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Rewrite, SetAttrs, SetLoss

        training = graph.meta.get("training") or {}
        head = next((h for h in heads(graph) if h.node.name == finding.node), None)
        loss = next((x for x in training.get("losses") or () if head is not None and _applies(x, head)), None)
        if head is None or loss is None or len(training.get("losses") or ()) != 1:
            return None  # several losses: which one to change is the user's call
        name, logits, act, width = loss["name"], loss["from_logits"], head.activation, head.width
        edits: list = []
        if name in CATEGORICAL and width == 1:
            edits.append(SetLoss("binary_crossentropy", False, was=name))
            if act != "sigmoid":
                edits.append(SetAttrs(head.node, {"activation": "sigmoid"}))
        elif name in CATEGORICAL | BINARY and logits and act in _PROB:
            edits.append(SetLoss(name, False, was=f"{name}(from_logits=True)"))
        elif name in CATEGORICAL and act == "sigmoid":
            edits.append(SetAttrs(head.node, {"activation": "softmax"}))
        elif name in CATEGORICAL | BINARY and act not in _PROB:
            edits.append(SetLoss(name, True, was=name))
        elif name in BINARY | REGRESSION and act == "softmax":
            edits.append(SetLoss("categorical_crossentropy", False, was=name))
        if not edits:
            return None
        return Rewrite(self.code, head.node.name, "; ".join(e.describe() for e in edits), edits)
