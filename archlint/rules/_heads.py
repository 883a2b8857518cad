"""What the model's outputs are: the activation that produces each, and its width.

Shared by the loss and output rules (AL025, AL026). Looks through layers that
do not change what an output means (identity, dropout, reshape, flatten).
"""

from __future__ import annotations

from dataclasses import dataclass

from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind, Value
from archlint.rules._match import NOT_NONLINEAR

_PASSIVE = frozenset({OpKind.IDENTITY, OpKind.DROPOUT, OpKind.RESHAPE, OpKind.FLATTEN, OpKind.OUTPUT})


@dataclass
class Head:
    """One model output: ``activation`` is "linear" for a weight layer with none."""

    index: int
    value: Value
    node: Node  # the activation, or the weight layer that produces the output
    activation: str
    width: int | None  # units / channels the activation normalises over

    @property
    def layer(self) -> str:
        return self.node.layer


def _width(node: Node, value: Value) -> int | None:
    shape = value.shape or node.output.shape
    if shape is None or len(shape) < 2:
        return node.attrs.get("units") or node.attrs.get("channels")
    return shape[1]


def heads(graph: Graph) -> list[Head]:
    """Each graph output whose producer is an activation or a weight layer (looking through passive ops)."""
    out: list[Head] = []
    for i, v in enumerate(graph.outputs):
        cur = v.producer
        while cur is not None and cur.kind in _PASSIVE:
            preds = cur.predecessors()
            cur = preds[0] if len(preds) == 1 else None
        if cur is None:
            continue
        if cur.kind is OpKind.ACTIVATION:
            act = cur.attrs.get("activation")
            act = "linear" if act in NOT_NONLINEAR else str(act)
        elif cur.kind in WEIGHT_KINDS:
            act = cur.attrs.get("activation")
            act = "linear" if act in NOT_NONLINEAR else str(act)
        else:
            continue
        out.append(Head(i, v, cur, act, _width(cur, cur.output)))
    return out
