from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from archlint.findings import Finding, Severity
from archlint.graph import NORM_KINDS, Graph, OpKind
from archlint.rules._match import walk_up_chain
from archlint.rules.base import Ref, Rule, RuleContext

if TYPE_CHECKING:
    from archlint.fixes.edits import Rewrite

_NORMS = tuple(NORM_KINDS)
_PASSIVE = frozenset({OpKind.IDENTITY, OpKind.DROPOUT})


def _what(kind: OpKind, norm: str | None) -> str:
    return "batch norm" if kind is OpKind.BATCH_NORM else f"{norm or 'other'} norm"


class ConsecutiveNormalisation(Rule):
    """Two normalisation layers are applied one after the other.

    ## What it flags
    A batch, layer, group or instance normalisation whose input comes
    straight from another normalisation layer (looking through dropout and
    identity ops), with no weight layer or activation between them.

    ## Why it hurts
    The second normalisation re-standardises an already standardised tensor:
    its statistics are (close to) zero mean and unit variance, so it adds
    only a second affine transform that the first already has, plus the
    compute, memory traffic and, for batch norm, one more set of running
    statistics to drift apart between training and inference. It is usually
    a normalisation built into a block plus one added around it.

    ## Example
    ```python
    nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.BatchNorm2d(64), nn.ReLU()
    ```

    ## Use instead
    ```python
    nn.Conv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
    ```
    """

    code = "AL024"
    name = "consecutive-normalisation"
    severity = Severity.INFO
    references = (
        Ref("Ioffe & Szegedy 2015, ICML",
            'S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015, Algorithm 1.'),
        Ref("Ba et al. 2016, Layer Normalization",
            'J. L. Ba, J. R. Kiros, G. E. Hinton, "Layer Normalization", 2016.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(*_NORMS):
            prev, path = walk_up_chain(node, _PASSIVE)
            if prev is None or prev.kind not in _NORMS:
                continue
            if any(len(n.successors()) != 1 for n in (prev, *path)):
                continue  # the first norm's output also goes elsewhere (a residual stream): both are needed
            yield self.finding(
                node,
                f"{_what(node.kind, node.attrs.get('norm'))} '{node.layer}' directly follows "
                f"{_what(prev.kind, prev.attrs.get('norm'))} '{prev.layer}': the input is already normalised",
                f"remove '{node.layer}' (or '{prev.layer}')",
                ctx,
                previous=prev.layer,
            )

    autofix = 'removes the second normalisation'

    def fix(self, graph: Graph, finding: Finding) -> Rewrite | None:
        from archlint.fixes.edits import remove_finding_node

        return remove_finding_node(self.code, graph, finding)
