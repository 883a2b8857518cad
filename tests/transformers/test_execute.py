"""The transformers models the suite builds, executed from archlint's graph: the
torch capture and the legacy and dynamo ONNX exports give the model's own
eval-mode outputs (within 1e-4 relative), and the graph's total is the model's."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch

from archlint.execute import to_module
from tests.transformers._models import MODELS, build, onnx_graph, rnn_model, torch_graph

ALL = [*MODELS, "rnn"]
TOL = 1e-4
#: the ONNX exports run here (a dynamo export costs 10-30 s, so a few: an encoder, an
#: encoder-decoder, a ViT, a decoder, an LSTM; benchmarks/parity_sweep.py runs more)
ONNX_SET = [("vit", "legacy"), ("vit", "dynamo"), ("t5", "legacy"), ("gpt2", "dynamo"), ("rnn", "dynamo")]


@cache
def _model(name: str) -> tuple[Any, tuple[Any, ...]]:
    return rnn_model() if name == "rnn" else build(name)


def _flat(o: Any) -> list[torch.Tensor]:
    return [o] if isinstance(o, torch.Tensor) else [t for x in o for t in _flat(x)]


def _parity(model: Any, em: Any, inputs: tuple[Any, ...]) -> float:
    model.eval()
    em.eval()
    try:
        with torch.no_grad():
            want, got = _flat(model(*inputs)), _flat(em(*inputs))
    finally:
        model.train()
    assert len(want) == len(got)
    assert [a.shape for a in want] == [b.shape for b in got]
    return max(float((a - b).abs().max() / (a.abs().max() + 1e-12)) for a, b in zip(want, got))


@pytest.mark.parametrize("name", ALL)
def test_torch_capture_runs_exactly(name: str) -> None:
    model, inputs = _model(name)
    graph = torch_graph(model, inputs, name)
    assert graph.total_params == sum(p.numel() for p in model.parameters())
    assert _parity(model, to_module(graph), inputs) <= TOL


@pytest.mark.parametrize(("name", "exporter"), ONNX_SET)
def test_onnx_export_runs_exactly(name: str, exporter: str, tmp_path: Path) -> None:
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    model, inputs = _model(name)
    graph = onnx_graph(model, inputs, str(tmp_path / f"{name}.onnx"), exporter == "dynamo", name)
    assert _parity(model, to_module(graph), inputs) <= TOL
