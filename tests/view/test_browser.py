"""The HTML report in a real headless Chromium: the drawing renders one box
per node, clicking a finding shows and highlights its node (opening its name
scope), scope boxes and crumbs navigate, and nothing logs an error: not the
page's script, not the Content-Security-Policy, not a hostile layer name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.view import browser
from tests.view._models import FIXTURE, ROOT, hostile_model, scoped_model

_why = browser.missing()
if _why:
    pytest.skip(f"browser tests skipped: {_why}", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


def _report(model: Path, out: Path, *extra: str) -> Path:
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", str(model), "-f", "html", "-o", str(out), *extra],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return out


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()


def _open(chromium, path: Path):
    page = chromium.new_page(viewport={"width": 1200, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    return page, problems


def _in_view(page, selector: str) -> bool:
    return page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
        const g = document.querySelector(sel).closest('.graph').getBoundingClientRect();
        return r.width > 0 && r.top >= Math.max(0, g.top) - 1 && r.bottom <= Math.min(innerHeight, g.bottom) + 1; }""",
        selector,
    )


def test_fixture_report_renders_and_finding_click_focuses_its_node(chromium, tmp_path: Path) -> None:
    page, problems = _open(chromium, _report(FIXTURE, tmp_path / "r.html"))
    # the drawing is there: 42 boxes, one per node of the model, laid out with real sizes
    assert page.locator("svg.dag g.node").count() == 42
    box = page.locator("#m0-n1 rect").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 20
    assert page.locator("svg.dag g.node.flagged").count() == len({*page.eval_on_selector_all(
        "ol.findings a[data-node]", "els => els.map(e => e.getAttribute('data-node'))")})
    # the last finding's node is far down the drawing; clicking the finding scrolls it into view
    last = page.locator("ol.findings li").last
    target = last.locator("a[data-node]").get_attribute("data-node")
    assert not _in_view(page, f"#{target}")
    last.locator("a[data-node]").click()
    page.wait_for_timeout(300)
    assert "focus" in page.locator(f"#{target}").get_attribute("class").split()
    assert _in_view(page, f"#{target}")
    assert page.locator(".focus").count() == 1
    # clicking a flagged node goes to its finding
    page.locator("#m0-n2").click()
    page.wait_for_timeout(200)
    assert page.locator("li.focus").get_attribute("id") == page.locator("#m0-n2").get_attribute("data-finding")
    assert problems == []
    page.close()


def test_scopes_open_and_findings_open_their_scope(chromium, tmp_path: Path) -> None:
    page, problems = _open(chromium, _report(scoped_model(tmp_path), tmp_path / "s.html", "--select", "AL005"))
    visible = lambda: page.eval_on_selector_all(".view", "vs => vs.filter(v => !v.hidden).map(v => v.id)")  # noqa: E731
    assert visible() == ["m0-v0"]
    assert page.locator("svg.dag g.node").count() == 22  # every node (input, 20 layers, output), across the views
    # a finding inside stages.1 opens that scope's drawing and highlights the conv
    link = page.locator("ol.findings a[data-node]").nth(3)
    target = link.get_attribute("data-node")
    link.click()
    page.wait_for_timeout(200)
    view = page.locator(f"#{target}").evaluate("n => n.closest('.view').id")
    assert visible() == [view] and view != "m0-v0"
    assert "focus" in page.locator(f"#{target}").get_attribute("class").split()
    # crumbs go back up; a dashed scope box opens its scope
    page.locator(f"#{view} .crumbs a").first.click()
    assert visible() == ["m0-v0"]
    page.locator("#m0-v0 g.scope").last.click()
    assert len(visible()) == 1 and visible() != ["m0-v0"]
    assert problems == []
    page.close()


def test_hostile_names_run_nothing(chromium, tmp_path: Path) -> None:
    page, problems = _open(chromium, _report(hostile_model(tmp_path), tmp_path / "h.html"))
    assert page.locator("img").count() == 0
    assert page.locator("svg.dag g.node").count() == 7
    assert "conv<script>alert(1)</script>" in page.locator("#m0-n1 title").text_content()
    page.locator("ol.findings a[data-node]").first.click()
    page.wait_for_timeout(200)
    assert problems == []
    page.close()


