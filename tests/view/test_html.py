"""``--format html``: one self-contained page with the graph, the findings
linked to their nodes, the rule pages, and every model string escaped.
(The page opened in a real browser: tests/view/test_browser.py.)"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from archlint.api import lint_paths
from archlint.layout import dot_binary
from archlint.reporters import html_reporter
from archlint.view import CHUNK, graph_view, scope_of, scope_tree
from tests.view._models import FIXTURE, HOSTILE, ROOT, hostile_model, scoped_model


class Page(HTMLParser):
    """Tags, ids, attributes and text of a page, as the browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def by_class(self, cls: str) -> list[dict]:
        return [a for _, a in self.tags if cls in (a.get("class") or "").split()]

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if a.get("id")}


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)


def test_cli_writes_the_fixture_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = _cli("check", str(FIXTURE), "--format", "html", "-o", str(out))
    assert r.returncode == 1, r.stderr  # findings at warning level, as for text
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    result = lint_paths([str(FIXTURE)], keep_views=True)
    fr = result.files[0]
    # one drawn box per node of the model, each with its own id
    nodes = page.by_class("node")
    assert len(nodes) == fr.nodes == 42
    assert {a["id"] for a in nodes} == {f"m0-n{i}" for i in range(42)}
    # each finding is listed and links to the node it is about
    items = [a for t, a in page.tags if t == "li" and (a.get("id") or "").startswith("m0-f")]
    assert len(items) == len(fr.findings) == 16
    index = {n["name"]: i for i, n in enumerate(fr.view["nodes"])}
    links = [a["data-node"] for t, a in page.tags if t == "a" and a.get("data-node") and "findings" not in a]
    for f in fr.findings:
        assert f"m0-n{index[f.node]}" in links
    # flagged nodes are marked with the worst severity and point back at a finding
    flagged = {a["id"] for a in nodes if "flagged" in a["class"].split()}
    assert flagged == {f"m0-n{index[f.node]}" for f in fr.findings}
    assert all(a["data-finding"] in page.ids() for a in nodes if a["id"] in flagged)
    # summary: counts by severity and by rule; rule pages with their evidence
    body = "".join(page.text)
    assert "16 findings (11 warnings, 5 infos) in 1 file" in body
    assert "874,200" in body  # parameters in the summary and the layer table
    assert body.count("100% of 40 nodes understood") == 2  # coverage: in the summary and under the model
    assert {f"rule-{c}" for c in ("AL001", "AL003", "AL012", "AL014", "AL016")} <= page.ids()
    # rule pages are rendered from Markdown: headings, no raw "##", tables and fences
    assert "<h2>Why it hurts</h2>" in text and "<h2>Evidence</h2>" in text
    rules_part = text[text.index('<section id="rules">'):]
    assert "## " not in rules_part and "```" not in rules_part and "\n|" not in rules_part
    assert "<pre" not in rules_part or "<pre><code" in rules_part
    # parameters per layer: the layer table lists conv2d_2 with its weights
    assert re.search(r"conv2d_2</a></td><td>Conv</td><td>\(1, 60, 32, 32\)</td><td class=num>32,460</td>", text)


