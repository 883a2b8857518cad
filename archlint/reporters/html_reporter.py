"""One self-contained HTML page: a summary, each model drawn as a layered DAG
with its flagged nodes highlighted, the findings linked to their nodes and to
their rule pages, and a table of the layers and their parameters.

Nothing is fetched: the CSS and the small script are inline and allowed by
their hashes in a strict Content-Security-Policy (``default-src 'none'``), so
the page works offline and a name from a hostile model file can neither run
script nor load anything. Every string from a model goes through
:func:`html.escape`. Large models are drawn one name scope at a time
(``layer1`` > ``layer1.0``): a scope is a box that opens its own drawing.
The layout comes from Graphviz ``dot`` when it is installed (see
:mod:`archlint.layout`).
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from html import escape
from typing import Any, TextIO

from archlint.version import __version__
from archlint.api import FileResult, LintResult
from archlint.layout import NODE_H, NODE_W, layout
from archlint.reporters import ReportOptions, Reporter
from archlint.reporters.text_reporter import summary_line
from archlint.budget import BudgetExceeded, within
from archlint.view import coverage_line, layer_rows, node_index, scope_tree, shape_text

_SEV_ORDER = ("error", "warning", "info")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header,section{margin:0 auto;max-width:1200px;padding:8px 20px}
h1{font-size:22px;margin:12px 0 4px}h2{font-size:18px;margin:18px 0 6px;word-break:break-all}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;background:#fff;margin:6px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.model{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:16px auto}
section.model{max-width:none;margin:16px 20px}
.body{display:grid;grid-template-columns:minmax(0,max-content) minmax(320px,1fr);gap:14px;align-items:start}
.graph{border:1px solid #d0d7de;border-radius:4px;max-height:78vh;overflow:auto;background:#fbfcfd}
.side{max-height:78vh;overflow:auto}.side h3{margin-top:0}
@media (max-width:800px){.body{grid-template-columns:1fr}}
.crumbs{position:sticky;top:0;left:0;background:#eef2f6;padding:4px 8px;font-size:13px;z-index:1}
.crumbs a{cursor:pointer}
svg.dag{display:block}
svg.dag text{font-size:11px;fill:#1f2328;pointer-events:none}
svg.dag text.l1{font-weight:600}svg.dag text.l3{fill:#57606a}
.edge{fill:none;stroke:#8c959f;stroke-width:1.2}
.node rect{fill:#fff;stroke:#8c959f;stroke-width:1}
.node.k-conv rect{fill:#eaf2fd}.node.k-dense rect{fill:#eef7ee}.node.k-dropout rect{fill:#fdf6e3}
.node.k-batch_norm rect,.node.k-norm rect{fill:#f3eefc}.node.k-activation rect{fill:#fdeff2}
.node.k-input rect,.node.k-output rect{fill:#eceff1}
.node.k-unknown rect{fill:#f6f6f6;stroke-dasharray:2 2}
.scope rect{fill:#f6f8fa;stroke:#57606a;stroke-width:1.5;stroke-dasharray:5 3}
.scope{cursor:zoom-in}
.stub rect{fill:#eef2f6;stroke:#8c959f;stroke-dasharray:3 2}
.flagged rect{stroke-width:3}
.sev-error rect{stroke:#cf222e}.sev-warning rect{stroke:#d4a72c}.sev-info rect{stroke:#218bff}
.badge{font-weight:700}
.focus rect{stroke:#8250df !important;stroke-width:5 !important}
li.focus{outline:3px solid #8250df}
.findings li{margin:6px 0}
.code{font-family:ui-monospace,monospace;font-weight:600}
.s-error{color:#cf222e}.s-warning{color:#9a6700}.s-info{color:#0969da}
.fix{color:#1a7f37}
.doc{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 14px;font-size:14px}
.doc h1{font-size:17px}.doc h2{font-size:15px;word-break:normal}.doc h3{font-size:14px}
.doc pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;font-size:13px;overflow:auto}
.doc code{font-family:ui-monospace,monospace;font-size:13px;background:#f6f8fa;padding:0 3px}.doc pre code{padding:0;background:none}
.doc .a-left{text-align:left}.doc .a-center{text-align:center}.doc .a-right{text-align:right}
.muted{color:#57606a}
"""

