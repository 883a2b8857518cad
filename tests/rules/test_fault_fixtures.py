"""The fault-class fixtures (fixtures/faults, saved by Keras itself and stripped of
weights): every default rule together gives exactly the expected findings on the
.keras and the .h5 form, and the clean controls give nothing at warning level.
Also: the training configuration both files carry, as the graph's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.findings import Severity
from archlint.frontends.keras import load
from archlint.rules import get_rule

FAULTS = Path(__file__).resolve().parents[2] / "fixtures" / "faults"
CASES = sorted(FAULTS.glob("*.expected.json"))
ONNX_CASES = sorted((FAULTS / "onnx").glob("*.expected.json"))


@pytest.mark.parametrize("expected", CASES, ids=lambda p: p.name.split(".")[0])
def test_fault_fixture(expected: Path) -> None:
    spec = json.loads(expected.read_text())
    want = sorted((e["code"], e["layer"]) for e in spec["findings"])
    assert len(spec["models"]) == 2
    for model in spec["models"]:
        findings = lint(FAULTS / model)
        assert sorted((f.code, f.layer) for f in findings) == want, model
        for f in findings:
            # AL014's empty-map case is an error; AL025 warns where the metrics or the labels decide
            assert f.severity == get_rule(f.code).severity or f.code == "AL014" or (
                f.code == "AL025" and (f.data["task_from_metrics"] or f.data["depends_on_labels"])
                and f.severity == Severity.WARNING
            )
            assert f.message and f.fix and f.message != f.fix
        if expected.name.startswith("control_"):
            assert not [f for f in findings if f.severity >= Severity.WARNING], model


@pytest.mark.parametrize("expected", ONNX_CASES, ids=lambda p: p.name.split(".")[0])
def test_onnx_fault_fixture(expected: Path) -> None:
    """The same faults in ONNX, where an ONNX graph can show them (no loss, no initialisers)."""
    spec = json.loads(expected.read_text())
    want = sorted((e["code"], e["layer"]) for e in spec["findings"])
    (model,) = spec["models"]
    findings = lint(FAULTS / "onnx" / model)
    assert sorted((f.code, f.layer) for f in findings) == want
    if expected.name.startswith("control_"):
        assert findings == []


def test_onnx_fault_fixtures_are_fresh() -> None:
    from fixtures.faults.make_onnx_faults import main

    assert main(["--check"]) == 0, "run: python fixtures/faults/make_onnx_faults.py"


def test_every_fault_rule_has_a_fixture() -> None:
    codes = {e["code"] for p in CASES for e in json.loads(p.read_text())["findings"]}
    assert {"AL025", "AL026", "AL027", "AL028", "AL029", "AL030", "AL031", "AL032"} <= codes
    assert {"AL005", "AL008", "AL009", "AL016"} <= codes  # the extended rules' new cases
    onnx = {e["code"] for p in ONNX_CASES for e in json.loads(p.read_text())["findings"]}
    assert {"AL005", "AL008", "AL009", "AL016", "AL026", "AL030", "AL031", "AL032"} <= onnx


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_training_config_is_read(ext: str) -> None:
    g = load(FAULTS / f"control_vgg{ext}")
    t = g.meta["training"]
    assert t["source"] == ("compile_config" if ext == ".keras" else "training_config")
    assert t["losses"] == [
        {"output": None, "name": "categorical_crossentropy", "from_logits": False, "label_smoothing": 0.1}
    ]
    assert t["optimizer"]["name"] == "sgd"
    assert t["metrics"] == ["accuracy"]
    g = load(FAULTS / f"control_resnet{ext}")
    loss = g.meta["training"]["losses"][0]
    assert (loss["name"], loss["from_logits"]) == ("sparse_categorical_crossentropy", True)
    stem = next(n for n in g.nodes if n.layer == "stem")
    assert stem.attrs["init"]["kernel"]["name"] == "he_normal"


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_initialisers_are_read(ext: str) -> None:
    g = load(FAULTS / f"init_too_small{ext}")
    conv = next(n for n in g.nodes if n.layer == "conv1" and n.kind.value == "conv")
    assert conv.attrs["init"]["kernel"] == {"name": "random_normal", "config": conv.attrs["init"]["kernel"]["config"]}
    assert conv.attrs["init"]["kernel"]["config"]["stddev"] == pytest.approx(0.0001)
    assert conv.attrs["init"]["bias"]["name"] == "zeros"


def test_loss_rules_are_silent_without_a_loss() -> None:
    """ONNX and torch files carry no loss: AL025 says nothing; a config-less Keras file neither."""
    from archlint.api import check_graph
    from archlint.frontends.keras import from_config

    path = FAULTS / "sigmoid_categorical.keras"
    import zipfile

    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert [f.code for f in check_graph(from_config(config), Config(select=["AL025"]))] == ["AL025"]
    config.pop("compile_config")
    assert check_graph(from_config(config), Config(select=["AL025"])) == []


def test_loss_messages() -> None:
    msgs = {p.name.split(".")[0]: lint(p, Config(select=["AL025"]))[0].message for p in FAULTS.glob("*.keras")
            if lint(p, Config(select=["AL025"]))}
    assert "sigmoid output 'out' (10 units)" in msgs["sigmoid_categorical"]
    assert "over 10 units" in msgs["softmax_binary"]
    assert "from_logits=True" in msgs["logits_loss_on_probabilities"]
    assert "outputs linear scores" in msgs["probability_loss_on_logits"]
    assert "mean squared error on softmax classifier 'out'" in msgs["mse_on_softmax"]
    assert "10 sigmoid units of 'out' with the metric 'accuracy'" in msgs["sigmoid_exclusive_accuracy"]
    assert "softmax over the 2 units of 'out'" in msgs["softmax_two_binary"]
    assert "metric 'categorical_accuracy' reads one-hot labels" in msgs["sparse_loss_onehot_metric"]
    assert len(msgs) == 8
