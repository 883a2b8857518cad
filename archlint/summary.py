"""``archlint show``: a model's layers as a table, like torchinfo's summary or
Keras ``model.summary()`` (layer, kind, output shape, parameters), plus the
findings per layer, the totals and the coverage line."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, TextIO

from archlint.api import FileResult
from archlint.compute import human
from archlint.view import coverage_line, layer_rows, scope_of, shape_text

SCHEMA = "archlint.show"
SCHEMA_VERSION = 1


def keras_order(shape: list[int | None] | None) -> list[int | None] | None:
    """A canonical ``(N, C, *spatial)`` shape in Keras's channels-last order, as
    ``model.summary()`` prints it: ``(N, *spatial, C)``; sequences ``(N, L, D)``."""
    if shape is None or len(shape) < 3:
        return shape
    return [shape[0], *shape[2:], shape[1]]


def fold(rows: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Rows folded to scopes at most ``depth`` deep (torchinfo's ``depth``; 1 keeps the
    top-level modules, 0 or less folds nothing): every row inside a deeper scope is summed into its ancestor at that depth (parameters,
    MACs, activation memory, findings); the scope's output shape is its last row's."""
    if depth < 1:
        return rows
    out: list[dict[str, Any]] = []
    where: dict[str, dict[str, Any]] = {}
    for row in rows:
        scopes = scope_of(row["layer"])
        if len(scopes) < depth:
            out.append(row)
            continue
        key = scopes[depth - 1]
        agg = where.get(key)
        if agg is None:
            agg = {**row, "layer": key, "node": key, "kind": "scope", "op": f"({key.rsplit('.', 1)[-1].rsplit('/', 1)[-1]})",
                   "params": 0, "non_trainable": 0, "macs": 0, "act_bytes": 0, "findings": [], "folded": 0}
            where[key] = agg
            out.append(agg)
        agg["params"] += row["params"]
        agg["non_trainable"] += row.get("non_trainable", 0) or 0
        agg["macs"] = None if agg["macs"] is None or row.get("macs") is None else agg["macs"] + row["macs"]
        agg["act_bytes"] = (agg["act_bytes"] or 0) + (row.get("act_bytes") or 0)
        agg["findings"] = sorted(set(agg["findings"]) | set(row["findings"]))
        agg["shape"] = row["shape"]
        agg["folded"] += 1
    return out


def summary_dict(r: FileResult, depth: int = -1) -> dict[str, Any]:
    """``archlint show --format json``: one object for one model."""
    view = r.view
    rows = fold(layer_rows(view, r.findings), depth)
    sev = Counter(f.severity.label for f in r.findings)
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "path": r.path,
        "arguments": list(r.args),
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
                "non_trainable_params": row.get("non_trainable", 0),
                "macs": row.get("macs"),
                "activation_bytes": row.get("act_bytes"),
                "findings": row["findings"],
            }
            for row in rows
        ],
        "totals": {
            "layers": len(rows),
            "nodes": len(view["nodes"]),
            "params": view["params"],
            "non_trainable_params": view.get("non_trainable", 0),
            "macs": view.get("macs"),
            "flops": 2 * view["macs"] if view.get("macs") is not None else None,
            "activation_bytes": view.get("act_bytes"),
            "nodes_not_counted": view.get("uncounted", 0),
            "findings": len(r.findings),
            "by_severity": {k: sev.get(k, 0) for k in ("error", "warning", "info")},
        },
        "coverage": view.get("coverage", r.coverage),
        "notes": list(r.notes),
        "findings": [f.to_dict() for f in r.findings],
    }


def print_summary(r: FileResult, stream: TextIO, depth: int = -1) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # a Text is never parsed as markup: "m[/].onnx", "[link=...]" stay text

    tty = bool(getattr(stream, "isatty", None) and stream.isatty())
    console = Console(file=stream, highlight=False, width=None if tty else 160, no_color=not tty or bool(os.environ.get("NO_COLOR")))
    view = r.view
    rows = fold(layer_rows(view, r.findings), depth)
    from archlint.reporters.escape import safe_text  # names come from the model: escape them

    keras = r.format == "keras"
    frozen = view.get("non_trainable", 0)

    table = Table(title=Text(safe_text(f"{r.title} ({r.format})")), title_justify="left", header_style="bold",
                  show_footer=True)
    table.add_column("layer", footer="total", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("output shape")
    table.add_column("params", justify="right", footer=f"{view['params'] + (frozen if keras else 0):,}")
    table.add_column("MACs", justify="right", footer=human(view.get("macs") or 0))
    table.add_column("findings", footer=str(len(r.findings)))
    for row in rows:
        shape = keras_order(row["shape"]) if keras else row["shape"]
        text = shape_text(shape).replace("?", "None", 1) if keras and shape else shape_text(shape)
        params = row["params"] + (row.get("non_trainable", 0) if keras else 0)
        macs = row.get("macs")
        table.add_row(
            Text(safe_text(row["layer"])),
            Text(safe_text(row["op"])),
            Text(text),
            f"{params:,}" if params else "-",
            "?" if macs is None else human(macs) if macs else "-",
            Text(" ".join(row["findings"])),
            style="yellow" if row["findings"] and tty else None,
        )
    console.print(table, markup=False)
    sev = Counter(f.severity.label for f in r.findings)
    parts = [f"{sev[k]} {k}{'s' if sev[k] != 1 else ''}" for k in ("error", "warning", "info") if sev[k]]
    total = view["params"] + (frozen if keras else 0)
    batch = next((n["shape"][0] for n in view["nodes"] if n["kind"] == "input" and n["shape"]), None)
    lines = [
        f"Total parameters: {total:,}" + (f" (trainable {view['params']:,}, non-trainable {frozen:,})" if keras else ""),
        f"MACs: {human(view.get('macs') or 0)} (FLOPs {human(2 * (view.get('macs') or 0))}) for a batch of {batch or 1}"
        + (f"; {view['uncounted']} node(s) without the shapes to count" if view.get("uncounted") else ""),
        f"Activation memory: {human(view.get('act_bytes') or 0, 'B')} (float32, every node's output)",
        f"Layers: {len(rows)} ({len(view['nodes'])} nodes with inputs and outputs)",
        f"Findings: {len(r.findings)}" + (f" ({', '.join(parts)})" if parts else ""),
    ]
    cov = coverage_line(view.get("coverage")) or coverage_line(r.coverage)
    lines.append(f"Coverage: {cov}" if cov else "Coverage: not reported by this frontend")
    lines += [f"note: {safe_text(n)}" for n in getattr(r, "notes", [])]
    for line in lines:
        console.print(line, markup=False)
