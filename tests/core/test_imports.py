"""Linting ONNX must not import torch, tensorflow or keras (they cost seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "tensorflow", "keras", "jax")

PROBE = """
import sys
from archlint.cli import app
try:
    app(["check", sys.argv[1], "--format", "json"])
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})
print("HEAVY", heavy)
print("EXIT", code)
"""


def probe(path: Path) -> str:
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), str(path)],
        capture_output=True, text=True, timeout=120,
    )
    return r.stdout


def test_onnx_check_imports_no_framework() -> None:
    out = probe(ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx")
    assert "HEAVY []" in out
    assert "EXIT 1" in out  # the probe really linted: findings were found


def test_executor_records_are_framework_free() -> None:
    """The frontends record what execution needs (archlint.execute.spec) without
    importing torch; only building a module does."""
    code = (
        "import sys\n"
        "import archlint.execute, archlint.execute.spec\n"
        "from archlint.frontends import load_graph\n"
        f"g = load_graph({str(ROOT / 'fixtures' / 'onnx' / 'article_dropout03_before_act_dense.onnx')!r})\n"
        "assert g.meta['weights'] and all(n.impl is not None for n in g.nodes if n.kind.value not in ('input', 'output'))\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in %r))\n" % (set(HEAVY),)
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr
