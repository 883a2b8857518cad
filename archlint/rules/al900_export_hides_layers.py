from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph
from archlint.rules.base import Ref, Rule, RuleContext

_WHAT = {
    "dropout-removed": ("AL001", "dropout layers"),
    "bn-folded": ("AL002", "batch normalisation layers"),
}


#: the remedy, in torch 2.9+ terms (``training=``/``do_constant_folding=`` and ``dynamo=False`` are deprecated)
FIX = ("lint the PyTorch model itself, or export it in training mode without graph optimisation: "
       "torch.onnx.export(model.train(), (x,), 'm.onnx', dynamo=True, optimize=False)")


class ExportHidesLayers(Rule):
    """The exported file no longer shows layers other rules need.

    ## What it flags
    An exported model (ONNX) whose export removed what AL001 and AL002 check:
    an eval-mode export without Dropout, batch norm folded into the
    convolution (metadata naming `FuseBatchNormIntoConv`), Identity nodes
    named after dropout modules. One finding per kind of hidden layer.

    ## Why it hurts
    A linter that silently reports nothing on such a file gives false
    confidence: the architecture may still put dropout between convolutions
    or batch norm after the activation, but the file cannot show it.

    ## Example
    ```python
    torch.onnx.export(model.eval(), (x,), "m.onnx")          # Dropout gone, BN folded into Conv
    ```

    ## Use instead
    Lint the PyTorch model itself (`archlint check pkg.module:make_model`), or
    export it in training mode without the exporter's graph optimisation, which
    keeps Dropout and BatchNormalization nodes (torch 2.9 and later; the
    `training=` and `do_constant_folding=` options and the legacy
    `dynamo=False` exporter are deprecated):
    `torch.onnx.export(model.train(), (x,), "m.onnx", dynamo=True, optimize=False)`.
    """

    code = "AL900"
    name = "export-hides-layers"
    severity = Severity.INFO
    references = (
        Ref("PyTorch docs: torch.onnx.export",
            "PyTorch documentation, `torch.onnx.export` (`dynamo`, `optimize`; `training` deprecated)."),
        Ref("onnxscript rewriter: FuseBatchNormIntoConv",
            "ONNX Script rewriter rules (`FuseBatchNormIntoConv`)."),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        by_kind: dict[str, list] = {}
        for note in graph.notes:
            if note.kind in _WHAT:
                by_kind.setdefault(note.kind, []).append(note)
        for kind, notes in by_kind.items():
            code, what = _WHAT[kind]
            certain = [n for n in notes if n.certain]
            layers = [n.layer for n in notes if n.layer]
            shown = ", ".join(f"'{x}'" for x in layers[:5]) + (" ..." if len(layers) > 5 else "")
            head = notes[0]
            if certain:
                msg = f"the export hid {len(notes)} {what}{f' ({shown})' if shown else ''}: {head.detail}; {code} cannot see them"
            else:
                msg = f"{head.detail}; {code} cannot check {what} in this file"
            yield self.finding(
                head.node,
                msg,
                FIX,
                ctx,
                hidden=kind,
                layers=layers,
                certain=bool(certain),
                rules=[code],
            )

    autofix = 'none: the hidden layers are not in the file; re-export in training mode or lint the PyTorch model'
