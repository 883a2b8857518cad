"""`archlint view MODEL` in Netron's own page (Netron's server from PyPI, Debian's
headless chromium): the annotated model loads as `netron model.onnx` would load
it, Find lists the flagged nodes by a finding code, and a flagged node's
properties show the finding's text. Netron's page calls out to telemetry
hosts; the test blocks every request that is not to the local server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.view import browser
from tests.view._models import FIXTURE, ROOT

_why = browser.missing()
if _why:
    pytest.skip(f"browser tests skipped: {_why}", allow_module_level=True)
pytest.importorskip("netron")

from playwright.sync_api import sync_playwright  # noqa: E402


def test_archlint_view_shows_findings_in_netrons_page(tmp_path: Path) -> None:
    out = tmp_path / "fixture.archlint.onnx"
    proc = subprocess.Popen([sys.executable, "-m", "archlint.cli", "view", str(FIXTURE), "--no-browser", "--host",
                             "127.0.0.1", "--port", "0", "-o", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        line = ""
        while time.monotonic() < deadline and "serving" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"archlint view exited {proc.returncode}: {proc.stderr.read()}")
        m = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        assert m, line
        assert out.is_file()
        with sync_playwright() as p:
            b = browser.launch(p)
            try:
                page = b.new_page(viewport={"width": 1280, "height": 800})
                page.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda r: r.abort())  # no telemetry
                page.goto(m.group(1))
                accept = page.locator("text=Accept")  # Netron's first-run notice
                try:
                    accept.wait_for(timeout=5000)
                    accept.click()
                except Exception:  # noqa: BLE001 - no notice: the model loads at once
                    pass
                page.wait_for_selector("g.node", timeout=30000)
                assert page.locator("g.node").count() == 42  # the model's 40 nodes, its input and output
                # Find (Ctrl+F) by a finding code lists exactly the flagged nodes of that rule
                # Netron binds its keys once the page has settled: a press before that is lost, so
                # press again until the find box shows (about 1 run in 3 lost the first press)
                for _ in range(15):
                    page.keyboard.press("Control+f")
                    try:
                        page.wait_for_selector("#search", state="visible", timeout=2000)
                        break
                    except Exception:  # noqa: BLE001 - not bound yet: press again
                        continue
                page.fill("#search", "AL001")
                items = page.locator(".sidebar-find-content li")
                items.first.wait_for(timeout=5000)
                names = [items.nth(i).inner_text() for i in range(items.count())]
                assert names == [f"dropout_{i} [archlint AL001]" for i in range(1, 10)]
                # a flagged node's properties hold the finding: description and metadata
                items.first.dblclick()
                side = page.locator("#sidebar")
                side.get_by_text("NODE PROPERTIES", exact=False).first.wait_for(timeout=5000)
                text = side.inner_text()
                want = "archlint AL001 dropout-between-conv (warning): dropout (rate 0.3) between convolutions 'conv2d_1' and 'conv2d_2'"
                assert text.count(want) == 2, text  # the description and the metadata entry
                assert "Fix: remove it, or use batch normalization" in text
            finally:
                b.close()
    finally:
        browser.stop(proc)