def test_screenshot_helper_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "tests.view.browser", "--screenshot", str(out)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_a_model_of_1500_nodes_stays_usable(chromium, tmp_path: Path) -> None:
    import onnx

    from tests.zoo.onnx_build import to_onnx

    layers = []
    for i in range(750):
        layers += [{"name": f"conv_{i}", "op": "conv", "filters": 4, "kernel": 1}, {"name": f"relu_{i}", "op": "relu"}]
    model = tmp_path / "flat.onnx"
    onnx.save(to_onnx(layers, name="flat", hw=4), model)
    page, problems = _open(chromium, _report(model, tmp_path / "f.html", "--select", "AL008"))
    assert page.locator("svg.dag g.node").count() == 1502  # every node is in the page
    shown = page.locator(".view:not([hidden]) svg.dag g")
    assert 0 < shown.count() <= 120  # but the first drawing holds runs of nodes, not 1,502 boxes
    page.locator(".view:not([hidden]) g.scope").nth(10).click()
    assert page.locator(".view:not([hidden]) svg.dag g.node").count() == 60
    # a link to a node deep in the chain (report.html#m0-n1400) opens its run and highlights it
    page.goto((tmp_path / "f.html").as_uri() + "#m0-n1400")
    page.wait_for_timeout(200)
    assert "focus" in page.locator("#m0-n1400").get_attribute("class").split()
    assert page.locator("#m0-n1400").evaluate("n => !n.closest('.view').hidden")
    assert problems == []
    page.close()


def test_rule_pages_are_rendered_html(chromium, tmp_path: Path) -> None:
    """Rule pages are Markdown rendered to HTML: headings, tables and code blocks, no raw pipes or fences."""
    page, problems = _open(chromium, _report(FIXTURE, tmp_path / "r.html"))
    art = page.locator("#rule-AL001 .doc")
    assert art.locator("h2").count() >= 4 and art.locator("table").count() >= 1 and art.locator("pre code").count() >= 1
    text = page.locator("#rules").inner_text()
    assert "## " not in text and "```" not in text and "|---" not in text and "| --- |" not in text
    assert not [ln for ln in text.splitlines() if ln.strip().startswith("|")]
    # the two-column layout of a table is real: its cells are laid out side by side
    cells = art.locator("table tr").nth(1).locator("td")
    assert cells.count() >= 2 and cells.nth(0).bounding_box()["x"] < cells.nth(1).bounding_box()["x"]
    assert problems == []
    page.close()


def _long_label_model(tmp: Path) -> Path:
    """A ResNet-like stem: conv2d(64, 7x7) stride 2 on 224x224, the label the old report clipped."""
    import onnx

    from tests.zoo.onnx_build import to_onnx

    layers = [{"name": "stem_convolution_with_a_long_name_7x7", "op": "conv", "filters": 64, "kernel": 7, "stride": 2},
              {"name": "stem_batch_norm", "op": "bn"},
              {"name": "stem_relu", "op": "relu"},
              {"name": "head.dropout", "op": "dropout", "rate": 0.3},
              {"name": "head.conv", "op": "conv", "filters": 64, "kernel": 3}]
    p = tmp / "stem.onnx"
    onnx.save(to_onnx(layers, name="stem", hw=224), p)
    return p


def test_box_labels_are_whole_and_fit_their_box(chromium, tmp_path: Path) -> None:
    page, problems = _open(chromium, _report(_long_label_model(tmp_path), tmp_path / "l.html"))
    labels = page.eval_on_selector_all("svg.dag g.node", """gs => gs.map(g => {
        const r = g.querySelector('rect').getBBox();
        return {id: g.id, box: [r.x, r.width], texts: Array.from(g.querySelectorAll('text:not(.badge)')).map(t => {
            const b = t.getBBox(); return {s: t.textContent, x: b.x, w: b.width}; })}; })""")
    assert len(labels) == 7
    seen = [t["s"] for g in labels for t in g["texts"]]
    assert "(1, 64, 112, 112)" in seen  # the output shape, whole, on its own line
    assert any(s.startswith("Conv") and "7x7" in s for s in seen), seen
    assert "stem_convolution_with_a_long_name_7x7" in seen  # a 37-character name, whole (condensed to fit)
    for g in labels:
        x, w = g["box"]
        for t in g["texts"]:
            assert "\u2026" not in t["s"], t  # nothing cut off
            assert x <= t["x"] and t["x"] + t["w"] <= x + w + 0.5, (g["id"], t)  # drawn inside its box
    assert problems == []
    page.close()


def test_graph_column_uses_the_page_width(chromium, tmp_path: Path) -> None:
    """The model section spans the page; a narrow drawing gives its room to the findings column."""
    page = chromium.new_page(viewport={"width": 1600, "height": 900})
    page.goto(_report(FIXTURE, tmp_path / "w.html").as_uri())
    body = page.locator("#m0 .body").bounding_box()
    graph = page.locator("#m0-graph").bounding_box()
    side = page.locator("#m0 .side").bounding_box()
    svg = page.locator("#m0-v0 svg.dag").bounding_box()
    assert body["width"] >= 0.9 * 1600 - 80  # the section is as wide as the page, less its margins
    assert graph["width"] <= svg["width"] + 40  # the graph column is the drawing's width, not empty space
    assert side["width"] >= body["width"] - graph["width"] - 30  # the rest goes to the findings
    page.close()
