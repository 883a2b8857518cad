"""Each rule from AL004 on, alone: its failing fixture gives exactly the expected
findings, its near-miss gives none (ONNX, and PyTorch once the frontend is in)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.frontends import LoadOptions
from archlint.rules import ALL_RULES, get_rule

ROOT = Path(__file__).resolve().parents[2]
ONNX = ROOT / "fixtures" / "rules" / "onnx"
TORCH = ROOT / "fixtures" / "rules" / "torch"
CASES = sorted(ONNX.glob("*.expected.json"))
#: rules that read what only Keras files record (the loss, initialisers) or a layout only
#: Keras builds (Dense on a 4-D map): their fixtures are Keras files (tests/rules/test_fault_fixtures.py)
KERAS_ONLY = {"AL025", "AL027", "AL028", "AL029"}
#: sequence-model rules (AL101 on): their failing and near-miss fixtures are torch modules
#: (tests/transformers/_planted.py), linted in torch and in their ONNX exports by
#: tests/transformers/test_planted.py, and Keras configs in tests/frontends/test_keras_seq.py
SEQUENCE = {r.code for r in ALL_RULES if "AL101" <= r.code < "AL900"}
CATALOGUE = [r.code for r in ALL_RULES if "AL004" <= r.code < "AL900" and r.code not in KERAS_ONLY | SEQUENCE]


@pytest.mark.parametrize("expected", CASES, ids=lambda p: p.name.split(".")[0])
def test_onnx_fixture(expected: Path) -> None:
    spec = json.loads(expected.read_text())
    code = spec["code"]
    findings = lint(ONNX / spec["model"], Config(select=[code]))
    got = sorted((f.code, f.layer) for f in findings)
    want = sorted((e["code"], e["layer"]) for e in spec["findings"])
    assert got == want
    if spec["model"].endswith("_bad.onnx"):
        assert want, "a failing fixture must expect at least one finding"
        rule = get_rule(code)
        for f in findings:
            assert f.rule == rule.name and f.severity == rule.severity
            assert f.message and f.fix and f.message != f.fix


def test_every_rule_has_a_failing_and_a_passing_fixture() -> None:
    names = {p.name.split(".")[0] for p in CASES}
    for code in CATALOGUE:
        assert {f"{code.lower()}_bad", f"{code.lower()}_ok"} <= names, code


def test_fixtures_are_fresh() -> None:
    from fixtures.rules.make_rule_fixtures import main

    assert main(["--check"]) == 0, "run: python fixtures/rules/make_rule_fixtures.py"


def _torch_module(code: str):
    path = TORCH / f"{code.lower()}.py"
    spec = importlib.util.spec_from_file_location(f"torch_fixture_{code.lower()}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("code", CATALOGUE)
def test_torch_fixture(code: str) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("archlint.frontends.torch")
    mod = _torch_module(code)
    target = str((TORCH / f"{code.lower()}.py").relative_to(ROOT))
    shapes = getattr(mod, "INPUT_SHAPE", {})

    def config(factory: str) -> Config:
        return Config(select=[code], load=LoadOptions(input_shape=shapes.get(factory, (1, 3, 32, 32))))

    bad = lint(f"{target}:make_bad", config("make_bad"))
    assert sorted(f.layer for f in bad) == sorted(mod.BAD_FINDINGS)
    assert {f.code for f in bad} == {code}
    assert lint(f"{target}:make_ok", config("make_ok")) == []


def test_no_rule_raises_on_any_fixture() -> None:
    """Every rule, opt-in ones included, on every fixture: no internal error finding."""
    everything = Config(select=[r.code for r in ALL_RULES])
    models = sorted(ONNX.glob("*.onnx")) + sorted((ROOT / "fixtures" / "onnx").glob("*.onnx"))
    for model in models:
        for f in lint(model, everything):
            assert f.code != "AL000", f"{model.name}: {f.message}"
