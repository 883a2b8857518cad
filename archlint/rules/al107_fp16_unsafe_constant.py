from __future__ import annotations

import math
from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import activation_of
from archlint.rules.base import Ref, Rule, RuleContext

FP16_MAX = 65504.0
FP32_MAX = 3.4028234663852886e38
_FILL_OPS = frozenset({"masked_fill", "where", "add", "sub", "mul", "fill", "masked_fill_"})
#: ops that put the constant in place of a score (not added to it)
_REPLACING = frozenset({"masked_fill", "where", "fill", "full", "full_like"})


def _unsafe(c: float) -> bool:
    """A float32 capture's constant, when no half-precision capture says what the model would use."""
    if not math.isfinite(c) or abs(c) <= FP16_MAX:
        return False
    # torch.finfo(torch.float32).min: dtype-aware code writes this number in a float32 trace and
    # float16's minimum in half precision; unverified without a half-precision capture
    return abs(abs(c) - FP32_MAX) > FP32_MAX * 1e-7


def _unsafe_in_half(c: float, op: str) -> str | None:
    """Why the constant a half-precision capture uses is unsafe there, or None."""
    if abs(c) > FP16_MAX:
        return "it is beyond float16's range (65504): masked_fill raises, arithmetic overflows to -inf"
    if op.lower().rstrip("_") not in _REPLACING and abs(c) > FP16_MAX / 2:
        return ("added to a negative score it overflows to -inf, and a fully masked row becomes NaN "
                "after the softmax")
    return None


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
    softmax, when the constant is visible in the graph. Code may pick its
    constant by dtype (`torch.finfo(scores.dtype).min`; XLNet uses 65500 in
    float16 and 1e30 otherwise), so a PyTorch model whose float32 capture
    holds such a constant is captured again in half precision and judged on
    the constant it uses there: beyond 65504 it is flagged, and so is one
    above 32752 that is *added* to the scores (float16's minimum plus a
    negative score is -inf, and a fully masked row becomes NaN after the
    softmax); a `masked_fill` with float16's minimum is safe. Where no
    half-precision capture exists (a file, or a model that cannot be
    captured so), the exact value of `torch.finfo(torch.float32).min` is
    left alone, as what dtype-aware code writes in float32 (a literal
    float32 minimum fails in both half formats: it is not representable in
    bfloat16 either, where `masked_fill` with it raises).

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
    """

    code = "AL107"
    name = "fp16-unsafe-constant"
    severity = Severity.WARNING
    references = (
        Ref("Micikevicius et al. 2018, ICLR",
            'P. Micikevicius et al., "Mixed Precision Training", ICLR 2018.'),
        Ref("IEEE 754-2008",
            "IEEE 754-2008, binary16 format."),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        half = graph.meta.get("half_precision") or {}
        in_half = half.get("constants")  # what the model uses in half precision, when it was captured so
        for node in graph.nodes:
            consts: list[float] = []
            if node.kind is OpKind.ATTENTION:
                consts = [float(c) for c in node.attrs.get("mask_constants") or () if isinstance(c, (int, float))]
            elif node.op_type.lower().rstrip("_") in _FILL_OPS or node.op_type in ("Where", "Add", "Sub", "Mul"):
                c = node.attrs.get("scalar")
                if isinstance(c, (int, float)) and _feeds_softmax(node):
                    consts = [float(c)]
            wide = [c for c in consts if math.isfinite(c) and abs(c) > FP16_MAX]
            if not wide:
                continue
            if in_half is not None:
                why = [(c["value"], w) for c in in_half if c["layer"] == node.layer
                       for w in [_unsafe_in_half(c["value"], c["op"])] if w]
                if not why:
                    continue  # the model picks a safe constant in half precision (by dtype)
                value, reason = why[0]
                yield self.finding(
                    node,
                    f"'{node.layer}' masks attention scores with {value:g} in half precision: {reason}",
                    "use torch.finfo(scores.dtype).min with masked_fill, a boolean mask with "
                    "scaled_dot_product_attention, or a constant such as -1e4",
                    ctx,
                    constant=value,
                    half_precision=True,
                )
                continue
            bad = [c for c in wide if _unsafe(c)]
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