_JS = """
(function () {
  "use strict";
  function show(viewId) {
    var v = document.getElementById(viewId);
    if (!v || !v.classList.contains("view")) { return null; }
    var kids = v.parentNode.children;
    for (var i = 0; i < kids.length; i++) { kids[i].hidden = kids[i] !== v; }
    v.parentNode.scrollTop = 0;
    return v;
  }
  function clearFocus() {
    var old = document.querySelectorAll(".focus");
    for (var i = 0; i < old.length; i++) { old[i].classList.remove("focus"); }
  }
  function focusNode(id) {
    var n = document.getElementById(id);
    if (!n) { return; }
    var v = n.closest(".view");
    if (v) { show(v.id); }
    clearFocus();
    n.classList.add("focus");
    n.scrollIntoView({block: "center", inline: "center"});
  }
  function focusFinding(id) {
    var f = document.getElementById(id);
    if (!f) { return; }
    clearFocus();
    f.classList.add("focus");
    f.scrollIntoView({block: "center"});
  }
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-node],[data-view],[data-finding]");
    if (!t) { return; }
    e.preventDefault();
    if (t.hasAttribute("data-node")) { focusNode(t.getAttribute("data-node")); }
    else if (t.hasAttribute("data-view")) { show(t.getAttribute("data-view")); }
    else { focusFinding(t.getAttribute("data-finding")); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.closest && e.target.closest("g[tabindex]")) { e.target.dispatchEvent(new MouseEvent("click", {bubbles: true})); }
  });
  function fromHash() { if (location.hash.length > 1) { focusNode(decodeURIComponent(location.hash.slice(1))); } }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CSP = (
    "default-src 'none'; "
    f"style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(text: Any) -> str:
    return escape(str(text), quote=True)


def _short(text: str, limit: int = 28, keep: str = "tail") -> str:
    """Cut a label to ``limit`` characters, keeping its tail (module paths end
    in the informative part) or its head."""
    if len(text) <= limit:
        return text
    return "\u2026" + text[-(limit - 1) :] if keep == "tail" else text[: limit - 1] + "\u2026"


def markdown_html(text: str) -> str:
    """A rule page's Markdown as HTML (markdown-it-py, which rich brings): raw HTML in the text is
    escaped, not passed through, links keep markdown-it's safe-URL check, and table alignment
    becomes a class (the strict CSP allows no style attribute)."""
    import re

    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    out = re.sub(r' style="text-align:(left|center|right)"', r' class="a-\1"', md.render(text))

    def link(m: re.Match[str]) -> str:  # web links open the page (nothing is fetched); paths of the repository mean nothing here
        href = m.group(1)
        return f'<a href="{href}" rel="noopener noreferrer">' if href.startswith(("https://", "http://")) else "<a>"

    return re.sub(r'<a href="([^"]*)">', link, out)


#: the width of one character of an 11px label (system-ui), a little generous: a longer label is condensed
_CHAR_W = 6.0


def _fit(cls: str, x: float, y: float, text: str, width: float, *, most: int = 64, keep: str = "head") -> str:
    """One line of a box: the whole text, condensed (``textLength``) when longer than the box;
    only a label past ``most`` characters is cut (the box's tooltip holds it whole)."""
    text = _short(text, most, keep=keep)
    fit = f' textLength="{width:.0f}" lengthAdjust="spacingAndGlyphs"' if len(text) * _CHAR_W > width else ""
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}"{fit}>{_e(text)}</text>'


def _num(n: int) -> str:
    return f"{n:,}"


class HtmlReporter(Reporter):
    """One self-contained page that draws each model."""

    name = "html"
    draws_graph = True

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        stream.write(render(result, time_budget=options.time_budget))


