"""The Python API in a real notebook: docs/notebook.ipynb executed in a real kernel
(nbclient + ipykernel) shows archlint's report for a live torch model and a live Keras
model, as HTML (the self-contained report in an iframe) and as text."""

from __future__ import annotations

import html
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("nbclient", "nbformat", "ipykernel", "torch", "keras")),
    reason="nbclient, ipykernel, torch and keras are needed (pip install -e '.[dev,torch]')",
)


@pytest.fixture(scope="module")
def executed():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "docs" / "notebook.ipynb", as_version=4)
    env_backend = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        if env_backend is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = env_backend
    return [c for c in nb.cells if c.cell_type == "code"]


def _data(cell, mime):
    return [o["data"][mime] for o in cell.get("outputs", []) if o.get("output_type") == "execute_result" and mime in o.get("data", {})]


def test_torch_model_report_is_shown_as_html_and_text(executed):
    cell = executed[1]
    (page,) = _data(cell, "text/html")
    assert page.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in page
    report = html.unescape(page.split('srcdoc="', 1)[1].split('" sandbox', 1)[0])
    assert report.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in report
    assert "AL001" in report and "dropout-between-conv" in report
    (plain,) = _data(cell, "text/plain")
    assert plain.startswith("<archlint.CheckResult Sequential:") and "AL001" in plain
    (codes,) = _data(executed[2], "text/plain")
    assert "('AL001', '2')" in codes


def test_keras_model_report_names_the_single_unit_softmax(executed):
    (page,) = _data(executed[3], "text/html")
    report = html.unescape(page.split('srcdoc="', 1)[1].split('" sandbox', 1)[0])
    assert "AL026" in report
    printed = "".join(o.get("text", "") for o in executed[4]["outputs"] if o.get("output_type") == "stream")
    assert "AL026" in printed and "single" in printed.lower()
