"""Every ONNX fixture gives exactly its expected findings (codes and layers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.frontends import load_graph

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "fixtures" / "onnx").glob("*.expected.json"))
CODES = ["AL001", "AL002", "AL003"]


@pytest.mark.parametrize("expected", CASES, ids=lambda p: p.name.split(".")[0])
def test_fixture_findings(expected: Path) -> None:
    spec = json.loads(expected.read_text())
    model = expected.parent / spec["model"]
    findings = lint(model, Config(select=CODES))
    got = sorted((f.code, f.layer) for f in findings)
    want = sorted((e["code"], e["layer"]) for e in spec["findings"])
    assert got == want


def test_fixture_table_is_complete() -> None:
    assert len(CASES) == 5 * 3 * 2 + 2


def test_clean_cnn_has_no_findings_at_all(onnx_fixtures: Path) -> None:
    assert lint(onnx_fixtures / "clean_cnn.onnx") == []


def test_fixtures_are_fresh() -> None:
    from fixtures.make_fixtures import main

    assert main(["--check"]) == 0, "run: python fixtures/make_fixtures.py"


@pytest.mark.parametrize("name", ["article_bn_after_pool_dense", "residual_block", "clean_cnn"])
def test_graph_invariants(onnx_fixtures: Path, name: str) -> None:
    g = load_graph(onnx_fixtures / f"{name}.onnx")
    g.lint()


def test_article_parameter_counts(onnx_fixtures: Path) -> None:
    from archlint.graph import OpKind

    g = load_graph(onnx_fixtures / "article_control_before_act_dense.onnx")
    assert sum(n.params for n in g.of_kind(OpKind.CONV)) == 373_100
    assert g.total_params == 874_200
    flat = next(g.of_kind(OpKind.FLATTEN))
    assert flat.inputs[0].shape == (1, 100, 2, 2)
    assert flat.output.shape == (1, 400)


def test_messages_state_problem_and_fix(onnx_fixtures: Path) -> None:
    f = lint(onnx_fixtures / "article_dropout05_before_act_dense.onnx", Config(select=["AL001"]))[0]
    assert f.layer == "dropout_1" and f.op_type == "Dropout"
    assert "rate 0.5" in f.message and "'conv2d_1'" in f.message and "'conv2d_2'" in f.message
    assert "SpatialDropout2D" in f.fix and "batch norm" in f.fix
    head = lint(onnx_fixtures / "article_control_before_act_dense.onnx", Config(select=["AL003"]))[0]
    assert "501,100 parameters (57% of the model's 874,200)" in head.message
    assert head.data["head_params"] == 501_100
