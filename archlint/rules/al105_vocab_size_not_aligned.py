from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules._seq import token_embeddings
from archlint.rules.base import Ref, Rule, RuleContext


class VocabSizeNotAligned(Rule):
    """A token embedding's vocabulary size is not a multiple of 64.

    ## What it flags
    An embedding table looked up with the model's token ids whose number of
    rows is not a multiple of `multiple` (default 64), and its width when
    that is not a multiple of 8. Opt-in: a hardware rule, like AL020.

    ## Why it hurts
    The vocabulary size is a GEMM dimension of the output projection (tied
    or not), the largest matrix multiply of a small language model. An
    unaligned size makes the kernels pad or pick slower tiles. Padding
    GPT-2's 50,257 tokens to 50,304 (a multiple of 64) is a known, free
    speed-up; Megatron-LM pads the vocabulary to a multiple of 128 per
    tensor-parallel rank.

    ## Example
    ```python
    nn.Embedding(50257, 768)
    ```

    ## Use instead
    ```python
    nn.Embedding(50304, 768)     # rows past the tokenizer's vocabulary are never looked up
    ```

    ## Evidence
    A throughput rule of thumb (NVIDIA's performance guide; Shoeybi et al.
    2019 pad the vocabulary for this reason); no accuracy claim.
    """

    code = "AL105"
    name = "vocab-size-not-aligned"
    severity = Severity.INFO
    references = (
        Ref("Shoeybi et al. 2019 (Megatron-LM)",
            'M. Shoeybi et al., "Megatron-LM: Training Multi-Billion Parameter Language Models Using Model Parallelism", 2019.'),
        Ref("NVIDIA Deep Learning Performance Guide",
            'NVIDIA, "Deep Learning Performance Guide: Matrix Multiplication", Tensor Core requirements.'),
    )
    options = {"multiple": 64}
    opt_in = True

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        multiple = int(ctx.option("multiple"))
        for node in token_embeddings(graph):
            vocab, dim = node.attrs.get("vocab"), node.attrs.get("dim")
            bad = []
            if isinstance(vocab, int) and vocab % multiple:
                bad.append(f"{vocab:,} rows (not a multiple of {multiple})")
            if isinstance(dim, int) and dim % 8:
                bad.append(f"width {dim} (not a multiple of 8)")
            if not bad:
                continue
            up = -(-vocab // multiple) * multiple if isinstance(vocab, int) else None
            yield self.finding(
                node,
                f"embedding '{node.layer}' has {' and '.join(bad)}: the output projection's GEMM runs on "
                "padded or slower tiles",
                f"pad the vocabulary to {up:,} rows" if up else "use a width that is a multiple of 8",
                ctx,
                vocab=vocab,
                dim=dim,
            )

    autofix = "none: padding the vocabulary changes the embedding table and the tokenizer's contract"
