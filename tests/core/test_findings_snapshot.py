"""The findings on every fixture (and a few zoo models) are the recorded ones.

``tests/data/findings_snapshot.json`` was recorded by ``scripts/findings_snapshot.py``
before the graph package and its pass pipeline were refactored (issue 18): a
refactor must keep it identical. When findings change on purpose (a rule fixed,
a frontend improved), rerun ``python scripts/findings_snapshot.py`` and commit
the new snapshot with the change that explains it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import findings_snapshot as snapshot  # noqa: E402

RECORDED = json.loads(snapshot.SNAPSHOT.read_text())
HINT = "findings changed; if on purpose, rerun: python scripts/findings_snapshot.py"


def test_fixture_findings_match_the_snapshot() -> None:
    got = snapshot.collect(("fixtures",))["fixtures"]
    assert len(got) >= 150  # every fixture file and the well-known rebuilds were linted
    assert snapshot.diff(RECORDED["fixtures"], got) == [], HINT


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_torch_and_zoo_findings_match_the_snapshot() -> None:
    pytest.importorskip("transformers")
    got = snapshot.collect(("torch",))["torch"]
    assert snapshot.diff(RECORDED["torch"], got) == [], HINT


def test_diff_names_a_changed_finding() -> None:
    old = {"m.onnx": {"findings": [{"code": "AL001", "layer": "a", "node": "a", "message": "x"}]}}
    new = {"m.onnx": {"findings": [{"code": "AL001", "layer": "b", "node": "b", "message": "x"}]}, "n.onnx": {"error": "bad"}}
    lines = snapshot.diff(old, new)
    assert any(line.startswith("m.onnx: - ") and '"layer": "a"' in line for line in lines)
    assert any(line.startswith("m.onnx: + ") and '"layer": "b"' in line for line in lines)
    assert "n.onnx: new file" in lines