def test_page_is_self_contained_under_a_strict_csp(tmp_path: Path) -> None:
    result = lint_paths([str(FIXTURE)], keep_views=True)
    text = html_reporter.render(result)
    page = Page(text)
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and csp[0].startswith("default-src 'none'")
    script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    for body, directive in ((script, "script-src"), (style, "style-src")):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp[0]
    # nothing to fetch: no src/href leaving the page, no inline handlers or style attributes
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        href = (attrs.get("href") or "#").split("#")[0]  # in-page, or a web link of a rule page (followed, never fetched)
        assert not href or (href.startswith("https://") and attrs.get("rel") == "noopener noreferrer"), (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text.split("<section id=\"rules\">")[0]


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    model = hostile_model(tmp_path)
    result = lint_paths([str(model)], keep_views=True)
    assert not result.errors
    text = html_reporter.render(result)
    page = Page(text)
    tags = {t for t, _ in page.tags}
    assert "img" not in tags and "b" not in tags  # markup in a layer name stays text
    assert text.count("<script>") == 1  # only the page's own
    for name in HOSTILE:
        if "<" in name:
            assert name not in text
    body = "".join(page.text)
    assert "conv<script>alert(1)</script>" in body  # shown to the reader, as text
    assert "conv2\nsecond line &amp;" in body  # an entity in a name is not decoded
    assert len(page.by_class("node")) == result.files[0].nodes


def test_large_models_are_drawn_one_scope_at_a_time(tmp_path: Path) -> None:
    model = scoped_model(tmp_path, blocks=3)
    result = lint_paths([str(model)], keep_views=True)
    view = result.files[0].view
    tree = scope_tree(view)
    # stem (two nodes) is drawn inline; stages and its blocks are boxes
    assert [s.name for s in tree.scopes] == ["", "stages", "stages.0", "stages.1", "stages.2"]
    # the residual add named like its block lies inside the block
    adds = [i for i, n in enumerate(view["nodes"]) if n["kind"] == "add"]
    assert [tree.scopes[tree.home[i]].name for i in adds] == ["stages.0", "stages.1", "stages.2"]
    page = Page(html_reporter.render(result))
    views = [a for _, a in page.tags if "view" in (a.get("class") or "").split()]
    assert len(views) == 5 and [("hidden" in v) for v in views] == [False] + [True] * 4
    # every node is drawn exactly once, in the view of its innermost scope
    assert sorted(a["id"] for a in page.by_class("node")) == sorted(f"m0-n{i}" for i in range(len(view["nodes"])))
    # a scope box opens a view that exists; the crumbs lead back up
    ids = page.ids()
    assert all(a["data-view"] in ids for a in page.by_class("scope"))
    assert {a["data-view"] for _, a in page.tags if a.get("data-view")} <= ids
    # edges: one per data dependency, drawn in the innermost view holding both ends
    edges = tree.edges(view)
    total = sum(len(v) for v in edges.values())
    n_deps = sum(len(n["inputs"]) for n in view["nodes"])
    stem_relu, stages = 2, 1
    assert (("node", stem_relu), ("scope", stages)) in edges[0]  # stem.relu feeds the stages (twice, drawn once)
    # stem.relu feeds stages.0's conv1 and add: one edge stem.relu -> stages at the root;
    # each block's add feeds the next block's conv1 and add: one edge per pair of blocks
    assert total == n_deps - 1 - 2
    # where data enters and leaves a scope: an "in" and an "out" stub naming the outside nodes
    text = html_reporter.render(result)
    stubs = {m.group(1): re.findall(r'<g class="stub"><title>(.*?)</title>.*?>(in|out)</text>', m.group(2))
             for m in re.finditer(r'<div class="view" id="(m0-v\d+)".*?>(.*?)</div>', text, re.S)}
    assert stubs["m0-v0"] == []  # the whole model: nothing outside
    assert stubs["m0-v1"] == [("from stem.relu", "in")]  # stages: the output node is inside
    assert stubs["m0-v2"] == [("from stem.relu", "in"), ("to stages.1.conv1, stages.1", "out")]
    assert stubs["m0-v3"] == [("from stages.0", "in"), ("to stages.2.conv1, stages.2", "out")]
    # stub edges: stages' in -> block 0; per block in -> conv1, in -> add, and add -> out
    assert len(page.by_class("edge")) == total + 1 + 3 * 3


def test_a_flat_graph_of_thousands_of_nodes_is_chunked() -> None:
    nodes = [{"name": f"n{i}", "layer": f"dense_{i}", "kind": "dense", "op": "Gemm", "desc": "", "shape": None,
              "params": 1, "inputs": [i - 1] if i else [], "source": None} for i in range(3000)]
    tree = scope_tree({"nodes": nodes})
    assert max(len(s.children) for s in tree.scopes) <= CHUNK
    assert sorted(i for s in tree.scopes for k, i in s.children if k == "node") == list(range(3000))
    assert tree.scopes[0].nodes == 3000 and tree.scopes[0].params == 3000
    edges = tree.edges({"nodes": nodes})
    assert sum(len(e) for e in edges.values()) >= 2999 - len(tree.scopes)


@pytest.mark.parametrize(
    "layer,scopes",
    [
        ("layer1.0.conv1", ["layer1", "layer1.0"]),
        ("model/dense_1/MatMul", ["model", "model/dense_1"]),
        ("/layer1/conv", ["/layer1"]),
        ("fc", []),
        ("", []),
    ],
)
def test_scope_of(layer: str, scopes: list[str]) -> None:
    assert scope_of(layer) == scopes


@pytest.mark.skipif(dot_binary() is None, reason="Graphviz dot not installed (apt-get install graphviz); the fallback layout is tested")
def test_dot_and_the_fallback_draw_the_same_boxes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = lint_paths([str(scoped_model(tmp_path))], keep_views=True)
    with_dot = Page(html_reporter.render(result))
    monkeypatch.setenv("ARCHLINT_NO_DOT", "1")
    without = Page(html_reporter.render(result))
    assert "layout: dot" in "".join(with_dot.text) and "layout: fallback" in "".join(without.text)
    for cls in ("node", "scope", "edge"):
        assert len(with_dot.by_class(cls)) == len(without.by_class(cls)) > 0


def test_fallback_layout_is_layered(monkeypatch: pytest.MonkeyPatch) -> None:
    from archlint.layout import layout

    monkeypatch.setenv("ARCHLINT_NO_DOT", "1")
    (lay,) = layout([(4, [(0, 1), (0, 2), (1, 3), (2, 3)])])  # a diamond
    assert lay.engine == "fallback"
    ys = {i: y for i, (x, y) in lay.pos.items()}
    assert ys[0] < ys[1] == ys[2] < ys[3]
    assert lay.pos[1][0] != lay.pos[2][0]  # side by side
    assert len(lay.edges) == 4


PROBE = """
import sys
from archlint.cli import app
for args in (["check", sys.argv[1], "-f", "html", "-o", sys.argv[2]], ["check", sys.argv[1], "-f", "netron", "-o", sys.argv[2]],
             ["show", sys.argv[1]]):
    try:
        app(args)
    except SystemExit as e:
        print("EXIT", e.code)
print("HEAVY", sorted(m for m in sys.modules if m.split('.')[0] in {"torch", "tensorflow", "keras", "jax"}))
"""


def test_visual_outputs_of_an_onnx_file_import_no_framework(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", PROBE, str(FIXTURE), str(tmp_path / "out")], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.stdout.count("EXIT 1") == 2 and "EXIT 0" in r.stdout, r.stderr
    assert "HEAVY []" in r.stdout


def test_several_files_one_page(tmp_path: Path) -> None:
    keras = ROOT / "fixtures" / "keras" / "article_dropout03_before_act_dense.keras"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07 not onnx")
    out = tmp_path / "r.html"
    r = _cli("check", str(FIXTURE), str(broken), str(keras), "-f", "html", "-o", str(out))
    assert r.returncode == 2 and "broken.onnx" in r.stderr  # the unreadable file still fails the run
    page = Page(out.read_text(encoding="utf-8"))
    sections = [a["id"] for t, a in page.tags if t == "section" and "model" in (a.get("class") or "")]
    assert sections == ["m0", "m2"]  # the broken file has a summary row, not a drawing
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert len(ids) == len(set(ids))
    body = "".join(page.text)
    assert "32 findings (22 warnings, 10 infos) in 3 files; 1 could not be read" in body
    assert str(broken) in body and "keras" in body


def test_a_node_without_a_string_name_is_drawn() -> None:
    """A frontend may leave a non-string layer (the torch frontend gave an
    input of a transformers model ``layer=False``): the view names it."""
    from archlint.graph import GraphBuilder, OpKind

    b = GraphBuilder("m", "torch")
    b.add(OpKind.INPUT, "Input", False, inputs=(), outputs=("x",), name="Input")  # type: ignore[arg-type]
    b.add(OpKind.ACTIVATION, "relu", None, inputs=("x",), outputs=("y",), attrs={"activation": "relu"})  # type: ignore[arg-type]
    view = graph_view(b.finish())
    assert [n["layer"] for n in view["nodes"]] == ["Input", "relu"]
    from archlint.api import FileResult, LintResult

    text = html_reporter.render(LintResult(files=[FileResult(path="m", format="torch", nodes=2, view=view)]))
    assert len(Page(text).by_class("node")) == 2


def test_a_finding_on_no_node_is_listed_without_a_link() -> None:
    from archlint.findings import Finding, Severity

    result = lint_paths([str(FIXTURE)], keep_views=True)
    fr = result.files[0]
    fr.findings = [Finding(code="AL900", rule="export-hides-layers", severity=Severity.INFO, message="the export <hid> layers",
                           fix="export in training mode", path=fr.path)]
    text = html_reporter.render(result)
    page = Page(text)
    items = re.findall(r'<li id="m0-f\d+".*?</li>', text, re.S)
    assert len(items) == 1 and "data-node" not in items[0] and 'href="#rule-AL900"' in items[0]
    assert not [a for a in page.by_class("node") if "flagged" in a["class"].split()]
    assert "the export <hid> layers" in "".join(page.text)
