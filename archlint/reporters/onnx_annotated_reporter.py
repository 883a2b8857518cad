"""An annotated copy of an ONNX model: the findings written into the model
itself, where Netron shows them however it was started (``netron m.onnx``,
the desktop app, netron.app): no attachment to open.

- each flagged node: its ``doc_string`` (Netron's node *description*) gets
  one paragraph per finding, its ``metadata_props`` one ``archlint.ALnnn``
  entry per finding (Netron's node *metadata*), and its name the suffix
  `` [archlint ALnnn ...]`` so Netron's Find (Ctrl+F) lists the flagged nodes
  by code (``AL001``) or by name;
- the model: ``metadata_props`` ``archlint`` (the version and the counts) and
  ``archlint.findings`` (one line per finding, with its node), shown in
  Netron's model properties; findings without a node of the file go there.

Nothing else changes: weights, edges (value names) and the opset are the
file's own. The file is re-read without its external data: a model that keeps
weights outside the file keeps pointing at them by relative path, so write
the copy beside the original.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from archlint.api import FileResult, LintResult
from archlint.errors import UsageError
from archlint.reporters import ReportOptions, Reporter
from archlint.version import __version__

#: what a flagged node's name ends with in the copy (Find lists the flagged nodes by "archlint" or a code)
NAME_TAG = " [archlint {codes}]"


def finding_text(f: Any) -> str:
    rule = f" {f.rule}" if getattr(f, "rule", None) else ""
    return f"archlint {f.code}{rule} ({f.severity.label}): {f.message} Fix: {f.fix}"


def _all_nodes(graph: Any) -> Any:
    """Every node of ``graph`` and of its subgraphs (If/Loop/Scan bodies)."""
    import onnx

    stack = [graph]
    while stack:
        g = stack.pop()
        for n in g.node:
            yield n
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    stack.append(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(a.graphs)


def annotate(r: FileResult) -> Any:
    """The annotated ``onnx.ModelProto`` of one linted ONNX file."""
    import onnx

    model = onnx.load(r.path, load_external_data=False)
    by_name: dict[str, Any] = {}
    by_out: dict[str, Any] = {}
    for n in _all_nodes(model.graph):
        if n.name:
            by_name.setdefault(n.name, n)
        if n.output:
            by_out.setdefault(n.output[0], n)
    out_of = {n["name"]: n.get("out") for n in (r.view or {}).get("nodes", [])}
    per_node: dict[int, tuple[Any, list[Any]]] = {}
    loose: list[Any] = []
    for f in r.findings:
        node = by_name.get(f.node) if f.node else None
        if node is None and f.node and out_of.get(f.node):
            node = by_out.get(out_of[f.node])  # an unnamed node: archlint named it, the file did not
        if node is None:
            loose.append(f)
        else:
            per_node.setdefault(id(node), (node, []))[1].append(f)
    for node, fs in per_node.values():
        texts = [finding_text(f) for f in fs]
        node.doc_string = "\n\n".join([*([node.doc_string] if node.doc_string else []), *texts])
        seen: Counter[str] = Counter()
        for f, text in zip(fs, texts):
            seen[f.code] += 1
            key = f"archlint.{f.code}" + (f".{seen[f.code]}" if seen[f.code] > 1 else "")
            node.metadata_props.add(key=key, value=text)
        node.name = (node.name or node.op_type) + NAME_TAG.format(codes=" ".join(dict.fromkeys(f.code for f in fs)))
    sev = Counter(f.severity.label for f in r.findings)
    counts = ", ".join(f"{sev[k]} {k}" for k in ("error", "warning", "info") if sev[k]) or "no findings"
    lines = []
    for node, fs in per_node.values():
        lines += [f"{f.code} {f.severity.label} at node '{node.name}': {f.message}" for f in fs]
    lines += [f"{f.code} {f.severity.label}{f' (node {f.node!r})' if f.node else ''}: {f.message} Fix: {f.fix}" for f in loose]
    props = {p.key: p for p in model.metadata_props}
    for key, value in (("archlint", f"archlint {__version__}: {len(r.findings)} findings ({counts}); "
                                    "Find (Ctrl+F) 'archlint' or a code lists the flagged nodes"),
                       ("archlint.findings", "\n".join(lines) or "none")):
        if key in props:
            props[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)
    return model


class OnnxAnnotatedReporter(Reporter):
    """A copy of one ONNX model with its findings inside (``-o OUT.onnx``), for Netron."""

    name = "onnx-annotated"
    draws_graph = True  # the view maps archlint's names of unnamed nodes back to the file's values
    one_model = True
    binary = True

    def refuse(self, result: LintResult) -> str | None:
        loaded = [r for r in result.files if not r.error]
        if len(loaded) > 1:
            return "--format onnx-annotated writes a copy of one ONNX model: give one model file"
        if loaded and loaded[0].format != "onnx":
            return (f"--format onnx-annotated annotates ONNX files; {loaded[0].path} is {loaded[0].format}: "
                    "lint its ONNX export, or use --format netron (an attachment) or --format html")
        return None

    def emit(self, result: LintResult, stream: BinaryIO, options: ReportOptions) -> None:  # type: ignore[override]
        loaded = [r for r in result.files if not r.error]
        if len(loaded) != 1:
            raise UsageError("--format onnx-annotated writes a copy of one ONNX model; this run read "
                             f"{len(loaded)}: lint one model per run")
        model = annotate(loaded[0])
        try:
            data = model.SerializeToString()
        except ValueError as e:  # protobuf's 2 GiB limit
            raise UsageError(f"{Path(loaded[0].path).name}: cannot write the annotated copy ({e})") from None
        stream.write(data)
