"""Parity: every zoo row as a live module, a .pt2 archive, and ONNX from both
torch exporters gives the same op kinds and the same findings.

Exports are cached in a session-scoped folder. The dynamo ONNX exporter
takes 5-12 s per model here, so it runs on a subset (``DYNAMO_ROWS``: the
five variants of one placement, batch norm in the two other placements, and
the three non-article rows); the legacy exporter and .pt2 cover all 33 rows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archlint.api import check_graph  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.frontends import LoadOptions, load_graph  # noqa: E402
from archlint.graph import Graph, OpKind  # noqa: E402
from tests.zoo.spec import expected_kinds, table  # noqa: E402
from tests.zoo.torch_build import to_module  # noqa: E402

ROWS = table()
CODES = ["AL001", "AL002", "AL003", "AL900"]
DYNAMO_ROWS = [
    *(f"article_{v}_before_act_gap" for v in ("control", "bn", "dropout05", "dropout03", "dropout01")),
    "article_bn_after_act_dense",
    "article_bn_after_pool_gap",
    "residual",
    "depthwise_separable",
    "clean_cnn",
]
#: rows the legacy exporter cannot write in training mode (aten::feature_dropout)
LEGACY_FAILS = {name for name, (layers, _) in ROWS.items() if any(x["op"] == "spatial_dropout" for x in layers)}
BUILD_FILE = str(Path(__file__).resolve().parents[1] / "zoo" / "torch_build.py")


def _findings(graph: Graph) -> list:
    return check_graph(graph, Config(select=CODES))


def _pairs(findings: list) -> set[tuple[str, str]]:
    return {(f.code, f.layer) for f in findings}


def _module_layers(layers: list[dict]) -> set[str]:
    return {x["name"] for x in layers if x["op"] != "add"}


def _graph_layers(graph: Graph) -> set[str]:
    return {n.layer for n in graph.nodes if n.kind not in (OpKind.INPUT, OpKind.OUTPUT, OpKind.ADD)}


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path | None]]:
    out = tmp_path_factory.mktemp("torch_exports")
    files: dict[str, dict[str, Path | None]] = {}
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (layers, _) in ROWS.items():
            model = to_module(layers).train()
            entry: dict[str, Path | None] = {}
            pt2 = out / f"{name}.pt2"
            torch.export.save(torch.export.export(model, (x,), strict=False), str(pt2))
            entry["pt2"] = pt2
            legacy = out / f"{name}.legacy.onnx"
            try:
                torch.onnx.export(
                    model, (x,), str(legacy), dynamo=False, opset_version=17,
                    training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                )
                entry["legacy"] = legacy
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                assert name in LEGACY_FAILS, f"legacy export of {name} failed: {e}"
                assert "feature_dropout" in str(e)
                entry["legacy"] = None
            if name in DYNAMO_ROWS:
                dyn = out / f"{name}.dynamo.onnx"
                model.train()
                torch.onnx.export(model, (x,), str(dyn), dynamo=True, verbose=False)
                entry["dynamo"] = dyn
            files[name] = entry
    return files


@pytest.mark.parametrize("row", list(ROWS))
def test_live_pt2_legacy_parity(row: str, exports: dict) -> None:
    layers, expected = ROWS[row]
    live = load_graph("tests.zoo.torch_build:make", LoadOptions(args=[f"row={row}"]))
    live.lint()
    assert live.format == "torch" and live.meta["capture"] in ("torch.fx", "torch.export")  # cheap capture where it applies
    # the same kind sequence as the Keras forms and the spec's reference ONNX
    assert live.kinds() == expected_kinds(layers)
    # layer names are the spec names; sources point at the forward's module call
    assert _graph_layers(live) == _module_layers(layers)
    for n in live.nodes:
        if n.kind not in (OpKind.INPUT, OpKind.OUTPUT):
            assert n.source is not None and n.source.file == BUILD_FILE, (n, n.source)
    want = set(expected)
    got = _pairs(_findings(live))
    assert got == want

    pt2 = load_graph(str(exports[row]["pt2"]))
    pt2.lint()
    assert pt2.kinds() == live.kinds()
    assert _graph_layers(pt2) == _module_layers(layers)
    assert _pairs(_findings(pt2)) == want
    assert [n.source for n in pt2.nodes] == [n.source for n in live.nodes]
    assert [n.attrs.get("params") for n in pt2.nodes] == [n.attrs.get("params") for n in live.nodes]

    legacy_path = exports[row]["legacy"]
    if legacy_path is None:
        assert row in LEGACY_FAILS
        return
    onnx_g = load_graph(str(legacy_path))
    onnx_g.lint()
    assert onnx_g.kinds() == live.kinds()
    assert _graph_layers(onnx_g) == _module_layers(layers)
    assert onnx_g.total_params == live.total_params
    got = _findings(onnx_g)
    # the legacy exporter hides nothing in training mode; the only extra is the
    # uncertain "no BatchNormalization node" guess for models without batch norm
    extra = [f for f in got if (f.code, f.layer) not in want]
    assert all(f.code == "AL900" and not f.data["certain"] for f in extra), extra
    assert not extra or OpKind.BATCH_NORM not in live.kinds()
    assert want <= _pairs(got)


@pytest.mark.parametrize("row", DYNAMO_ROWS)
def test_dynamo_onnx_parity(row: str, exports: dict) -> None:
    layers, expected = ROWS[row]
    live = load_graph(str(exports[row]["pt2"]))
    g = load_graph(str(exports[row]["dynamo"]))
    g.lint()
    # batch norm directly after a convolution is folded even in training mode
    folded = [n for n in live.nodes if n.kind is OpKind.BATCH_NORM and n.predecessors()[0].kind is OpKind.CONV]
    assert g.kinds() == [n.kind for n in live.nodes if n.kind not in (OpKind.INPUT, OpKind.OUTPUT) and n not in folded]
    assert _graph_layers(g) == _module_layers(layers) - {n.layer for n in folded}
    found = _findings(g)
    al900 = [f for f in found if f.code == "AL900" and f.data["certain"]]
    if folded:
        assert len(al900) == 1 and al900[0].data["hidden"] == "bn-folded"
        assert al900[0].data["layers"] == [n.layer for n in folded]
        assert al900[0].layer == folded[0].predecessors()[0].layer  # named after the conv
    else:
        assert al900 == []
    rest = {(f.code, f.layer) for f in found if f.code != "AL900"}
    want = set(expected)
    assert rest <= want
    assert all(code == "AL002" for code, _ in want - rest)
