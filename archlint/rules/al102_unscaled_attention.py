from __future__ import annotations

import math
from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules.base import Ref, Rule, RuleContext


def _prescaled(node: Node) -> bool:
    """Queries or keys multiplied by a constant between their projection and
    the attention (Whisper and BART scale q, then call SDPA with scale=1)."""
    for v in node.inputs[:2]:
        cur = v.producer
        for _ in range(12):
            if cur is None or cur.kind not in (OpKind.IDENTITY, OpKind.RESHAPE):
                break
            if cur.attrs.get("constant_mul") or cur.attrs.get("constant_div"):
                return True
            cur = cur.inputs[0].producer if cur.inputs else None
    return False


class UnscaledAttention(Rule):
    """Attention scores are not scaled by 1/sqrt(head_dim).

    ## What it flags
    An attention whose scale is visible and is 1: a written-out
    `softmax(q @ k.T) @ v` with no division or multiplication anywhere on
    the query, key or score path, or `scaled_dot_product_attention(...,
    scale=1.0)` on queries and keys that were not scaled before (Whisper
    scales the queries, then passes `scale=1.0`: not flagged). Attention whose scale cannot be read (a scale from a
    tensor, fused kernels without the attribute) is not flagged.

    ## Why it hurts
    With unit-variance queries and keys the dot product of two `d`-dimensional
    head vectors has variance `d`. Unscaled, the softmax saturates as `d`
    grows: almost all weight goes to one key and the gradients through the
    other scores vanish. Vaswani et al. (2017) introduce the `1/sqrt(d_k)`
    factor for this reason. Unscaled logits are also larger, which is where
    fp16 overflows start.

    ## Example
    ```python
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    out = weights @ v
    ```

    ## Use instead
    ```python
    out = F.scaled_dot_product_attention(q, k, v)      # scales by 1/sqrt(head_dim)
    # or: weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    ```

    ## Evidence
    Vaswani et al. (2017, Sec. 3.2.1) motivate the factor with the variance
    argument above; they report that additive attention beats unscaled
    dot-product attention for large `d_k`, not a controlled ablation of the
    factor. The evidence is mixed where the scaling is folded elsewhere on
    purpose: T5 (Raffel et al. 2020) omits it and scales the query
    projection's initialisation instead, and muP (Yang et al. 2021) uses
    `1/d`. Hence an info, not a warning: check that the scaling lives
    somewhere.
    """

    code = "AL102"
    name = "unscaled-attention"
    severity = Severity.INFO
    references = (
        Ref("Vaswani et al. 2017, NeurIPS",
            'A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017, Sec. 3.2.1.'),
        Ref("Raffel et al. 2020, JMLR",
            'C. Raffel et al., "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer", JMLR 2020.'),
        Ref("Yang et al. 2021, NeurIPS",
            'G. Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", NeurIPS 2021.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.ATTENTION):
            a = node.attrs
            scale = a.get("scale")
            unscaled = (a.get("decomposed") and a.get("scale_ops") == 0) or (
                isinstance(scale, (int, float)) and not a.get("scale_default") and abs(float(scale) - 1.0) < 1e-9
            )
            if not unscaled or (not a.get("decomposed") and _prescaled(node)):
                continue
            d = a.get("head_dim")
            spread = f": with head dim {d} the score spread is sqrt({d}) = {math.sqrt(d):.3g}x the scaled one" if d else ""
            yield self.finding(
                node,
                f"attention '{node.layer}' does not scale its scores by 1/sqrt(head_dim){spread}, "
                "so the softmax saturates and its gradients vanish",
                "divide q @ k^T by sqrt(head_dim) (F.scaled_dot_product_attention does by default); if the "
                "scaling is folded into the query projection on purpose (T5), ignore this for the layer",
                ctx,
                head_dim=d,
            )

    autofix = "none: a fused attention's scale is set where it is called; pass `scale=None` or divide the scores by sqrt(head_dim)"
