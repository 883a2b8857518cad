"""``archlint show``: the layer table (kind, output shape, parameters,
findings), the totals and the coverage line; ``--format json``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.view._models import FIXTURE, ROOT


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


def test_show_prints_the_layer_table_and_totals() -> None:
    r = _cli("show", str(FIXTURE))
    assert r.returncode == 0, r.stderr  # findings do not fail `show`
    lines = r.stdout.splitlines()
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in ln.split("\u2502")[1:-1]] for ln in lines) if cells}
    assert rows["conv2d_2"] == ["Conv", "(1, 60, 32, 32)", "32,460", ""]
    assert rows["dropout_1"] == ["Dropout", "(1, 60, 32, 32)", "-", "AL001"]
    assert rows["total"] == ["", "", "874,200", "16"]
    assert "Total parameters: 874,200" in lines
    assert "Findings: 16 (11 warnings, 5 infos)" in lines
    assert "Coverage: 100% of 40 nodes understood" in lines


def test_show_json_adds_up() -> None:
    r = _cli("show", str(FIXTURE), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "archlint.show" and doc["version"] == 1
    assert doc["totals"]["params"] == sum(x["params"] for x in doc["layers"]) == 874200
    assert doc["totals"]["layers"] == len(doc["layers"]) == 40
    assert sum(len(x["findings"]) for x in doc["layers"]) == doc["totals"]["findings"] == len(doc["findings"]) == 16
    assert doc["coverage"]["share"] == 1.0 and doc["coverage"]["nodes"] == 40
    d1 = next(x for x in doc["layers"] if x["layer"] == "dropout_1")
    assert d1 == {"layer": "dropout_1", "node": "dropout_1", "kind": "dropout", "op_type": "Dropout",
                  "output_shape": [1, 60, 32, 32], "params": 0, "findings": ["AL001"]}


def test_show_reports_a_bad_file_on_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    r = _cli("show", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(f"archlint: error: {bad}: ")
    r = _cli("show", str(FIXTURE), "--format", "xml")
    assert r.returncode == 2 and "unknown --format 'xml'" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
def test_show_resnet50_matches_torchinfo_parameter_count() -> None:
    """torchinfo counts every parameter of the module (25,557,032 for
    ResNet-50): sum(p.numel()) over model.parameters()."""
    r = _cli("show", "torchvision.models:resnet50", "--input-shape", "1x3x224x224", "--format", "json", timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    code = (
        "from archlint.frontends import _torchvision_compat as c; c.install(); import torchvision;"
        "print(sum(p.numel() for p in torchvision.models.resnet50().parameters()))"
    )
    expected = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout)
    assert expected == 25_557_032
    assert doc["totals"]["params"] == expected
    convs = [x for x in doc["layers"] if x["kind"] == "conv"]
    assert len(convs) == 53 and doc["layers"][-1]["layer"] == "fc" and doc["layers"][-1]["params"] == 2_049_000


def test_show_takes_one_model(tmp_path) -> None:
    r = _cli("show", "fixtures/keras")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("archlint: error: fixtures/keras: show takes one model; this folder holds ")
