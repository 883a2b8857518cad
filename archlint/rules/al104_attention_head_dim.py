from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules.base import Ref, Rule, RuleContext


class AttentionHeadDim(Rule):
    """An attention head's size is not a multiple of 8.

    ## What it flags
    An attention whose head dimension (read from the query's shape or the
    layer's configuration) is not a multiple of `multiple` (default 8),
    e.g. a model width of 100 split into 4 heads of 25.

    ## Why it hurts
    Fused attention kernels and tensor cores work on head sizes that are
    multiples of 8: FlashAttention supports head dimensions that are
    multiples of 8 up to 256, and PyTorch's `scaled_dot_product_attention`
    falls back to the slower math kernel otherwise. Odd head sizes also
    leave GEMM tiles partly empty in the projections around the attention.

    ## Example
    ```python
    nn.MultiheadAttention(embed_dim=100, num_heads=4)      # head dim 25
    ```

    ## Use instead
    ```python
    nn.MultiheadAttention(embed_dim=128, num_heads=4)      # head dim 32
    ```

    ## Evidence
    A throughput rule from the kernels' documented constraints (Dao et al.
    2022; NVIDIA's performance guide), not an accuracy claim; published
    models use head sizes of 32, 64, 80 or 128.
    """

    code = "AL104"
    name = "attention-head-dim"
    severity = Severity.INFO
    references = (
        Ref("Dao et al. 2022, NeurIPS (FlashAttention)",
            'T. Dao et al., "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022.'),
        Ref("NVIDIA Deep Learning Performance Guide",
            'NVIDIA, "Deep Learning Performance Guide: Matrix Multiplication", Tensor Core requirements.'),
    )
    options = {"multiple": 8}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        multiple = int(ctx.option("multiple"))
        for node in graph.of_kind(OpKind.ATTENTION):
            d = node.attrs.head_dim
            if not isinstance(d, int) or d <= 0 or d % multiple == 0:
                continue
            heads = node.attrs.heads
            split = f" ({heads} heads)" if heads else ""
            up = -(-d // multiple) * multiple
            yield self.finding(
                node,
                f"attention '{node.layer}' has heads of size {d}{split}, not a multiple of {multiple}: fused "
                "attention kernels fall back to slower paths",
                f"choose the width and head count so each head has {up} (or another multiple of {multiple}) dimensions",
                ctx,
                head_dim=d,
                heads=heads,
            )

    autofix = 'none: the head count and width are a design choice'
