"""Adopting archlint in a repository with old findings: ``--write-baseline`` /
``--baseline`` (known findings left out, matched across a layer rename), inline
``# archlint: ignore[...]`` comments on the source line a finding points to (unused ones
reported), ``--statistics`` and the grouped text output."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")

NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.{drop} = nn.Dropout(0.3)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = self.{drop}(x){comment}
        x = torch.relu(self.c2(x)){comment2}
        return self.head(x.mean((2, 3)))
'''


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


def _net(tmp: Path, drop: str = "drop", comment: str = "", comment2: str = "") -> str:
    f = tmp / "net.py"
    f.write_text(NET.format(drop=drop, comment=comment, comment2=comment2))
    return f"{f}:Net"


def test_baseline_leaves_known_findings_out_and_fails_on_new_ones(tmp_path) -> None:
    base = tmp_path / "baseline.json"
    r = _cli("check", str(FIXTURE), "--write-baseline", str(base))
    assert r.returncode == 0, r.stderr
    doc = json.loads(base.read_text())
    assert doc["schema"] == "archlint.baseline" and len(doc["findings"]) == 16
    assert "wrote 16 findings to the baseline" in r.stderr
    r = _cli("check", str(FIXTURE), "--baseline", str(base))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 findings in 1 file" in r.stdout
    assert "16 findings known from" in r.stderr
    # a baseline that knows only part of them: the rest fail the run
    doc["findings"] = [e for e in doc["findings"] if e["code"] != "AL001"]
    base.write_text(json.dumps(doc))
    r = _cli("check", str(FIXTURE), "--baseline", str(base), "--format", "json")
    assert r.returncode == 1
    assert {f["code"] for f in json.loads(r.stdout)["findings"]} == {"AL001"}


@needs_torch
def test_baseline_matches_a_renamed_layer_and_reports_stale_entries(tmp_path) -> None:
    base = tmp_path / "baseline.json"
    spec = _net(tmp_path)
    assert _cli("check", spec, "--input-shape", "2x3x32x32", "--write-baseline", str(base)).returncode == 0
    assert [e["layer"] for e in json.loads(base.read_text())["findings"] if e["code"] == "AL001"] == ["drop"]
    spec = _net(tmp_path, drop="dropout")  # the layer renamed: the same finding, known
    r = _cli("check", spec, "--input-shape", "2x3x32x32", "--baseline", str(base))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(base.read_text())
    doc["findings"].append({"path": doc["findings"][0]["path"], "code": "AL009", "layer": "x", "message": "gone"})
    base.write_text(json.dumps(doc))
    r = _cli("check", spec, "--input-shape", "2x3x32x32", "--baseline", str(base))
    assert "1 of its entries matched nothing" in r.stderr


def test_a_file_that_is_not_a_baseline_is_one_error(tmp_path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"findings": 3}')
    r = _cli("check", str(FIXTURE), "--baseline", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip() == f"archlint: error: {bad} is not an archlint baseline (write one with --write-baseline)"


@needs_torch
def test_inline_ignore_on_the_source_line_and_unused_ones_reported(tmp_path) -> None:
    spec = _net(tmp_path, comment="  # archlint: ignore[AL001]", comment2="  # archlint: ignore[dropout-rate-too-high]")
    r = _cli("check", spec, "--input-shape", "2x3x32x32", "--format", "json")
    doc = json.loads(r.stdout)
    assert "AL001" not in {f["code"] for f in doc["findings"]}
    assert doc["unused_suppressions"] == [f"inline {tmp_path / 'net.py'}:17: ignore[dropout-rate-too-high]"]
    spec = _net(tmp_path)  # without the comment the finding is back
    r = _cli("check", spec, "--input-shape", "2x3x32x32", "--format", "json")
    assert "AL001" in {f["code"] for f in json.loads(r.stdout)["findings"]}


def test_statistics_counts_per_rule_most_first() -> None:
    r = _cli("check", str(FIXTURE), "--statistics")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    rows = [ln.split() for ln in lines]
    assert sum(int(x[0]) for x in rows) == 16
    assert [int(x[0]) for x in rows] == sorted((int(x[0]) for x in rows), reverse=True)
    assert any(x[1] == "AL001" and x[2] == "dropout-between-conv" and x[3] == "[warning]" for x in rows)


def test_text_output_groups_many_findings_of_one_rule(tmp_path) -> None:
    r = _cli("check", str(FIXTURE), "--select", "AL020", "--fail-on", "error")
    n = sum(1 for ln in r.stdout.splitlines() if ln.lstrip().startswith("AL020 "))
    total = int(r.stdout.strip().splitlines()[-1].split()[0])
    if total > 5:
        assert n == 3 and f"... and {total - 3} more AL020 findings like these (--verbose shows all)" in r.stdout
        r = _cli("check", str(FIXTURE), "--select", "AL020", "--fail-on", "error", "--verbose")
        assert sum(1 for ln in r.stdout.splitlines() if ln.lstrip().startswith("AL020 ")) == total
    else:
        pytest.skip(f"the fixture gives {total} AL020 findings, too few to group")