def render(result: LintResult, *, time_budget: float | None = None) -> str:
    """The report; each model's drawing (name scopes, layout) has ``time_budget`` seconds (the
    per-file ``--timeout``) and is replaced by its findings list when it runs out of time or memory."""
    from archlint.rules import get_rule

    findings = result.findings
    sev = Counter(f.severity.label for f in findings)
    by_code = Counter(f.code for f in findings)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>archlint report</title><style>{_CSS}</style></head><body>",
        # the arrow head every drawing refers to
        '<svg width="0" height="0" aria-hidden="true"><defs><marker id="ah" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#8c959f"/></marker></defs></svg>',
        f'<header><h1>archlint report</h1><p id="summary-line">{_e(summary_line(result))}</p>'
        f'<p class="muted">archlint {_e(__version__)}</p></header>',
        '<section id="summary"><h2>Summary</h2><table><tr><th>file</th><th>format</th><th class="num">nodes</th>'
        '<th class="num">parameters</th><th class="num">findings</th><th>coverage / error</th></tr>',
    ]
    for i, r in enumerate(result.files):
        view = r.view
        params = _num(view["params"]) if view else ""
        cov = coverage_line(view.get("coverage")) if view else None
        cov = cov or coverage_line(r.coverage)
        link = f'<a href="#m{i}">{_e(r.title)}</a>' if view else _e(r.title)
        last = f'<span class="s-error">{_e(r.error)}</span>' if r.error else _e(cov or "")
        out.append(
            f"<tr><td>{link}</td><td>{_e(r.format or '')}</td><td class=num>{r.nodes if not r.error else ''}</td>"
            f"<td class=num>{params}</td><td class=num>{len(r.findings)}</td><td>{last}</td></tr>"
        )
    out.append("</table>")
    out.append(
        "<p>"
        + ", ".join(f'<span class="s-{k}">{sev.get(k, 0)} {k}{"s" if sev.get(k, 0) != 1 else ""}</span>' for k in _SEV_ORDER)
        + "</p>"
    )
    if by_code:
        out.append('<table id="by-rule"><tr><th>rule</th><th>name</th><th>severity</th><th class="num">findings</th></tr>')
        for code, n in sorted(by_code.items()):
            rule = get_rule(code)
            name = rule.name if rule else "internal-error"
            label = rule.severity.label if rule else "error"
            ref = f'<a href="#rule-{_e(code)}">{_e(code)}</a>' if rule else _e(code)
            out.append(f"<tr><td class=code>{ref}</td><td>{_e(name)}</td><td class=s-{label}>{label}</td><td class=num>{n}</td></tr>")
        out.append("</table>")
    for u in result.unused_suppressions:
        out.append(f'<p class="s-warning">suppression {_e(u)} matched no finding</p>')
    out.append("</section>")
    for i, r in enumerate(result.files):
        view = r.view
        if view is not None:
            try:
                out.append(within(time_budget, _model_section, f"m{i}", r, view))
            except BudgetExceeded:
                out.append(_plain_section(f"m{i}", r, view, f"the drawing did not finish in {time_budget:g} s "
                                                             "(the per-file time budget)"))
            except (MemoryError, RecursionError):
                out.append(_plain_section(f"m{i}", r, view, "the drawing needs more memory than there is"))
    codes = sorted(c for c in by_code if get_rule(c))
    if codes:
        from archlint.docs import render_rule

        out.append('<section id="rules"><h2>Rules</h2>')
        for code in codes:
            rule = get_rule(code)
            out.append(f'<article id="rule-{_e(code)}"><h3>{_e(code)} {_e(rule.name)}</h3>'
                       f'<div class="doc">{markdown_html(render_rule(rule))}</div></article>')
        out.append("</section>")
    out.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(out)


def _plain_section(mid: str, r: FileResult, view: dict[str, Any], why: str) -> str:
    """A model's section without its drawing: why, then the findings."""
    out = [f'<section class="model" id="{mid}"><h2>{_e(r.title)}</h2>',
           f'<p class="note s-warning">drawing not made: {_e(why)}; the findings are listed below</p>',
           f'<h3>Findings ({len(r.findings)})</h3><ol class="findings">']
    for j, f in enumerate(r.findings):
        label = f"{f.layer or '-'} ({f.op_type or '?'})"
        out.append(f'<li id="{mid}-f{j}" class="s-{f.severity.label}-item"><span class="code s-{f.severity.label}">'
                   f"{_e(f.code)}</span> {f.severity.label} {_e(label)}<br>{_e(f.message)}<br>"
                   f"<span class=fix>fix:</span> {_e(f.fix)}</li>")
    out.append("</ol></section>")
    return "\n".join(out)


