from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import REGULARISERS, through
from archlint.rules._seq import token_embeddings
from archlint.rules.base import Ref, Rule, RuleContext

#: between the token embedding and the first layer: what may sit there
_WALK = through({OpKind.IDENTITY, OpKind.RESHAPE}, REGULARISERS, {OpKind.LAYER_NORM, OpKind.RMS_NORM, OpKind.NORM},
                norm="a per-token normalisation keeps token order, which positions are about")
#: layers that see the order of the sequence themselves
_ORDERED = frozenset({OpKind.CONV, OpKind.RNN, OpKind.POOL})


def _adds_position(emb: Node) -> bool:
    """Whether something is added to (or concatenated with) the token
    embeddings, or an order-aware layer reads them, before the first layer."""
    stack = list(emb.successors())
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.kind in _ORDERED:
            return True
        if n.kind in (OpKind.ADD, OpKind.CONCAT, OpKind.MUL):
            if not _after_a_layer(n, emb):
                return True  # something added to the embeddings themselves
            continue  # a residual sum after the first block
        if n.kind is OpKind.IDENTITY and (n.attrs.get("constant_add") or n.attrs.get("constant_sub")):
            return True  # a position table or sinusoid, a constant in the graph
        if n.kind in _WALK:
            stack.extend(n.successors())
    return False


def _after_a_layer(n: Node, emb: Node, limit: int = 500) -> bool:
    """Whether a weight layer or an attention downstream of ``emb`` feeds ``n``."""
    stack = list(n.predecessors())
    seen: set[int] = set()
    while stack and len(seen) < limit:
        p = stack.pop()
        if id(p) in seen or p.index <= emb.index:
            continue
        seen.add(id(p))
        if p.kind in (OpKind.DENSE, OpKind.ATTENTION, OpKind.CONV, OpKind.RNN):
            return True
        stack.extend(p.predecessors())
    return False


def _rotary(att: Node) -> bool:
    """A rotation (a sum of two products) applied to the queries/keys between
    their projection and the attention; a constant multiply alone is a scale."""
    for v in att.inputs[:2]:
        cur = v.producer
        for _ in range(12):
            if cur is None or cur.kind in (OpKind.DENSE, OpKind.INPUT):
                break
            if cur.kind in (OpKind.ADD, OpKind.CONCAT):
                return True  # q * cos + rotate(q) * sin, or a concatenated position part
            cur = cur.inputs[0].producer if cur.inputs else None
    return False


class NoPositionalInformation(Rule):
    """A transformer over token ids has no positional information.

    ## What it flags
    A model whose input is token ids (an embedding lookup on a graph input)
    and that uses attention, where nothing tells the attention where a token
    is: no position embedding or sinusoid added to the token embeddings, no
    rotary rotation of queries and keys, no bias or mask added to the
    scores (relative position bias, ALiBi, a causal mask), and no
    convolution or recurrent layer before the attention. Advisory.

    ## Why it hurts
    Attention is permutation-equivariant: without positional information a
    bidirectional encoder sees its input as a bag of tokens, so "dog bites
    man" and "man bites dog" get the same representations (Vaswani et al.
    2017, Sec. 3.5).

    ## Example
    ```python
    x = self.embed(ids)                           # nn.Embedding
    x = self.encoder(x)                           # nn.TransformerEncoder, no mask
    ```

    ## Use instead
    ```python
    x = self.embed(ids) + self.pos_embed[:, : ids.size(1)]   # learned or sinusoidal
    x = self.encoder(x)              # or rotary embeddings / ALiBi inside attention
    ```

    ## Evidence
    Vaswani et al. (2017) add positional encodings because attention has no
    notion of order. The evidence is mixed for causal decoders: Haviv et
    al. (2022) find that causal language models without positional encoding
    ("NoPE") are competitive, because the causal mask itself reveals
    position; this rule therefore stays silent when a mask or causal flag
    is visible.
    """

    code = "AL103"
    name = "no-positional-information"
    severity = Severity.INFO
    references = (
        Ref("Vaswani et al. 2017, NeurIPS",
            'A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017, Sec. 3.5.'),
        Ref("Haviv et al. 2022, Findings of EMNLP",
            'A. Haviv et al., "Transformer Language Models without Positional Encodings Still Learn Positional Information", Findings of EMNLP 2022.'),
        Ref("Press et al. 2022, ICLR",
            'O. Press, N. Smith, M. Lewis, "Train Short, Test Long: Attention with Linear Biases", ICLR 2022.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        atts = list(graph.of_kind(OpKind.ATTENTION))
        embs = token_embeddings(graph)
        if not atts or not embs:
            return
        if any(a.attrs.get("causal") or a.attrs.get("masked") or len(a.inputs) > 3 for a in atts):
            return  # scores get a mask or bias: relative position, ALiBi or causal order
        if any(_adds_position(e) for e in embs) or any(_rotary(a) for a in atts):
            return
        first = atts[0]
        yield self.finding(
            first,
            f"token embeddings from '{embs[0].layer}' reach attention '{first.layer}' with no positional "
            "information: attention is order-blind, so the model sees a bag of tokens",
            "add position embeddings (learned or sinusoidal) to the token embeddings, or rotary "
            "embeddings / ALiBi inside the attention",
            ctx,
            embedding=embs[0].layer,
        )

    autofix = 'none: which positional scheme (learned, sinusoidal, rotary, ALiBi) to add is a design choice'
