"""What the visual outputs (``archlint show``, ``--format html``, ``--format
netron``) need from a graph, as plain data.

:func:`graph_view` turns a :class:`~archlint.graph.Graph` into a small dict
of lists and numbers: it pickles across ``--jobs`` worker processes and
serialises to JSON, and it is all a reporter sees of the model.

:func:`scope_tree` groups the nodes by module path / name scope
(``layer1.0.conv1`` lies in ``layer1`` > ``layer1.0``), so a large model can
be shown one scope at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: a flat view holding more nodes than this is split into consecutive chunks
CHUNK = 120
#: a scope with fewer nodes than this is drawn inline, in its parent's view
MIN_SCOPE = 3

_SEP = re.compile(r"[./]")


def graph_view(graph: Any) -> dict[str, Any]:
    """The nodes (topological order), their inputs as node indices, kinds,
    shapes and parameters; totals; coverage when the graph reports it."""
    from archlint.compute import activation_bytes, node_macs

    nodes = []
    for n in graph.nodes:
        shape = n.outputs[0].shape if n.outputs else None
        name = _text(n.name, f"node{n.index}")
        nodes.append(
            {
                "name": name,
                "layer": _text(n.layer, name),
                "kind": n.kind.value,
                "op": _text(n.op_type, "?"),
                "desc": _text(_describe(n), "?"),
                "shape": None if shape is None else [d if isinstance(d, int) else None for d in shape],
                "params": n.params,
                "non_trainable": int(n.attrs.get("non_trainable", 0) or 0),
                "macs": node_macs(n),
                "act_bytes": activation_bytes(n),
                "inputs": [p.index for p in n.predecessors()],
                "source": str(n.source) if n.source else None,
                "out": n.outputs[0].name if n.outputs else None,  # the file's value name (matches a node back)
            }
        )
    view: dict[str, Any] = {
        "name": graph.name,
        "format": graph.format,
        "nodes": nodes,
        "params": sum(x["params"] for x in nodes),
        "non_trainable": sum(x["non_trainable"] for x in nodes),
        "macs": sum(x["macs"] or 0 for x in nodes),
        "act_bytes": sum(x["act_bytes"] or 0 for x in nodes if x["kind"] not in ("input", "output")),
        "uncounted": sum(1 for x in nodes if x["macs"] is None and x["kind"] not in ("input", "output")),
    }
    coverage = graph.coverage() if hasattr(graph, "coverage") else None
    if coverage is not None:
        view["coverage"] = coverage
    return view


def _text(value: Any, fallback: str) -> str:
    """A name for display: a frontend may leave a non-string (None, False)."""
    return value if isinstance(value, str) and value else fallback


def _describe(n: Any) -> str:
    rate = n.attrs.get("rate") if n.kind.value == "dropout" else None
    if isinstance(rate, float):  # 0.30000001192092896 (float32 in the file) -> 0.3
        return f"{n.op_type}({rate:.3g})"
    return n.describe()


def coverage_text(cov: dict, most: int = 5) -> str:
    """``98% of 84 nodes understood; unknown: pow (2)``."""
    text = f"{cov['share']:.0%} of {cov['nodes']} nodes understood"
    unk = list(cov["unknown"].items())
    if unk:
        shown = ", ".join(f"{op} ({n})" for op, n in unk[:most])
        more = f", {len(unk) - most} more op types" if len(unk) > most else ""
        text += f"; unknown: {shown}{more}"
    if cov.get("shapeless"):
        n = cov["shapeless"]
        text += f"; {n} node{'s' if n != 1 else ''} without a known shape (shape rules skip {'them' if n != 1 else 'it'})"
    params = cov.get("params")
    if params and params["counted"] != params["file"]:
        text += f"; parameters: {params['counted']:,} of the file's {params['file']:,} counted ({params['share']:.0%})"
    return text


def coverage_line(coverage: Any) -> str | None:
    """One line for the coverage the graph reports (``Graph.coverage()``:
    the share of nodes understood, unknown op types), or None."""
    if coverage is None:
        return None
    if isinstance(coverage, str):
        return coverage
    if isinstance(coverage, dict):
        if {"share", "nodes", "unknown"} <= set(coverage):  # Graph.coverage()
            return coverage_text(coverage)
        if "summary" in coverage:
            return str(coverage["summary"])
        known, total = coverage.get("known"), coverage.get("total")
        if isinstance(known, int) and isinstance(total, int) and total:
            return f"{known} of {total} nodes understood ({100 * known / total:.0f} %)"
    return str(coverage)


def shape_text(shape: list[int | None] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


#: name scopes are read from the first MAX_SCOPE_NAME characters of a layer name, at most
#: MAX_SCOPE_DEPTH deep: a name of 50,000 dotted parts would otherwise make 50,000 prefixes
#: (gigabytes); deeper parts show in the innermost scope's view
MAX_SCOPE_NAME = 400
MAX_SCOPE_DEPTH = 24


def scope_of(layer: str) -> list[str]:
    """The scopes enclosing a layer, outermost first: ``layer1.0.conv1`` ->
    ``['layer1', 'layer1.0']``; ``model/dense_1/MatMul`` -> ``['model', 'model/dense_1']``."""
    head = (layer or "")[:MAX_SCOPE_NAME]
    out = []
    for m in _SEP.finditer(head):
        e = m.end()
        # no empty segments: "/layer1/conv" has no scope "", "a..b" none "a."
        if e > 1 and head[e - 2] not in "./":
            out.append(head[: e - 1])
            if len(out) >= MAX_SCOPE_DEPTH:
                break
    return out


@dataclass
class Scope:
    """One box of the drill-down: a name scope holding nodes and sub-scopes."""

    id: int
    name: str  # full path ("layer1.0"), "" for the root
    parent: int | None
    children: list[tuple[str, int]] = field(default_factory=list)  # ("node"|"scope", index), in order
    nodes: int = 0  # nodes below, at any depth
    params: int = 0
    findings: int = 0
    first: int = 0  # the smallest node index below (for ordering)


@dataclass
class ScopeTree:
    scopes: list[Scope]
    home: list[int]  # node index -> the scope whose view shows that node

    def chain(self, scope: int) -> list[int]:
        out = []
        s: int | None = scope
        while s is not None:
            out.append(s)
            s = self.scopes[s].parent
        return out[::-1]

    def edges(self, view: dict[str, Any]) -> dict[int, list[tuple[tuple[str, int], tuple[str, int]]]]:
        """Edges per scope, between that scope's children: an edge between two
        nodes is drawn once, in the innermost scope holding both."""
        chains = {}
        out: dict[int, list] = {s.id: [] for s in self.scopes}
        seen: set[tuple] = set()
        for i, n in enumerate(view["nodes"]):
            ci = chains.setdefault(i, self.chain(self.home[i]))
            for j in n["inputs"]:
                cj = chains.setdefault(j, self.chain(self.home[j]))
                k = 0
                while k < len(ci) and k < len(cj) and ci[k] == cj[k]:
                    k += 1
                lca = ci[k - 1]
                src = ("scope", cj[k]) if k < len(cj) else ("node", j)
                dst = ("scope", ci[k]) if k < len(ci) else ("node", i)
                key = (lca, src, dst)
                if src != dst and key not in seen:
                    seen.add(key)
                    out[lca].append((src, dst))
        return out

    def boundary(self, view: dict[str, Any]) -> dict[int, tuple[dict[tuple[str, int], set[int]], dict[tuple[str, int], set[int]]]]:
        """Per scope, the data crossing its border: ``(ins, outs)``, each
        mapping a child of the scope to the outside nodes it reads from
        (``ins``) or feeds (``outs``)."""
        out: dict[int, tuple[dict, dict]] = {}
        chains: dict[int, list[int]] = {}
        for i, n in enumerate(view["nodes"]):
            ci = chains.setdefault(i, self.chain(self.home[i]))
            for j in n["inputs"]:
                cj = chains.setdefault(j, self.chain(self.home[j]))
                k = 0
                while k < len(ci) and k < len(cj) and ci[k] == cj[k]:
                    k += 1
                for d in range(k, len(ci)):  # scopes holding i but not j: data comes in
                    unit = ("scope", ci[d + 1]) if d + 1 < len(ci) else ("node", i)
                    out.setdefault(ci[d], ({}, {}))[0].setdefault(unit, set()).add(j)
                for d in range(k, len(cj)):  # scopes holding j but not i: data goes out
                    unit = ("scope", cj[d + 1]) if d + 1 < len(cj) else ("node", j)
                    out.setdefault(cj[d], ({}, {}))[1].setdefault(unit, set()).add(i)
        return out


def scope_tree(view: dict[str, Any], flagged: Iterable[int] = ()) -> ScopeTree:
    """Group nodes by name scope. A scope of one or two nodes is not a box
    (they show in the parent's view); a scope whose only content is one scope is
    merged into it; a view with more than :data:`CHUNK` entries is split
    into runs of consecutive entries, so no drawing gets too big to read."""
    nodes = view["nodes"]
    canon: dict[str, str] = {}  # one string per scope name, shared by every node inside it
    enclosing = [[canon.setdefault(s, s) for s in scope_of(n["layer"])] for n in nodes]
    names = {s for chain in enclosing for s in chain}
    # a node named like a scope (the residual add of torch's block 'layer1.0') lies inside it
    enclosing = [chain + [n["layer"]] if n["layer"] in names else chain for chain, n in zip(enclosing, nodes)]
    counts: dict[str, int] = {}
    for chain in enclosing:
        for s in chain:
            counts[s] = counts.get(s, 0) + 1
    flagged_count: dict[int, int] = {}
    for i in flagged:
        flagged_count[i] = flagged_count.get(i, 0) + 1

    scopes = [Scope(0, "", None)]
    by_name: dict[str, int] = {"": 0}
    home: list[int] = []
    for i, chain in enumerate(enclosing):
        parent = 0
        for s in chain:
            if counts[s] < MIN_SCOPE:
                break
            sid = by_name.get(s)
            if sid is None or scopes[sid].parent != parent:
                sid = len(scopes)
                scopes.append(Scope(sid, s, parent, first=i))
                by_name[s] = sid
                scopes[parent].children.append(("scope", sid))
            parent = sid
        scopes[parent].children.append(("node", i))
        home.append(parent)
    tree = ScopeTree(scopes, home)
    _merge_single_children(tree)
    for s in list(tree.scopes):
        _chunk(tree, s.id)
    for i, n in enumerate(nodes):
        for sid in tree.chain(tree.home[i]):
            sc = tree.scopes[sid]
            sc.nodes += 1
            sc.params += n["params"]
            sc.findings += flagged_count.get(i, 0)
    return tree


def _merge_single_children(tree: ScopeTree) -> None:
    """A scope whose only child is a scope: the child's content moves up."""
    for s in tree.scopes:
        while len(s.children) == 1 and s.children[0][0] == "scope":
            only = tree.scopes[s.children[0][1]]
            s.children = only.children
            if s.parent is not None:  # the root keeps its place (and its empty name)
                s.name = only.name
            for kind, idx in only.children:
                if kind == "scope":
                    tree.scopes[idx].parent = s.id
                else:
                    tree.home[idx] = s.id
            only.children = []
            only.parent = -1  # detached
    live = [s for s in tree.scopes if s.parent != -1]
    remap = {s.id: k for k, s in enumerate(live)}
    for s in live:
        s.id = remap[s.id]
        s.parent = None if s.parent is None else remap[s.parent]
        s.children = [(k, remap[i] if k == "scope" else i) for k, i in s.children]
    tree.home[:] = [remap[h] for h in tree.home]
    tree.scopes[:] = live


def _chunk(tree: ScopeTree, sid: int) -> None:
    s = tree.scopes[sid]
    if len(s.children) <= CHUNK:
        return
    kids, s.children = s.children, []
    for start in range(0, len(kids), CHUNK // 2):
        part = kids[start : start + CHUNK // 2]
        cid = len(tree.scopes)
        label = f"{s.name + ' ' if s.name else ''}[{start + 1}-{start + len(part)}]"
        tree.scopes.append(Scope(cid, label, sid, children=part))
        s.children.append(("scope", cid))
        for kind, idx in part:
            if kind == "scope":
                tree.scopes[idx].parent = cid
            else:
                tree.home[idx] = cid
    _chunk(tree, sid)  # more than CHUNK chunks: chunk the chunks


def layer_rows(view: dict[str, Any], findings: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per node (inputs and outputs left out): what ``archlint show``
    and the HTML layer table print."""
    codes: dict[str, list[str]] = {}
    for f in findings:
        if f.node:
            codes.setdefault(f.node, []).append(f.code)
    rows = []
    for i, n in enumerate(view["nodes"]):
        if n["kind"] in ("input", "output"):
            continue
        rows.append(
            {
                "index": i,
                "layer": n["layer"],
                "node": n["name"],
                "kind": n["kind"],
                "op": n["op"],
                "shape": n["shape"],
                "params": n["params"],
                "non_trainable": n.get("non_trainable", 0),
                "macs": n.get("macs"),
                "act_bytes": n.get("act_bytes"),
                "findings": sorted(codes.get(n["name"], [])),
            }
        )
    return rows


def node_index(view: dict[str, Any]) -> dict[str, int]:
    return {n["name"]: i for i, n in enumerate(view["nodes"])}
