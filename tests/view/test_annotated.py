"""``--format onnx-annotated`` (the findings inside a copy of the ONNX model, for
Netron in every mode) and ``--format model-explorer`` (Model Explorer's custom
node data), checked on the files they write; test_netron_page.py opens the
annotated copy in Netron's own page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.view._models import FIXTURE, ROOT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _unnamed(tmp: Path) -> Path:
    """conv -> dropout -> conv with no node names (archlint names them; the copy matches by output)."""
    w = [helper.make_tensor(f"w{i}", TensorProto.FLOAT, [4, c, 3, 3], [0.0] * (4 * c * 9)) for i, c in ((1, 3), (2, 4))]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Dropout", ["c1"], ["d1"]),
        helper.make_node("Conv", ["d1", "w2"], ["y"], pads=[1, 1, 1, 1]),
    ]
    g = helper.make_graph(nodes, "unnamed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], w)
    p = tmp / "unnamed.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), p)
    return p


def test_annotated_copy_holds_each_finding_on_its_node_and_the_model(tmp_path: Path) -> None:
    out = tmp_path / "ann.onnx"
    r = _cli("check", str(FIXTURE), "-f", "onnx-annotated", "-o", str(out))
    assert r.returncode == 1, r.stderr  # findings: the exit code is check's
    found = json.loads(_cli("check", str(FIXTURE), "-f", "json").stdout)["findings"]
    m = onnx.load(str(out), load_external_data=False)
    orig = onnx.load(str(FIXTURE), load_external_data=False)
    flagged = {n.name: n for n in m.graph.node if " [archlint " in n.name}
    assert len(flagged) == len({f["node"] for f in found}) == 16
    for f in found:
        node = flagged[next(k for k in flagged if k.startswith(f["node"] + " [archlint "))]
        assert f["code"] in node.name
        assert f"archlint {f['code']} {f['rule']} ({f['severity']}): {f['message']} Fix: {f['fix']}" in node.doc_string
        assert any(p.key.startswith(f"archlint.{f['code']}") and f["message"] in p.value for p in node.metadata_props)
    props = {p.key: p.value for p in m.metadata_props}
    assert props["archlint"].startswith("archlint ") and "16 findings (11 warning, 5 info)" in props["archlint"]
    assert len(props["archlint.findings"].splitlines()) == 16
    # nothing else changed: the same ops, edges and weights
    assert [(n.op_type, list(n.input), list(n.output)) for n in m.graph.node] == [
        (n.op_type, list(n.input), list(n.output)) for n in orig.graph.node]
    assert [t.SerializeToString() for t in m.graph.initializer] == [t.SerializeToString() for t in orig.graph.initializer]


def test_unnamed_nodes_are_matched_by_their_output(tmp_path: Path) -> None:
    p = _unnamed(tmp_path)
    out = tmp_path / "ann.onnx"
    r = _cli("check", str(p), "--select", "AL001", "-f", "onnx-annotated", "-o", str(out))
    assert r.returncode == 1, r.stderr
    m = onnx.load(str(out))
    drop = next(n for n in m.graph.node if n.op_type == "Dropout")
    assert drop.name == "Dropout [archlint AL001]" and "dropout-between-conv" in drop.doc_string
    assert [n.name for n in m.graph.node if n.op_type == "Conv"] == ["", ""]
    onnx.checker.check_model(m)


def test_annotated_format_needs_an_output_file_and_an_onnx_model(tmp_path: Path) -> None:
    r = _cli("check", str(FIXTURE), "-f", "onnx-annotated")
    assert r.returncode == 2 and "archlint: error: --format onnx-annotated writes a model file: give -o FILE" in r.stderr
    keras = next((ROOT / "fixtures").glob("keras/*.keras"), None) or next((ROOT / "fixtures").glob("**/*.h5"))
    r = _cli("check", str(keras), "-f", "onnx-annotated", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "annotates ONNX files" in r.stderr and "--format netron" in r.stderr
    assert not (tmp_path / "x.onnx").exists() or (tmp_path / "x.onnx").stat().st_size == 0


def test_model_explorer_node_data_follows_its_schema_and_colours_flagged_nodes(tmp_path: Path) -> None:
    """The JSON loads into Model Explorer's own node-data classes (model_explorer.node_data_builder),
    keyed by each flagged node's name and its output tensor name, coloured by worst severity."""
    ndb = pytest.importorskip("model_explorer.node_data_builder")
    r = _cli("check", str(FIXTURE), "-f", "model-explorer")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"name", "results", "thresholds"}
    data = ndb.GraphNodeData(
        name=doc["name"],
        results={k: ndb.NodeDataResult(**v) for k, v in doc["results"].items()},
        thresholds=[ndb.ThresholdItem(**t) for t in doc["thresholds"]],
    )
    back = json.loads(data.to_json_string())  # Model Explorer's own serialisation: archlint's fields, plus its defaults
    assert {k: back[k] for k in doc} == doc
    found = json.loads(_cli("check", str(FIXTURE), "-f", "json").stdout)["findings"]
    outs = {n.name: n.output[0] for n in onnx.load(str(FIXTURE), load_external_data=False).graph.node}
    flagged = {f["node"] for f in found}
    assert set(doc["results"]) == flagged | {outs[n] for n in flagged}
    rank = {"info": 1, "warning": 2, "error": 3}
    for n in flagged:
        worst = max(rank[f["severity"]] for f in found if f["node"] == n)
        assert doc["results"][n]["value"] == doc["results"][outs[n]]["value"] == worst
        assert doc["results"][n]["bgColor"] == {1: "#9ecbff", 2: "#f2cc60", 3: "#ff8182"}[worst]


def test_view_refuses_a_model_that_is_not_onnx_before_serving(tmp_path: Path) -> None:
    pytest.importorskip("netron")
    keras = next((ROOT / "fixtures").glob("keras/*.keras"), None) or next((ROOT / "fixtures").glob("**/*.h5"))
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "view", str(keras), "--no-browser", "-o",
                        str(tmp_path / "x.onnx")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "annotates ONNX files" in r.stderr and "serving" not in r.stdout
    assert not (tmp_path / "x.onnx").exists()
