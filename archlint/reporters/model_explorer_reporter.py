"""Findings as "custom node data" for Google's Model Explorer
(``pip install ai-edge-model-explorer``): a JSON file Model Explorer lays over
an open graph, colouring each flagged node by its worst severity.

The format is Model Explorer's ``GraphNodeData`` (``model_explorer/
node_data_builder.py``): ``{"name", "results": {KEY: {"value", "bgColor"}},
"thresholds": [...]}``. A result's key is a node id or any output tensor
name of a node; archlint writes both the node's name and its first output's
value name, so the same file matches an ONNX graph (node names, value names)
and a PyTorch ExportedProgram (fx node names). ``value`` is the severity
rank (1 info, 2 warning, 3 error); each result also carries its colour.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from archlint.api import FileResult, LintResult
from archlint.errors import UsageError
from archlint.reporters import ReportOptions, Reporter
from archlint.reporters.escape import json_invisible_escaped

#: severity -> (value, background colour); the HTML report's colours
SEVERITY_STYLE = {"info": (1, "#9ecbff"), "warning": (2, "#f2cc60"), "error": (3, "#ff8182")}


def node_data(r: FileResult) -> dict[str, Any]:
    """The ``GraphNodeData`` of one linted model (a ``FileResult`` with a view)."""
    out_of = {n["name"]: n.get("out") for n in (r.view or {}).get("nodes", [])}
    worst: dict[str, int] = {}
    for f in r.findings:
        if f.node:
            rank = SEVERITY_STYLE[f.severity.label][0]
            worst[f.node] = max(worst.get(f.node, 0), rank)
    colour = {v: c for v, c in SEVERITY_STYLE.values()}
    results: dict[str, Any] = {}
    for name, rank in worst.items():
        for key in dict.fromkeys(k for k in (name, out_of.get(name)) if k):
            if rank > results.get(key, {}).get("value", 0):
                results[key] = {"value": rank, "bgColor": colour[rank]}
    sev = Counter(f.severity.label for f in r.findings)
    counts = ", ".join(f"{sev[k]} {k}" for k in ("error", "warning", "info") if sev[k]) or "none"
    return {
        "name": f"archlint findings ({counts})",
        "results": results,
        "thresholds": [{"value": v, "bgColor": c} for v, c in sorted(SEVERITY_STYLE.values())],
    }


class ModelExplorerReporter(Reporter):
    """Custom node data of one model, for Model Explorer."""

    name = "model-explorer"
    draws_graph = True
    one_model = True

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        loaded = [r for r in result.files if r.view is not None]
        if len(loaded) != 1:
            raise UsageError(f"--format model-explorer writes the node data of one model; this run read {len(loaded)}: "
                             "lint one model per run")
        stream.write(json_invisible_escaped(json.dumps(node_data(loaded[0]), indent=1, ensure_ascii=False)))
        stream.write("\n")
