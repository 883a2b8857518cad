from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, Node, OpKind
from archlint.rules._seq import PASSIVE, frontier, pre_norm_adds
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


#: the most nodes looked at downstream of a stack's end
_LOOK_AHEAD = 400


def _network_goes_on(end: Node) -> bool:
    """Whether a normalisation, a residual sum or attention is reached downstream of ``end``: a
    final norm applied after global pooling (MaxViT, DaViT, BEiT), or a projection inside the
    network that is not its head (PiT's pooling between stages, the transformer blocks of a UNet)."""
    seen: set[int] = set()
    stack = list(end.successors())
    while stack and len(seen) < _LOOK_AHEAD:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in NORM_KINDS or n.kind in (OpKind.ADD, OpKind.ATTENTION):
            return True
        stack.extend(n.successors())
    return False


def _blocks_since_norm(add: Node, adds: set[int], limit: int = 10_000) -> int:
    """Pre-norm blocks on the residual stream up to ``add``, since the stream started or last passed
    a normalisation (the stream input of ``x + f(norm(x))`` is the one a normalisation also reads)."""
    count, cur = 0, add
    for _ in range(limit):
        if id(cur) not in adds:
            return count  # a normalisation, or where this stream starts (an embedding, a pooling head's projection)
        count += 1
        stream = [v for v in cur.inputs if any(c.kind in NORM_KINDS for c in v.consumers)]
        nxt = stream[0].producer if len(stream) == 1 else None
        while nxt is not None and nxt.kind in PASSIVE:
            nxt = nxt.inputs[0].producer if nxt.inputs else None
        if nxt is None:
            return 10_000
        cur = nxt
    return count


class MissingFinalNorm(Rule):
    """A pre-norm transformer stack ends without a final normalisation.

    ## What it flags
    A stack of at least `min_blocks` (default 2) pre-norm residual blocks,
    `x = x + f(norm(x))`, whose last residual sum goes to the model's output
    or to a dense head without passing a LayerNorm / RMSNorm. Post-norm
    stacks (BERT, `x = norm(x + f(x))`) are not flagged; nor is a stream that
    is normalised on one of its paths (CLIP's vision tower normalises the
    pooled token and also returns the raw hidden states).

    ## Why it hurts
    In a pre-norm stack every block adds its output to the residual stream
    and nothing rescales the sum: the stream's magnitude grows with depth
    (Xiong et al. 2020, Sec. 3). The blocks themselves only ever see a
    normalised copy, so the growth is harmless inside the stack, but the
    head (an LM's vocabulary projection, a classifier) reads the raw sum.
    That is why GPT-2 added `ln_f` when it moved the norms to the block
    inputs (Radford et al. 2019, Sec. 2.3), and why Llama, T5 and ViT
    normalise the last block's output.

    ## Example
    ```python
    layer = nn.TransformerEncoderLayer(512, 8, norm_first=True, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=6)            # norm=None
    ```

    ## Use instead
    ```python
    encoder = nn.TransformerEncoder(layer, num_layers=6, norm=nn.LayerNorm(512))
    ```

    ## Evidence
    Xiong et al. (2020) derive the growth of the pre-LN stream and train
    their Pre-LN Transformer with a final layer norm; GPT-2, GPT-3, Llama,
    T5 and ViT all have one. No controlled ablation of the final norm alone
    was found; the grade is convention.
    """

    code = "AL101"
    name = "missing-final-norm"
    severity = Severity.WARNING
    references = (
        Ref("Xiong et al. 2020, ICML",
            'R. Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.'),
        Ref("Radford et al. 2019, GPT-2 report",
            'A. Radford et al., "Language Models are Unsupervised Multitask Learners", OpenAI 2019, Sec. 2.3.'),
    )
    options = {"min_blocks": 2}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        adds = pre_norm_adds(graph.of_kind(OpKind.ADD))
        if len(adds) < int(ctx.option("min_blocks")):
            return
        for add in adds:
            ends = frontier(add.output, PASSIVE)
            if any(n.kind in NORM_KINDS or n.kind is OpKind.ADD for n in ends):
                continue  # the stream goes on into another block, or is normalised
            if not any(n.kind in (OpKind.OUTPUT, OpKind.DENSE, OpKind.GLOBAL_POOL) for n in ends):
                continue
            if any(_network_goes_on(n) for n in ends if n.kind is not OpKind.OUTPUT):
                continue  # a norm after the pooling (MaxViT, DaViT), or an inner projection (PiT, a UNet)
            if _blocks_since_norm(add, set(map(id, adds))) < int(ctx.option("min_blocks")):
                continue  # the stream was normalised a block ago (a norm, then an attention-pooling head)
            yield self.finding(
                add,
                f"the pre-norm residual stack ({len(adds)} residual blocks) ends at '{add.layer}' without a "
                "final normalisation: the output is the raw residual stream, whose scale grows with depth",
                f"add a LayerNorm or RMSNorm after '{add.layer}' (GPT-2's ln_f, Llama's final norm)",
                ctx,
                blocks=len(adds),
            )

    autofix = ("inserts a LayerNorm (scale 1, shift 0) after the last residual sum, so the output and any head "
               "read the normalised stream")

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Insert, NewLayer, Rewrite, node_named

        node = node_named(graph, finding.node)
        shape = node.outputs[0].shape if node is not None and node.outputs else None
        if node is None or not shape or not isinstance(shape[-1], int):
            return None
        norm = NewLayer(OpKind.LAYER_NORM, f"{node.layer}_final_norm", {"dim": shape[-1]})
        return Rewrite(self.code, node.name, f"a final LayerNorm after '{node.layer}'", [Insert(node, "after", norm)])