def _model_section(mid: str, r: FileResult, view: dict[str, Any]) -> str:
    index = node_index(view)
    nodes = view["nodes"]
    by_node: dict[int, list[tuple[int, Any]]] = {}  # node -> its findings; a finding on no node is only listed
    for j, f in enumerate(r.findings):
        k = index.get(f.node) if f.node else None
        if k is not None:
            by_node.setdefault(k, []).append((j, f))
    tree = scope_tree(view, flagged=[k for k, fs in by_node.items() for _ in fs])
    worst: dict[int, str] = {k: max(fs, key=lambda jf: jf[1].severity)[1].severity.label for k, fs in by_node.items()}
    scope_worst: dict[int, str] = {}
    for k, label in worst.items():
        for sid in tree.chain(tree.home[k]):
            cur = scope_worst.get(sid)
            if cur is None or _SEV_ORDER.index(label) < _SEV_ORDER.index(cur):
                scope_worst[sid] = label
    edges_by_scope = tree.edges(view)
    border = tree.boundary(view)
    graphs, stubs = [], []
    for s in tree.scopes:
        ids = {c: i for i, c in enumerate(s.children)}
        edges = [(ids[a], ids[b]) for a, b in edges_by_scope[s.id] if a in ids and b in ids]
        n = len(s.children)
        ins, outs = border.get(s.id, ({}, {}))
        extra = []  # ("in"|"out", outside node indices): where data enters and leaves the scope
        if ins:
            extra.append(("in", sorted({j for v in ins.values() for j in v})))
            edges += [(n, ids[u]) for u in ins if u in ids]
        if outs:
            extra.append(("out", sorted({j for v in outs.values() for j in v})))
            edges += [(ids[u], n + len(extra) - 1) for u in outs if u in ids]
        stubs.append(extra)
        graphs.append((n + len(extra), edges))
    lays = layout(graphs)

    out = [f'<section class="model" id="{mid}"><h2>{_e(r.title)}</h2>']
    facts = [f"{_e(r.format or '?')}", f"{len(nodes)} nodes", f"{_num(view['params'])} parameters"]
    if len(tree.scopes) > 1:
        facts.append(f"{len(tree.scopes)} views by name scope (click a dashed box to open it)")
    facts.append(f"layout: {lays[0].engine if lays else 'none'}")
    out.append(f'<p class="muted">{" · ".join(facts)}</p>')
    cov = coverage_line(view.get("coverage")) or coverage_line(r.coverage)
    if cov:
        out.append(f'<p class="coverage">coverage: {_e(cov)}</p>')
    for note in r.notes:
        out.append(f'<p class="note muted">note: {_e(note)}</p>')
    out.append(f'<div class="body"><div class="graph" id="{mid}-graph">')
    for s, lay, view_stubs in zip(tree.scopes, lays, stubs):
        out.append(_view_html(mid, tree, s, lay, nodes, by_node, worst, scope_worst, view_stubs))
    out.append('</div><div class="side">')
    out.append(f'<h3>Findings ({len(r.findings)})</h3><ol class="findings">')
    for j, f in enumerate(r.findings):
        k = index.get(f.node) if f.node else None
        label = f"{f.layer or '-'} ({f.op_type or '?'})"
        where = f'<a href="#{mid}-n{k}" data-node="{mid}-n{k}">{_e(label)}</a>' if k is not None else _e(label)
        loc = f' <span class="muted">{_e(f.source)}</span>' if f.source else ""
        rule = f' <a class="muted" href="#rule-{_e(f.code)}">rule page</a>' if f.code != "AL000" else ""
        out.append(
            f'<li id="{mid}-f{j}" class="s-{f.severity.label}-item"><span class="code s-{f.severity.label}">{_e(f.code)}</span> '
            f"{f.severity.label} {where}{loc}{rule}<br>{_e(f.message)}<br><span class=fix>fix:</span> {_e(f.fix)}</li>"
        )
    out.append("</ol></div></div>")
    rows = layer_rows(view, r.findings)
    out.append(f'<details class="layers"><summary>Layers and parameters ({len(rows)} layers, {_num(view["params"])} parameters)</summary>')
    out.append('<table><tr><th class="num">#</th><th>layer</th><th>kind</th><th>output shape</th><th class="num">parameters</th><th>findings</th></tr>')
    for row in rows:
        out.append(
            f'<tr><td class=num>{row["index"]}</td><td><a href="#{mid}-n{row["index"]}" data-node="{mid}-n{row["index"]}">{_e(row["layer"])}</a></td>'
            f'<td>{_e(row["op"])}</td><td>{_e(shape_text(row["shape"]))}</td><td class=num>{_num(row["params"])}</td>'
            f'<td class=code>{_e(" ".join(row["findings"]))}</td></tr>'
        )
    out.append(f'<tr><th></th><th>total</th><th></th><th></th><th class="num">{_num(view["params"])}</th><th></th></tr></table></details>')
    out.append("</section>")
    return "\n".join(out)


