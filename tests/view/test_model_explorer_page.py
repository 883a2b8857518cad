"""`--format model-explorer` in Google's Model Explorer (pip ai-edge-model-explorer, its own
server, Debian's headless chromium): the node data loads over a PyTorch ExportedProgram
(.pt2, which Model Explorer opens itself) and colours the flagged node, and only it.
Requests that are not to the local server are blocked."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.view import browser
from tests.view._models import ROOT

_why = browser.missing()
if _why:
    pytest.skip(f"browser tests skipped: {_why}", allow_module_level=True)
pytest.importorskip("model_explorer")
torch = pytest.importorskip("torch")

from playwright.sync_api import sync_playwright  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_node_data_colours_the_flagged_node_in_model_explorer(tmp_path: Path) -> None:
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Dropout(0.3), torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU())
    torch.export.save(torch.export.export(m.train(), (torch.randn(1, 3, 16, 16),)), str(tmp_path / "m.pt2"))
    nd = tmp_path / "nd.json"
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", str(tmp_path / "m.pt2"), "--select", "AL001",
                        "-f", "model-explorer", "-o", str(nd)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "model_explorer", str(tmp_path / "m.pt2"), "--node_data_paths", str(nd),
                             "--host", "127.0.0.1", "--port", str(port), "--no_open_in_browser", "--skip_health_check"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = None, time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"model_explorer exited {proc.returncode}")
            m_ = re.search(rf"(http://127\.0\.0\.1:{port}/\?data=\S+)", line)
            url = m_.group(1) if m_ else None
        assert url, "Model Explorer's server did not start"
        with sync_playwright() as p:
            b = browser.launch(p)
            try:
                page = b.new_page(viewport={"width": 1400, "height": 900})
                page.route(re.compile(rf"^(?!http://127\.0\.0\.1:{port}/).*"), lambda rq: rq.abort())
                page.goto(url)
                page.get_by_text("archlint findings (1 warning)").first.wait_for(timeout=60000)
                page.get_by_text("aten.dropout").first.wait_for(timeout=30000)
                rows = [ln.split("\t") for ln in page.locator("body").inner_text().splitlines() if ln.count("\t") == 2]
                values = {(row[1].strip(), row[2].strip()) for row in rows if row[1].strip().startswith("aten.")}
                # the node data table: the dropout has the warning rank, every other op none
                assert values == {("aten.dropout", "2"), ("aten.conv2d", "-"), ("aten.relu", "-")}, values
                # the value's cell is drawn in the finding's colour (#f2cc60, warning)
                colours = page.evaluate("""() => Array.from(document.querySelectorAll('*'))
                    .filter(e => e.children.length === 0 && e.textContent.trim() === '2')
                    .flatMap(e => [e, e.parentElement, e.parentElement.parentElement])
                    .map(e => getComputedStyle(e).backgroundColor)""")
                assert "rgb(242, 204, 96)" in colours, colours
            finally:
                b.close()
    finally:
        browser.stop(proc)
