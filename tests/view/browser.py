"""Open an HTML report in Debian's headless Chromium through playwright
(playwright's own browser downloads are never used).

    python -m tests.view.browser --screenshot docs/html-report.png   # the README picture
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no chromium binary (scripts/install-system-deps.sh installs Debian's chromium as root)"
    return None


def stop(proc: subprocess.Popen) -> None:
    """End a server the test started (its own process, by its handle), within seconds."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def launch(p):
    return p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshot", required=True, help="PNG to write")
    ap.add_argument("--model", default="fixtures/onnx/article_dropout03_before_act_dense.onnx")
    ap.add_argument("--finding", default="m0-f1", help="the finding to click before the picture")
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        subprocess.run([sys.executable, "-m", "archlint.cli", "check", a.model, "-f", "html", "-o", str(report)], cwd=root, check=False)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(report.as_uri())
            page.click(f"#{a.finding} a[data-node]")
            page.wait_for_timeout(200)
            page.evaluate("document.querySelector('.model').scrollIntoView()")
            page.screenshot(path=a.screenshot)
            browser.close()
    print(f"wrote {a.screenshot} ({os.path.getsize(a.screenshot)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
