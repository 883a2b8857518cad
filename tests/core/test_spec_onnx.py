"""The parity table's reference form: ONNX built straight from each spec."""

from __future__ import annotations

import pytest

from archlint.api import check_graph
from archlint.config import Config
from archlint.frontends.onnx import from_model
from tests.zoo.onnx_build import to_onnx
from tests.zoo.spec import table

ROWS = table()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_spec_onnx_findings(name: str) -> None:
    layers, expected = ROWS[name]
    if any(layer["op"] == "spatial_dropout" for layer in layers):
        with pytest.raises(NotImplementedError):
            to_onnx(layers)
        return
    g = from_model(to_onnx(layers), name)
    g.lint()
    got = sorted((f.code, f.layer) for f in check_graph(g, Config(select=["AL001", "AL002", "AL003"])))
    assert got == sorted(expected)
