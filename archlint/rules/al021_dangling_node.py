from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite


#: the most layer names one finding lists in its data (the message gives the count)
MAX_LISTED = 50


def _dead_branch(sink: Node, live: set[int], seen: set[int]) -> list[Node]:
    """The sink and the nodes upstream of it that feed nothing live and no
    earlier sink's branch (``seen`` is shared by the run, so every node is
    walked once: many sinks on one long dead chain stay linear)."""
    out: list[Node] = []
    stack = [sink]
    while stack:
        n = stack.pop()
        if id(n) in seen or id(n) in live or n.kind is OpKind.INPUT:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.predecessors())
    return out


def _mutates(n: Node) -> bool:
    """An in-place ATen op (``fill_``, ``copy_``, ``index_put_``): its effect is the tensor it
    writes into, which lives on (Swin's attention mask is built with ``mask[...].fill_(v)``);
    its own return value is only an alias, unused by design."""
    op = n.op_type
    return op.endswith("_") and not op.startswith("_") and not op.endswith("__")


def _live(graph: Graph) -> set[int]:
    """Nodes from which a graph output is reached, or an in-place write."""
    live: set[int] = set()
    outputs = {id(v) for v in graph.outputs}
    for n in reversed(graph.nodes):
        if n.kind is OpKind.OUTPUT or any(id(v) in outputs for v in n.outputs) or _mutates(n):
            live.add(id(n))
        elif any(id(s) in live for s in n.successors()):
            live.add(id(n))
    return live


class DanglingNode(Rule):
    """A layer's output is used by nothing and is not a model output.

    ## What it flags
    A layer none of whose outputs is read by another layer or returned by
    the model; the message counts the dead branch that only feeds it.
    Secondary outputs (a dropout mask, BN running statistics) are ignored as
    long as the first output is used, and so are in-place writes (`fill_`,
    `copy_` in a captured PyTorch graph), whose result lives in the tensor
    they write into. A dead branch that holds no parameters (a view read
    only for its shape, the averaged attention weights `nn.MultiheadAttention`
    returns by default and its caller drops, a discarded slice) is a value
    dropped, not a layer lost: it is reported as info. So is an output of a
    nested model that the outer model drops (a Keras task model on a shared
    backbone: BERT's pooler under a masked-LM head, BASNet's side outputs,
    which its training loss reads outside the forward pass).

    ## Why it hurts
    The layer costs compute and parameters and contributes nothing: usually
    a branch that was meant to be merged (`x = conv(x)` written as
    `conv(x)`), a forgotten auxiliary head, or a skip connection that is
    computed but never added. In the first case the network is not the one
    the author thinks it is.

    ## Example
    ```python
    def forward(self, x):
        y = self.conv1(x)
        self.shortcut(x)          # result discarded
        return self.conv2(y)
    ```

    ## Use instead
    ```python
        return self.conv2(y) + self.shortcut(x)
    ```
    """

    code = "AL021"
    name = "dangling-node"
    severity = Severity.WARNING
    references = (
        Ref("ONNX IR specification: Graphs",
            'ONNX specification, "Graphs": nodes and outputs (https://onnx.ai/onnx/repo-docs/IR.html).'),
        Ref("torch.fx Graph.eliminate_dead_code",
            "torch.fx documentation, `Graph.eliminate_dead_code`."),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        if not graph.outputs:
            return
        live = _live(graph)
        claimed: set[int] = set()
        for node in graph.nodes:
            if node.kind in (OpKind.INPUT, OpKind.OUTPUT) or id(node) in live or not node.outputs:
                continue
            if node.outputs[0].consumers:
                continue  # not a sink; its sink is reported
            branch = _dead_branch(node, live, claimed)
            n = len(branch) - 1
            extra = f", with {n} layer{'s' if n > 1 else ''} that only feed{'' if n > 1 else 's'} it" if n else ""
            weighted = any(b.kind in WEIGHT_KINDS or b.params > 0 for b in branch)
            nested = node.attrs.get("nested_output")
            why = (f": an output of the nested model '{nested}' that this model drops (a task on a shared "
                   "backbone; a training loss may still read it, which the forward pass does not show)" if nested
                   else "" if weighted else ": a value computed without parameters and dropped (a view read for its "
                   "shape, a library's secondary output such as averaged attention weights, a discarded slice)")
            yield self.finding(
                node,
                f"the output of '{node.layer}' ({node.describe()}) is used by nothing and is not a model "
                f"output{extra}{why}",
                f"use the result of '{node.layer}' (merge it into the main path) or delete the branch",
                ctx,
                severity=None if weighted and not nested else Severity.INFO,
                dead=[n.layer for n in branch[:MAX_LISTED]],
                weighted=weighted,
            )

    autofix = 'deletes the unused layer and the branch that only feeds it'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import Delete, Rewrite, node_named

        node = node_named(graph, finding.node)
        if node is None:
            return None
        branch = _dead_branch(node, _live(graph), set())
        return Rewrite(self.code, node.name, f"delete '{node.layer}' and {len(branch) - 1} layers feeding only it",
                       [Delete(n) for n in sorted(branch, key=lambda n: -n.index)])
