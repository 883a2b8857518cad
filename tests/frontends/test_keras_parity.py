"""Every parity row of tests/zoo/spec.py, written as Keras files (Keras 3 and Keras 2
dialects, .keras and .h5), gives the spec's findings with the spec's layer names, the
same op-kind sequence and parameter count as the ONNX form of the same spec, and a
graph that passes Graph.lint()."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from archlint import lint
from archlint.config import Config
from archlint.frontends import load_graph
from archlint.frontends.onnx import from_model
from archlint.graph import Graph, OpKind
from tests.zoo.keras_build import jansma_keras22_config, to_keras_config, write_h5, write_keras
from tests.zoo.spec import table

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "keras"
CODES = ["AL001", "AL002", "AL003"]
ROWS = table()

_KINDS = {
    "conv": [OpKind.CONV],
    "sepconv": [OpKind.CONV, OpKind.CONV],
    "bn": [OpKind.BATCH_NORM],
    "relu": [OpKind.ACTIVATION],
    "softmax": [OpKind.ACTIVATION],
    "dropout": [OpKind.DROPOUT],
    "spatial_dropout": [OpKind.DROPOUT],
    "maxpool": [OpKind.POOL],
    "gap": [OpKind.GLOBAL_POOL],
    "flatten": [OpKind.FLATTEN],
    "dense": [OpKind.DENSE],
    "add": [OpKind.ADD],
}


def spec_onnx(layers: list[dict]) -> Graph:
    """The ONNX form of a spec (shapes of weights only), read by the ONNX frontend."""
    nodes, inits = [], []
    ch: dict[str, int] = {"x": 3}
    hw: dict[str, int] = {"x": 32}

    def weight(name: str, dims: list[int]) -> str:
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
        for k, v in (("location", "zeros.bin"), ("offset", "0"), ("length", str(4 * math.prod(dims)))):
            e = t.external_data.add()
            e.key, e.value = k, v
        inits.append(t)
        return name

    prev = "x"
    for s in layers:
        srcs, name, op = s.get("inputs") or [prev], s["name"], s["op"]
        c, size = ch[srcs[0]], hw[srcs[0]]
        ins, attrs, kind = list(srcs), {}, None
        if op == "conv":
            g, f, k = s.get("groups", 1), s["filters"], s.get("kernel", 3)
            ins += [weight(f"{name}.w", [f, c // g, k, k])] + ([weight(f"{name}.b", [f])] if s.get("bias", True) else [])
            kind, attrs, c = "Conv", dict(kernel_shape=[k, k], pads=[k // 2] * 4, strides=[s.get("stride", 1)] * 2, group=g), f
            size = -(-size // s.get("stride", 1))
        elif op == "bn":
            kind, ins = "BatchNormalization", ins + [weight(f"{name}.{p}", [c]) for p in "gbmv"]
        elif op in ("relu", "softmax"):
            kind = "Relu" if op == "relu" else "Softmax"
        elif op in ("dropout", "spatial_dropout"):
            kind = "Dropout"
        elif op == "maxpool":
            kind, attrs, size = "MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2]), size // 2
        elif op == "gap":
            kind, size = "GlobalAveragePool", 1
        elif op == "flatten":
            kind, c, size = "Flatten", c * size * size, 1
        elif op == "dense":
            kind, attrs = "Gemm", dict(transB=1)
            ins += [weight(f"{name}.w", [s["units"], c]), weight(f"{name}.b", [s["units"]])]
            c = s["units"]
        elif op == "add":
            kind = "Add"
        nodes.append(helper.make_node(kind, ins, [name], name=name, **attrs))
        ch[name], hw[name] = c, size
        prev = name
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)
    return from_model(helper.make_model(helper.make_graph(nodes, "spec", [x], [y], initializer=inits)), "spec")


def forms(name: str, layers: list[dict], tmp: Path) -> list[Path]:
    """The Keras files of one spec row: Keras 3 .keras and .h5 (Sequential when the
    spec is a chain, functional always), Keras 2 .h5 (2.2.0 plain-list Sequential
    and 2.x functional)."""
    chain = not any("inputs" in s for s in layers)
    out = []
    for functional in ([False, True] if chain else [True]):
        tag = "fn" if functional else "seq"
        k3 = to_keras_config(layers, functional=functional, name=name)
        out.append(write_keras(tmp / f"{name}_{tag}.keras", k3))
        out.append(write_h5(tmp / f"{name}_{tag}_k3.h5", k3))
        k2 = to_keras_config(layers, keras_version=2, functional=functional, name=name)
        out.append(write_h5(tmp / f"{name}_{tag}_k2.h5", k2, keras_version="2.2.0" if not functional else "2.4.0"))
    return out


@pytest.mark.parametrize("row", sorted(ROWS))
def test_row_findings_kinds_and_params(row: str, tmp_path: Path) -> None:
    layers, expected = ROWS[row]
    onnx_graph = spec_onnx(layers)
    want_kinds = [k for s in layers for k in _KINDS[s["op"]]]
    assert onnx_graph.kinds() == want_kinds
    for path in forms(row, layers, tmp_path):
        g = load_graph(path)
        g.lint()
        assert g.kinds() == want_kinds, path.name
        assert g.total_params == onnx_graph.total_params, path.name
        got = sorted((f.code, f.layer) for f in lint(path, Config(select=CODES)))
        assert got == sorted(expected), path.name


@pytest.mark.parametrize("row", [r for r in sorted(ROWS) if r.startswith("article_")])
def test_article_rows_match_committed_onnx_fixtures(row: str, tmp_path: Path) -> None:
    layers, _ = ROWS[row]
    path = write_h5(tmp_path / f"{row}.h5", to_keras_config(layers, keras_version=2), keras_version="2.2.0")
    onnx_graph = load_graph(ROOT / "fixtures" / "onnx" / f"{row}.onnx")
    g = load_graph(path)
    assert g.kinds() == onnx_graph.kinds()
    assert g.total_params == onnx_graph.total_params


def test_article_parameter_counts(tmp_path: Path) -> None:
    layers, _ = ROWS["article_control_before_act_dense"]
    g = load_graph(write_keras(tmp_path / "a.keras", to_keras_config(layers)))
    assert sum(n.params for n in g.of_kind(OpKind.CONV)) == 373_100
    assert g.total_params == 874_200
    flat = next(g.of_kind(OpKind.FLATTEN))
    assert flat.inputs[0].shape == (None, 100, 2, 2)  # Keras (None, 2, 2, 100) in canonical NCHW
    assert flat.output.shape == (None, 400)
    head = lint(tmp_path / "a.keras", Config(select=["AL003"]))[0]
    assert "501,100 parameters (57% of the model's 874,200)" in head.message


def test_depthwise_maps_like_grouped_onnx_conv(tmp_path: Path) -> None:
    layers, _ = ROWS["depthwise_separable"]
    o = spec_onnx(layers)
    k = load_graph(write_keras(tmp_path / "d.keras", to_keras_config(layers)))
    ko = [n for n in k.of_kind(OpKind.CONV)]
    oo = [n for n in o.of_kind(OpKind.CONV)]
    assert [(n.attrs["groups"], n.attrs["channels"], n.attrs["kernel"], n.params) for n in ko] == [
        (n.attrs["groups"], n.attrs["channels"], n.attrs["kernel"], n.params) for n in oo
    ]
    assert ko[1].op_type == "DepthwiseConv2D" and ko[1].attrs["depthwise"] is True
    assert next(k.of_kind(OpKind.DROPOUT)).attrs["spatial"] is True


# -- the committed fixtures ------------------------------------------------

CASES = sorted(FIX.glob("*.expected.json"))


@pytest.mark.parametrize("expected", CASES, ids=lambda p: p.name.split(".")[0])
def test_keras_fixture_findings(expected: Path) -> None:
    spec = json.loads(expected.read_text())
    model = expected.parent / spec["model"]
    load_graph(model).lint()
    got = sorted((f.code, f.layer) for f in lint(model, Config(select=CODES)))
    assert got == sorted((e["code"], e["layer"]) for e in spec["findings"])


def test_keras_fixtures_are_fresh() -> None:
    from fixtures.keras.make_keras_fixtures import main

    assert main(["--check"]) == 0, "run: python fixtures/keras/make_keras_fixtures.py"


def test_keras22_experiment_file() -> None:
    """The experiment's own Keras 2.2.0 Sequential file: conv - dropout - relu x 10."""
    path = FIX / "jansma2018_keras22_dropout05.h5"
    g = load_graph(path)
    assert g.meta["keras_version"] == "2.2.0"
    assert [n.layer for n in g.of_kind(OpKind.INPUT)] == ["conv2d_1_input"]
    assert g.inputs[0].shape == (None, 3, 32, 32)
    findings = lint(path, Config(select=["AL001"]))
    assert [f.layer for f in findings] == [f"dropout_{i}" for i in range(1, 10)]
    assert all("rate 0.5" in f.message for f in findings)
    assert "'conv2d_9' and 'conv2d_10'" in findings[-1].message
    # dropout_10 follows conv2d_10, the last convolution: downstream of it are only
    # Activation, Flatten and Dense, so it regularises the dense head, which is where
    # AL001 says dropout belongs; by definition it is not flagged.
    last = next(n for n in g.nodes if n.layer == "dropout_10")
    assert last.kind is OpKind.DROPOUT
    assert "dropout_10" not in {f.layer for f in findings}
    assert sum(n.params for n in g.of_kind(OpKind.CONV)) == 373_100
    assert g.total_params == 373_100 + 400 * 100 + 100
    # Dense(100, activation="softmax") is expanded: dense node + fused softmax node
    dense = next(g.of_kind(OpKind.DENSE))
    (act,) = dense.successors()
    assert (act.kind, act.layer, act.op_type, act.attrs["activation"]) == (
        OpKind.ACTIVATION, "dense_1", "softmax (fused)", "softmax"
    )


def test_keras22_writer_matches_experiment_format(tmp_path: Path) -> None:
    import h5py

    path = write_h5(tmp_path / "m.h5", jansma_keras22_config(0.3), "2.2.0")
    with h5py.File(path) as f:
        cfg = json.loads(f.attrs["model_config"])
        assert f.attrs["keras_version"] == "2.2.0" and f.attrs["backend"] == "tensorflow"
    assert isinstance(cfg["config"], list)  # Keras 2.2: the layer list itself
    first = cfg["config"][0]
    assert first["class_name"] == "Conv2D" and first["config"]["batch_input_shape"] == [None, 32, 32, 3]
    assert first["config"]["activation"] == "linear"
    assert [x["class_name"] for x in cfg["config"][:3]] == ["Conv2D", "Dropout", "Activation"]
