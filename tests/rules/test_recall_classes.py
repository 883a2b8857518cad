"""The recall classes of issue 21 that the shared fixture tables do not reach: the 1-D form of
AL027 in PyTorch (its Keras and ONNX forms are fault fixtures), and AL025's task checks, each
against its near miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.frontends import LoadOptions
from archlint.graph import GraphBuilder, OpKind
from archlint.rules._heads import Head
from archlint.rules.al025_loss_output_mismatch import mismatch

ROOT = Path(__file__).resolve().parents[2]
SEQ = ROOT / "fixtures" / "rules" / "torch" / "al027_seq.py"
RUN = ROOT / "fixtures" / "rules" / "torch" / "al032_run.py"
CONSTANT = ROOT / "fixtures" / "rules" / "torch" / "al016_constant.py"


@pytest.mark.parametrize("factory,want", [("make_bad", ["fc"]), ("make_ok", [])])
def test_torch_sequence_classifier_per_position(factory: str, want: list[str]) -> None:
    pytest.importorskip("torch")
    target = f"{SEQ.relative_to(ROOT)}:{factory}"
    findings = lint(target, Config(select=["AL027"], load=LoadOptions(input_shape=(2, 8, 100))))
    assert [f.layer for f in findings] == want
    if want:
        assert "46 positions" in findings[0].message and "the input has 100" in findings[0].message


@pytest.mark.parametrize("factory,want", [("make_bad", ["view"]), ("make_ok", []), ("make_flatten_inside_block", [])])
def test_torch_long_run_after_an_early_pooling(factory: str, want: list[str]) -> None:
    pytest.importorskip("torch")
    target = f"{RUN.relative_to(ROOT)}:{factory}"
    findings = lint(target, Config(select=["AL032"], load=LoadOptions(input_shape=(2, 1, 28, 28))))
    assert [f.layer for f in findings] == want
    if want:
        assert "3 stride-1 convolutions since the last downsampling 'pool1'" in findings[0].message


@pytest.mark.parametrize("factory,want", [("make_bad", ["pool2"]), ("make_ok", []), ("make_strided_encoder", [])])
def test_torch_constant_filters_after_pooling(factory: str, want: list[str]) -> None:
    pytest.importorskip("torch")
    shape = (2, 1, 1600) if factory == "make_strided_encoder" else (2, 1, 28, 28)
    target = f"{CONSTANT.relative_to(ROOT)}:{factory}"
    findings = lint(target, Config(select=["AL016"], load=LoadOptions(input_shape=shape)))
    assert [f.layer for f in findings] == want
    if want:
        assert "channels stay at 32 (before: 32)" in findings[0].message


def _head(act: str, width: int) -> Head:
    b = GraphBuilder("h", "onnx")
    b.add_input("x", (1, width))
    n = b.add(OpKind.ACTIVATION, act, "out", inputs=["x"], outputs=["y"], attrs={"activation": act})
    return Head(0, n.outputs[0], n, act, width)


def _loss(name: str) -> dict:
    return {"name": name, "from_logits": False, "output": None}


@pytest.mark.parametrize(
    "loss,act,width,metrics,flagged",
    [
        ("binary_crossentropy", "sigmoid", 10, ["accuracy"], True),
        ("binary_crossentropy", "sigmoid", 10, ["categorical_accuracy"], True),
        ("binary_crossentropy", "sigmoid", 10, ["binary_accuracy", "auc"], False),  # multi-label
        ("binary_crossentropy", "sigmoid", 10, [], False),
        ("binary_crossentropy", "sigmoid", 1, ["accuracy"], False),  # one binary label
        ("binary_crossentropy", "softmax", 2, [], True),
        ("categorical_crossentropy", "softmax", 2, ["accuracy"], False),
        ("sparse_categorical_crossentropy", "softmax", 10, ["categorical_accuracy"], True),
        ("sparse_categorical_crossentropy", "softmax", 10, ["sparse_categorical_accuracy"], False),
        ("categorical_crossentropy", "softmax", 10, ["sparse_categorical_accuracy"], True),
        ("categorical_crossentropy", "softmax", 10, ["accuracy"], False),
        # a sparse or one-hot loss against a one-unit output (binary labels)
        ("sparse_categorical_crossentropy", "sigmoid", 1, ["accuracy"], True),
        ("categorical_crossentropy", "sigmoid", 1, ["accuracy"], True),
    ],
)
def test_loss_against_task(loss: str, act: str, width: int, metrics: list[str], flagged: bool) -> None:
    assert (mismatch(_loss(loss), _head(act, width), metrics) is not None) is flagged
