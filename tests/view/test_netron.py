"""``--format netron``: a ``netron:attachment`` sidecar whose node targets are
the node names Netron shows for the file, so the findings land on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx

from tests.view._models import FIXTURE, ROOT, hostile_model


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_attachment_targets_the_onnx_node_names(tmp_path: Path) -> None:
    out = tmp_path / "model.archlint.json"
    r = _cli("check", str(FIXTURE), "--format", "netron", "-o", str(out))
    assert r.returncode == 1, r.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["signature"] == "netron:attachment"
    names = {n.name for n in onnx.load(str(FIXTURE)).graph.node}
    for container in ("metadata", "metrics"):
        for item in doc[container]:
            assert set(item) >= {"kind", "target", "name", "value"}
            if item["kind"] == "model":
                assert item["target"] == ""
            else:
                assert item["kind"] == "node" and item["target"] in names, item
    # every AL001 finding of the text report is on its dropout node
    found = {(i["target"], i["name"]) for i in doc["metadata"] if i["kind"] == "node"}
    assert {t for t, n in found if n == "archlint AL001"} == {f"dropout_{i}" for i in range(1, 10)}
    note = next(i for i in doc["metadata"] if i["target"] == "dropout_1" and i["name"] == "archlint AL001")
    assert note["value"].startswith("warning: dropout (rate 0.3) between convolutions") and "Fix: " in note["value"]
    # metrics: parameters per node add up to the model's; findings counted per node
    params = {i["target"]: i["value"] for i in doc["metrics"] if i["kind"] == "node" and i["name"] == "parameters"}
    model_params = next(i["value"] for i in doc["metrics"] if i["kind"] == "model" and i["name"] == "parameters")
    assert params["conv2d_2"] == 32460 and sum(params.values()) == model_params == 874200
    counts = {i["target"]: i["value"] for i in doc["metrics"] if i["name"] == "archlint findings"}
    assert counts[""] == 16 and counts["dropout_1"] == 1


def test_names_are_cut_at_a_line_break_and_unique_per_node(tmp_path: Path) -> None:
    from archlint.api import lint_paths
    from archlint.reporters.netron_reporter import attachment

    r = lint_paths([str(hostile_model(tmp_path))], keep_views=True).files[0]
    doc = attachment(r)
    for item in doc["metadata"] + doc["metrics"]:
        assert "\n" not in item["target"] and "\n" not in item["name"]
    for container in ("metadata", "metrics"):  # Netron keeps only the last item of a repeated name
        keys = [(i["kind"], i["target"], i["name"]) for i in doc[container]]
        assert len(keys) == len(set(keys)), container
    assert any(i["target"] == "conv2" for i in doc["metrics"])  # 'conv2\nsecond line' as Netron matches it

def test_one_model_per_attachment(tmp_path: Path) -> None:
    r = _cli("check", str(FIXTURE), str(FIXTURE.with_name("article_control_before_act_gap.onnx")), "--format", "netron")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "archlint: error: --format netron writes the attachment of one model: give one model file"
