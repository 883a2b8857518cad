from __future__ import annotations

import math
from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import activation_of
from archlint.rules.base import Rule, RuleContext

FP16_MAX = 65504.0
FP32_MAX = 3.4028234663852886e38
_FILL_OPS = frozenset({"masked_fill", "where", "add", "sub", "mul", "fill", "masked_fill_"})


def _unsafe(c: float) -> bool:
    if not math.isfinite(c) or abs(c) <= FP16_MAX:
        return False
    # torch.finfo(dtype).min in a float32 trace: dtype-aware code writes the same number
    return abs(abs(c) - FP32_MAX) > FP32_MAX * 1e-7


def _feeds_softmax(node: Node, hops: int = 6) -> bool:
    stack = [(node, 0)]
    seen: set[int] = set()
    while stack:
        n, d = stack.pop()
        if id(n) in seen or d > hops:
            continue
        seen.add(id(n))
        if n is not node and (activation_of(n) == "softmax" or n.kind is OpKind.ATTENTION):
            return True
        stack.extend((s, d + 1) for s in n.successors())
    return False


class Fp16UnsafeConstant(Rule):
    """A mask constant overflows in half precision.

    ## What it flags
    A constant beyond float16's range (|c| > 65504), such as `-1e9` or
    `-3.4e38`, filled into or added to attention scores that go into a
    softmax, when the constant is visible in the graph. The exact value of
    `torch.finfo(torch.float32).min` is not flagged: dtype-aware code
    (`torch.finfo(scores.dtype).min`, as in `transformers`) writes the same
    number in a float32 trace and the right one in half precision.

    ## Why it hurts
    Under `model.half()` or autocast the constant no longer fits:
    `masked_fill` raises "value cannot be converted to type at::Half
    without overflow", and arithmetic masks become `-inf`, so a fully
    masked row (padding) turns into `NaN` after the softmax and poisons the
    loss. float16's largest finite value is 65504.

    ## Example
    ```python
    scores = scores.masked_fill(mask == 0, -1e9)
    ```

    ## Use instead
    ```python
    scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
    # or pass the mask to F.scaled_dot_product_attention
    ```

    ## Evidence
    IEEE 754 binary16 has a largest finite value of 65504 (Micikevicius et
    al. 2018 on mixed precision); the overflow is a definition, not a
    measurement. `-1e4` (BERT's original constant) is safe.

    ## References
    - P. Micikevicius et al., "Mixed Precision Training", ICLR 2018.
    - IEEE 754-2008, binary16 format.
    """

    code = "AL107"
    name = "fp16-unsafe-constant"
    severity = Severity.WARNING
    references = ("Micikevicius et al. 2018, ICLR", "IEEE 754-2008")

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.nodes:
            consts: list[float] = []
            if node.kind is OpKind.ATTENTION:
                consts = [float(c) for c in node.attrs.get("mask_constants") or () if isinstance(c, (int, float))]
            elif node.op_type.lower().rstrip("_") in _FILL_OPS or node.op_type in ("Where", "Add", "Sub", "Mul"):
                c = node.attrs.get("scalar")
                if isinstance(c, (int, float)) and _feeds_softmax(node):
                    consts = [float(c)]
            bad = [c for c in consts if _unsafe(c)]
            if not bad:
                continue
            yield self.finding(
                node,
                f"'{node.layer}' masks attention scores with {bad[0]:g}, beyond float16's range (65504): "
                "in half precision it overflows (masked_fill raises, a masked row becomes NaN)",
                "use torch.finfo(scores.dtype).min, a boolean mask with scaled_dot_product_attention, "
                "or a constant such as -1e4",
                ctx,
                constant=bad[0],
            )

    autofix = "none: the constant lives in the model's code (use `torch.finfo(dtype).min`)"
