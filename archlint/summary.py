"""``archlint show``: a model's layers as a table, like torchinfo's summary or
Keras ``model.summary()`` (layer, kind, output shape, parameters), plus the
findings per layer, the totals and the coverage line."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, TextIO

from archlint.view import coverage_line, layer_rows, shape_text

SCHEMA = "archlint.show"
SCHEMA_VERSION = 1


def summary_dict(r: Any) -> dict[str, Any]:
    """``archlint show --format json``: one object for one model."""
    view = r.view
    rows = layer_rows(view, r.findings)
    sev = Counter(f.severity.label for f in r.findings)
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "path": r.path,
        "format": r.format,
        "name": view["name"],
        "layers": [
            {
                "layer": row["layer"],
                "node": row["node"],
                "kind": row["kind"],
                "op_type": row["op"],
                "output_shape": row["shape"],
                "params": row["params"],
                "findings": row["findings"],
            }
            for row in rows
        ],
        "totals": {
            "layers": len(rows),
            "nodes": len(view["nodes"]),
            "params": view["params"],
            "findings": len(r.findings),
            "by_severity": {k: sev.get(k, 0) for k in ("error", "warning", "info")},
        },
        "coverage": view.get("coverage", getattr(r, "coverage", None)),
        "notes": list(getattr(r, "notes", [])),
        "findings": [f.to_dict() for f in r.findings],
    }


def print_summary(r: Any, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # a Text is never parsed as markup: "m[/].onnx", "[link=...]" stay text

    tty = bool(getattr(stream, "isatty", None) and stream.isatty())
    console = Console(file=stream, highlight=False, width=None if tty else 160, no_color=not tty or bool(os.environ.get("NO_COLOR")))
    view = r.view
    rows = layer_rows(view, r.findings)
    from archlint.reporters.escape import safe_text  # names come from the model: escape them

    table = Table(title=Text(safe_text(f"{r.path} ({r.format})")), title_justify="left", header_style="bold",
                  show_footer=True)
    table.add_column("layer", footer="total", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("output shape")
    table.add_column("params", justify="right", footer=f"{view['params']:,}")
    table.add_column("findings", footer=str(len(r.findings)))
    for row in rows:
        table.add_row(
            Text(safe_text(row["layer"])),
            Text(safe_text(row["op"])),
            Text(shape_text(row["shape"])),
            f"{row['params']:,}" if row["params"] else "-",
            Text(" ".join(row["findings"])),
            style="yellow" if row["findings"] and tty else None,
        )
    console.print(table, markup=False)
    sev = Counter(f.severity.label for f in r.findings)
    parts = [f"{sev[k]} {k}{'s' if sev[k] != 1 else ''}" for k in ("error", "warning", "info") if sev[k]]
    lines = [
        f"Total parameters: {view['params']:,}",
        f"Layers: {len(rows)} ({len(view['nodes'])} nodes with inputs and outputs)",
        f"Findings: {len(r.findings)}" + (f" ({', '.join(parts)})" if parts else ""),
    ]
    cov = coverage_line(view.get("coverage")) or coverage_line(getattr(r, "coverage", None))
    lines.append(f"Coverage: {cov}" if cov else "Coverage: not reported by this frontend")
    lines += [f"note: {safe_text(n)}" for n in getattr(r, "notes", [])]
    for line in lines:
        console.print(line, markup=False)
