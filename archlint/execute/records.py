"""Graph records an executor reads, finished after the pass pipeline's fusions
(no torch here): parameter counts from the weights each node reads, and the
random masks of a training-mode capture.

:class:`archlint.graph.passes.ExecutableWeights` (the pipeline's ``weights``
pass) calls :func:`finish_weights`."""

from __future__ import annotations

import math
from typing import Any

from archlint.execute.spec import Fused, Impl, W, WeightTable, leaves
from archlint.graph import Graph, OpKind


def _op_name(target: str) -> str:
    t = target.removeprefix("torch.ops.")
    parts = t.split(".")
    return parts[1] if parts[0] == "aten" and len(parts) >= 2 else parts[-1]


def finish_weights(graph: Graph) -> bool:
    """Count parameters and mark random masks on a graph captured from a torch
    module (its weight table's source is "module"); other graphs are left alone."""
    table = graph.meta.get("weights")
    if not isinstance(table, WeightTable) or table.source != "module":
        return False
    count_params(graph, table)
    mark_random_masks(graph)
    return True


def count_params(graph: Graph, weights: WeightTable) -> None:
    """Each node's ``params``: the trainable tensors it reads that no earlier
    node read (so a shared table counts once, and a free parameter -- a class
    token, a position embedding -- counts at the node that uses it). The
    graph's total is then the module's ``sum(p.numel())`` over the parameters
    the forward pass reads."""
    seen: set[str] = set()

    def reads(impl: Any) -> list[str]:
        if isinstance(impl, Fused):
            return [w for m in impl.members for w in reads(m.impl)]
        if not isinstance(impl, Impl):
            return []
        return [leaf.name for c in impl.calls for leaf in leaves(c.args) if isinstance(leaf, W)]

    for node in graph.nodes:
        total = 0
        for w in reads(node.impl):
            ref = weights.get(w)
            if ref is None or ref.role not in ("param", "frozen") or ref.key in seen:
                continue
            seen.add(ref.key)
            if ref.shape is not None and all(isinstance(d, int) for d in ref.shape):
                total += math.prod(ref.shape)  # a scalar parameter (CLIP's logit scale) counts 1
        if node.impl is not None and (total or "params" in node.attrs):
            node.attrs["params"] = total


#: ATen ops that sample: a value computed from one is a random mask
_RANDOM = {"bernoulli", "rand", "rand_like", "randn", "randn_like", "uniform", "normal", "exponential", "randint",
           "randint_like", "randperm", "multinomial", "native_dropout"}


def mark_random_masks(graph: Graph) -> None:
    """A multiplication of features by a random mask recorded in training mode
    (torchvision's and timm's stochastic depth, a hand-written dropout: the
    ``if not self.training`` branch is not in a training capture) passes the
    features through in eval mode, as the original does: the mask has mean 1."""
    random: set[int] = set()
    for n in graph.nodes:
        op = n.op_type.rstrip("_")
        if op in _RANDOM:
            random.add(id(n))
            continue
        ins = [v.producer for v in n.inputs]
        if op in ("mul", "div") and len(ins) == 1 and isinstance(n.impl, Impl) and any(
            _op_name(c.op).rstrip("_") in _RANDOM for c in n.impl.calls[:-1]
        ):
            n.impl.eval_input = 0  # the mask is sampled from weights-free calls before it
            continue
        if op in ("mul", "div") and len(ins) == 2 and isinstance(n.impl, Impl):
            masked = [i for i, p in enumerate(ins) if p is not None and id(p) in random]
            if len(masked) == 1:
                n.impl.eval_input = 1 - masked[0]
                continue
        if ins and any(p is not None and id(p) in random for p in ins) and (
            n.kind in (OpKind.IDENTITY, OpKind.RESHAPE) or len(n.inputs) == 1
        ):
            random.add(id(n))  # scaled, cast or reshaped: still the mask
