from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from archlint.findings import Finding, Severity
from archlint.graph import Graph
from archlint.rules._heads import Head, heads
from archlint.rules.base import Ref, Rule, RuleContext

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


#: metrics that score one class per sample (Keras resolves "accuracy" by the loss)
_ONE_LABEL_METRICS = frozenset({"categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
                                "sparse_top_k_categorical_accuracy"})
_ONE_HOT = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy"})


def mismatch(loss: dict[str, Any], head: Head, metrics: list[str] | tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(problem, fix) when ``loss`` cannot train ``head`` as configured, else None.
    ``metrics`` are the compiled metric names: they say what the task is."""
    name, logits, act, width = loss["name"], loss["from_logits"], head.activation, head.width
    pretty = name.replace("_", " ")
    mset = {str(m).lower() for m in metrics}
    one_label = sorted(mset & _ONE_LABEL_METRICS)
    if name == "sparse_categorical_crossentropy" and {"categorical_accuracy", "top_k_categorical_accuracy"} & mset:
        return (
            f"sparse categorical cross entropy reads integer class labels, but the metric "
            f"'{sorted({'categorical_accuracy', 'top_k_categorical_accuracy'} & mset)[0]}' reads one-hot labels: one of "
            f"the two is scored against the wrong label encoding for the {width}-unit output '{head.layer}'",
            "use sparse_categorical_accuracy with integer labels (or categorical_crossentropy with one-hot labels)",
        )
    if name in _ONE_HOT and {"sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"} & mset:
        return (
            f"{pretty} reads one-hot labels of width {width}, but the metric "
            f"'{sorted({'sparse_categorical_accuracy', 'sparse_top_k_categorical_accuracy'} & mset)[0]}' reads "
            f"integer labels: one of the two is scored against the wrong label encoding",
            "use sparse_categorical_crossentropy with integer labels, or categorical_accuracy with one-hot labels",
        )
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
        if not logits and act == "softmax" and width == 2:
            return (
                f"{pretty} on a softmax over the 2 units of '{head.layer}': with one 0/1 label column both "
                "units are pushed toward the same target while the softmax makes them sum to 1, so nothing "
                "is learnt; with one-hot labels it only repeats categorical cross entropy and 'accuracy' "
                "becomes binary accuracy over both units",
                f"use Dense(1, activation='sigmoid') in '{head.layer}' with binary_crossentropy, or keep the "
                "2-unit softmax with (sparse_)categorical_crossentropy",
            )
        if act == "sigmoid" and (width or 0) > 2 and ("accuracy" in mset or "acc" in mset or one_label):
            shown = one_label[0] if one_label else "accuracy"
            return (
                f"{pretty} on the {width} sigmoid units of '{head.layer}' with the metric '{shown}': the loss "
                "trains each unit as an independent yes/no label, while the metric scores one class per "
                "sample (Keras turns 'accuracy' into binary accuracy over all units, which reads "
                f"{1 - 1 / width:.0%} when every unit says no): for one class per sample the classes are "
                "never trained against each other",
                f"for one class per sample use softmax in '{head.layer}' with categorical_crossentropy; for "
                "several labels per sample keep sigmoid and name the metric (binary_accuracy, AUC, precision)",
            )
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
    a softmax over two or more units or on outputs with no sigmoid; binary
    cross entropy on more than two sigmoid units compiled with an
    `accuracy` (one class per sample) metric; a sparse loss with a one-hot
    metric or the reverse; a loss with `from_logits=True` fed
    probabilities; squared or absolute error on a softmax classifier. A
    multi-label head (sigmoid units, binary cross entropy, metrics such as
    `binary_accuracy` or AUC) is not flagged. Pairings that are wrong only
    for the task the metrics state (an `accuracy` metric on sigmoid units,
    a sparse/one-hot disagreement) are warnings: the metric, not the loss,
    may be the mistake; so is a 2-unit softmax under binary cross entropy,
    which trains with one-hot labels and fails with one 0/1 column. ONNX and PyTorch files carry no loss, so
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
    """

    code = "AL025"
    name = "loss-output-mismatch"
    severity = Severity.ERROR
    references = (
        Ref("Goodfellow et al. 2016, Deep Learning, Sec. 6.2.2",
            'I. Goodfellow, Y. Bengio, A. Courville, "Deep Learning", MIT Press 2016, Sections 6.2.2.2-6.2.2.3.'),
        Ref("Golik et al. 2013, Interspeech",
            'P. Golik, P. Doetsch, H. Ney, "Cross-Entropy vs. Squared Error Training: a Theoretical and Experimental Comparison", Interspeech 2013.'),
        Ref("Nikanjam et al. 2021, TOSEM (NeuraLint)",
            'A. Nikanjam, H. B. Braiek, M. M. Morovati, F. Khomh, "Automatic Fault Detection for Deep Learning Programs Using Graph Transformations", TOSEM 2021 (NeuraLint).'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        training = graph.meta.get("training")
        if not isinstance(training, dict) or not training.get("losses"):
            return
        hs = heads(graph)
        metrics = [m for m in training.get("metrics") or () if isinstance(m, str)]
        for loss in training["losses"]:
            for head in hs:
                if not _applies(loss, head):
                    continue
                found = mismatch(loss, head, metrics)
                if found is None:
                    continue
                problem, fix = found
                # a pairing wrong only given what the metrics say about the task (one class per
                # sample, a label encoding) is a warning: the metric may be the mistake
                by_metric = mismatch(loss, head) is None
                # a 2-unit softmax under binary cross entropy trains with one-hot labels (twice the
                # categorical loss) and fails with one 0/1 column: which, the file does not say
                labels_unknown = loss["name"] in BINARY and head.activation == "softmax" and head.width == 2
                yield self.finding(
                    head.node,
                    problem,
                    fix,
                    ctx,
                    severity=Severity.WARNING if by_metric or labels_unknown else None,
                    task_from_metrics=by_metric,
                    depends_on_labels=labels_unknown,
                    loss=loss["name"],
                    from_logits=loss["from_logits"],
                    activation=head.activation,
                    units=head.width,
                )

    autofix = ("sets the loss the output matches (binary cross entropy for one unit, `from_logits` to what the output "
               "holds, categorical cross entropy for a softmax classifier) or the output activation the loss expects "
               "(softmax over sigmoid units); a label-format or metric mismatch is left alone, since which side is "
               "wrong depends on the data")

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
