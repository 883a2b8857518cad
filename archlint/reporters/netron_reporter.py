"""A Netron attachment: a JSON sidecar Netron lays over an open model, so the
findings show on the nodes (docs/integrations.md says how to open it).

Netron reads ``{"signature": "netron:attachment", "metadata": [...],
"metrics": [...]}``; each item is ``{"kind", "target", "name", "value"}``,
where ``kind`` is ``model``, ``graph`` or ``node`` and ``target`` is the
node's name in the file (``""`` for the model and graph). Netron matches a
target against the node name up to its first line break and keeps the last
item of a repeated name, so names here are cut at the first line break and
made unique per node.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from archlint.version import __version__
from archlint.api import FileResult, LintResult
from archlint.errors import UsageError
from archlint.reporters import ReportOptions, Reporter
from archlint.reporters.escape import json_invisible_escaped
from archlint.reporters.text_reporter import summary_line

SIGNATURE = "netron:attachment"


def _target(name: str) -> str:
    return name.split("\n", 1)[0].split("\r", 1)[0]


def attachment(r: FileResult) -> dict[str, Any]:
    """The attachment for one linted model (a ``FileResult`` with a view)."""
    view = r.view
    sev = Counter(f.severity.label for f in r.findings)
    meta: list[dict[str, Any]] = [
        {"kind": "model", "target": "", "name": "archlint", "value": f"archlint {__version__}"},
        {
            "kind": "model",
            "target": "",
            "name": "archlint findings",
            "value": ", ".join(f"{sev[k]} {k}" for k in ("error", "warning", "info") if sev[k]) or "none",
        },
    ]
    metrics: list[dict[str, Any]] = [
        {"kind": "model", "target": "", "name": "archlint findings", "value": len(r.findings)},
        {"kind": "model", "target": "", "name": "parameters", "value": view["params"]},
    ]
    per_node: dict[str, list[Any]] = {}
    for f in r.findings:
        if f.node:
            per_node.setdefault(_target(f.node), []).append(f)
    for name, fs in per_node.items():
        seen: Counter[str] = Counter()
        for f in fs:
            seen[f.code] += 1
            key = f"archlint {f.code}" + (f" ({seen[f.code]})" if seen[f.code] > 1 else "")
            meta.append({"kind": "node", "target": name, "name": key, "value": f"{f.severity.label}: {f.message} Fix: {f.fix}"})
        metrics.append({"kind": "node", "target": name, "name": "archlint findings", "value": len(fs)})
    for n in view["nodes"]:
        if n["params"] and n["kind"] not in ("input", "output"):
            metrics.append({"kind": "node", "target": _target(n["name"]), "name": "parameters", "value": n["params"]})
    return {"signature": SIGNATURE, "metadata": meta, "metrics": metrics}


class NetronReporter(Reporter):
    """The attachment of one model, for Netron."""

    name = "netron"
    draws_graph = True
    one_model = True

    def refuse(self, result: LintResult) -> str | None:
        if sum(not r.error for r in result.files) > 1:
            return "--format netron writes the attachment of one model: give one model file"
        return None

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        _emit(result, stream)


def _emit(result: LintResult, stream: TextIO) -> None:
    loaded = [r for r in result.files if r.view is not None]
    if len(loaded) != 1:
        raise UsageError(
            f"--format netron writes the attachment of one model; this run read {len(loaded)} "
            f"({summary_line(result)}): lint one model per run"
        )
    # readable non-ASCII names, but no C1 or bidi control reaches a terminal raw
    stream.write(json_invisible_escaped(json.dumps(attachment(loaded[0]), indent=1, ensure_ascii=False)))
    stream.write("\n")
