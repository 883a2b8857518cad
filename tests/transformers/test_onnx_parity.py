"""The same transformers models exported to ONNX (legacy and dynamo exporters)
give the same findings as their torch capture: the parity table.

Differences are listed, each with its reason (docs/rules-catalogue.md repeats them)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from archlint.api import check_graph
from archlint.graph import OpKind
from tests.transformers._models import MODELS, build, onnx_graph, rnn_model, torch_graph

pytest.importorskip("onnx")

ALL = [*MODELS, "rnn"]
#: exports that fail in this torch version (the legacy exporter has no aten::diff, which
#: transformers' mask code uses, and refuses LSTM dropout in training mode)
EXPORT_FAILS = {("gpt2", "legacy"), ("llama", "legacy"), ("whisper", "legacy"), ("rnn", "legacy")}
#: findings the export cannot show: the legacy exporter computes SDPA's scale from the
#: query's shape at run time, so T5's unscaled scores are not visible
HIDDEN = {("t5", "legacy"): {"AL102"}}
#: export-only notes (AL900): Whisper has convolutions, no dropout (rate 0 in its config)
#: and no batch norm, so the exported file cannot show whether dropout was removed
EXPORT_NOTES = {("whisper", "dynamo"): ["AL900"]}


@cache
def _model(name: str) -> tuple[Any, tuple[Any, ...]]:
    return rnn_model() if name == "rnn" else build(name)


@cache
def _torch(name: str) -> list[tuple[str, str | None]]:
    model, inputs = _model(name)
    return sorted((f.code, f.layer) for f in check_graph(torch_graph(model, inputs, name)))


SEQ_KINDS = frozenset({OpKind.ATTENTION, OpKind.EMBEDDING, OpKind.LAYER_NORM, OpKind.RMS_NORM, OpKind.RNN})


@cache
def _torch_kinds(name: str) -> set[OpKind]:
    model, inputs = _model(name)
    return {n.kind for n in torch_graph(model, inputs, name).nodes} & SEQ_KINDS


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", ALL)
def test_parity(name: str, exporter: str, tmp_path: Path) -> None:
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    model, inputs = _model(name)
    try:
        g = onnx_graph(model, inputs, str(tmp_path / f"{name}.onnx"), exporter == "dynamo", name)
    except Exception as e:  # noqa: BLE001 - an exporter limitation, listed above
        if (name, exporter) in EXPORT_FAILS:
            pytest.skip(f"the {exporter} exporter fails: {type(e).__name__}")
        raise
    assert (name, exporter) not in EXPORT_FAILS, "the export works now: remove it from EXPORT_FAILS"
    g.lint()
    findings = check_graph(g)
    notes = sorted(f.code for f in findings if f.code == "AL900")
    got = sorted((f.code, f.layer) for f in findings if f.code != "AL900")
    hidden = HIDDEN.get((name, exporter), set())
    want = [(c, layer) for c, layer in _torch(name) if c not in hidden]
    assert got == want
    assert notes == EXPORT_NOTES.get((name, exporter), [])
    assert g.coverage()["share"] >= 0.95
    # the same sequence op kinds are found (counts may differ: exporters split stacked LSTMs)
    assert {n.kind for n in g.nodes} & SEQ_KINDS == _torch_kinds(name)