def _view_html(mid, tree, s, lay, nodes, by_node, worst, scope_worst, stubs) -> str:
    vid = f"{mid}-v{s.id}"
    hidden = "" if s.parent is None else " hidden"
    crumbs = []
    for sid in tree.chain(s.id):
        sc = tree.scopes[sid]
        name = sc.name if sc.parent is not None else "model"
        crumbs.append(f'<a data-view="{mid}-v{sid}">{_e(name)}</a>' if sid != s.id else f"<strong>{_e(name)}</strong>")
    out = [f'<div class="view" id="{vid}"{hidden}><nav class="crumbs">{" &rsaquo; ".join(crumbs)}</nav>']
    pad = 10
    w, h = lay.width + 2 * pad, lay.height + 2 * pad
    out.append(f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" viewBox="{-pad} {-pad} {w:.0f} {h:.0f}">')
    for _a, _b, pts in lay.edges:
        out.append(f'<path class="edge" marker-end="url(#ah)" d="{_path(pts)}"/>')
    prefix = s.name
    for k, (kind, idx) in enumerate(s.children):
        x, y = lay.pos[k]
        x0, y0 = x - NODE_W / 2, y - NODE_H / 2
        if kind == "node":
            n = nodes[idx]
            fs = by_node.get(idx, [])
            cls = f"node k-{_e(n['kind'])}" + (f" flagged sev-{worst[idx]}" if fs else "")
            name = n["layer"] or n["name"]
            if prefix and name.startswith(prefix) and len(name) > len(prefix) + 1:
                name = name[len(prefix) + 1 :]
            line2 = n["desc"]
            line3 = shape_text(n["shape"]) if n["shape"] is not None else ""
            tip = [n["layer"], f"{n['op']} ({n['kind']})", f"output {shape_text(n['shape'])}", f"{_num(n['params'])} parameters"]
            if n["source"]:
                tip.append(n["source"])
            tip += [f"{f.code} {f.message}" for _, f in fs]
            extra = f' data-finding="{mid}-f{fs[0][0]}" tabindex="0"' if fs else ""
            badge = f'<text class="badge s-{worst[idx]}" x="{x0 + NODE_W - 6:.1f}" y="{y0 + 14:.1f}" text-anchor="end">{len(fs)}!</text>' if fs else ""
            out.append(
                f'<g class="{cls}" id="{mid}-n{idx}" data-kind="{_e(n["kind"])}"{extra}><title>{_e(chr(10).join(tip))}</title>'
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
                + _fit("l1", x0 + 6, y0 + 16, name, NODE_W - (34 if fs else 12), most=48, keep="tail")
                + _fit("l2", x0 + 6, y0 + 32, line2, NODE_W - 12)
                + _fit("l3", x0 + 6, y0 + 47, line3, NODE_W - 12)
                + f"{badge}</g>"
            )
        else:
            sc = tree.scopes[idx]
            sw = scope_worst.get(idx)
            cls = "scope" + (f" flagged sev-{sw}" if sw else "")
            name = sc.name
            if prefix and name.startswith(prefix) and len(name) > len(prefix) + 1 and name[len(prefix)] in "./":
                name = name[len(prefix) + 1 :]
            line2 = f"{sc.nodes} nodes \u00b7 {_num(sc.params)} params"
            badge = f'<text class="badge s-{sw}" x="{x0 + NODE_W - 6:.1f}" y="{y0 + 14:.1f}" text-anchor="end">{sc.findings}!</text>' if sw else ""
            out.append(
                f'<g class="{cls}" id="{mid}-s{idx}" data-view="{mid}-v{idx}" tabindex="0"><title>{_e(sc.name)}: open this scope</title>'
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
                + _fit("l1", x0 + 6, y0 + 16, f"{name} \u25b8", NODE_W - (34 if sw else 12), most=48, keep="tail")
                + _fit("l2", x0 + 6, y0 + 32, line2, NODE_W - 12)
                + f"{badge}</g>"
            )
    for k, (direction, outside) in enumerate(stubs, len(s.children)):
        x, y = lay.pos[k]
        names = [nodes[j]["layer"] for j in outside]
        tip = ("from " if direction == "in" else "to ") + ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        out.append(
            f'<g class="stub"><title>{_e(tip)}</title><rect x="{x - 40:.1f}" y="{y - 12:.1f}" width="80" height="24" rx="12"/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{direction}</text></g>'
        )
    out.append("</svg></div>")
    return "\n".join(out)


def _path(pts: list[tuple[float, float]]) -> str:
    if len(pts) == 2:  # fallback layout: straight, or bowed when it jumps ranks
        (xa, ya), (xb, yb) = pts
        if abs(xa - xb) < 1 and yb - ya > NODE_H * 2:
            bow = min(40 + (yb - ya) / 8, NODE_W * 0.75)
            return f"M{xa:.1f},{ya:.1f}C{xa + bow:.1f},{ya + 30:.1f} {xb + bow:.1f},{yb - 30:.1f} {xb:.1f},{yb:.1f}"
        return f"M{xa:.1f},{ya:.1f}L{xb:.1f},{yb:.1f}"
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    rest = pts[1:]
    while len(rest) >= 3:
        (a, b), (c, e), (g, h) = rest[:3]
        d.append(f"C{a:.1f},{b:.1f} {c:.1f},{e:.1f} {g:.1f},{h:.1f}")
        rest = rest[3:]
    for x, y in rest:
        d.append(f"L{x:.1f},{y:.1f}")
    return "".join(d)

