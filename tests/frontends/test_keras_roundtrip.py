"""Round trip through real Keras 3 (torch backend, never tensorflow): models built and
saved by Keras itself give the same graph as the files tests/zoo/keras_build.py writes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.frontends import load_graph
from archlint.graph import Graph
from tests.zoo.keras_build import to_keras_config, write_h5, write_keras
from tests.zoo.spec import table

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("article_dropout03_before_act_dense", "article_bn_after_pool_gap", "residual", "depthwise_separable")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None,
    reason="real Keras 3 with the torch backend is not installed (pip install keras; torch CPU)",
)

BUILD = r'''
import json, sys
import keras
from keras import layers as kl

out = sys.argv[1]
rows = json.loads(sys.argv[2])

def make(spec, ch):
    op, n = spec["op"], spec["name"]
    k, s = spec.get("kernel", 3), spec.get("stride", 1)
    if op == "conv" and spec.get("depthwise"):
        return kl.DepthwiseConv2D(k, strides=s, padding="same", depth_multiplier=spec["filters"] // ch,
                                  use_bias=spec.get("bias", True), name=n), spec["filters"]
    if op == "conv":
        return kl.Conv2D(spec["filters"], k, strides=s, padding="same", use_bias=spec.get("bias", True), name=n), spec["filters"]
    table = {
        "bn": lambda: kl.BatchNormalization(name=n),
        "relu": lambda: kl.Activation("relu", name=n),
        "softmax": lambda: kl.Activation("softmax", name=n),
        "dropout": lambda: kl.Dropout(spec.get("rate"), name=n),
        "spatial_dropout": lambda: kl.SpatialDropout2D(spec.get("rate"), name=n),
        "maxpool": lambda: kl.MaxPooling2D(2, name=n),
        "gap": lambda: kl.GlobalAveragePooling2D(name=n),
        "flatten": lambda: kl.Flatten(name=n),
        "dense": lambda: kl.Dense(spec.get("units"), name=n),
        "add": lambda: kl.Add(name=n),
    }
    return table[op](), spec.get("units", ch)

report = {"versions": {"keras": keras.__version__, "backend": keras.backend.backend()}, "params": {}}
for name, layers in rows.items():
    chain = not any("inputs" in s for s in layers)
    x = keras.Input((32, 32, 3), name="input_layer")
    t, ch = {"input_layer": (x, 3)}, 3
    prev = "input_layer"
    seq = []
    for s in layers:
        srcs = s.get("inputs") or [prev]
        layer, c = make(s, t[srcs[0]][1])
        seq.append(layer)
        args = [t[a][0] for a in srcs]
        t[s["name"]] = (layer(args if len(args) > 1 else args[0]), c)
        prev = s["name"]
    model = keras.Model(x, t[prev][0], name=name)
    if chain:
        model = keras.Sequential([keras.Input((32, 32, 3)), *seq], name=name)
    model.save(f"{out}/{name}.keras")
    model.save(f"{out}/{name}.h5")
    report["params"][name] = int(sum(w.numpy().size for w in model.trainable_weights))

# a nested Sequential block with fused activations and a separable conv
block = keras.Sequential([kl.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
                          kl.Dropout(0.3, name="drop"),
                          kl.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep")], name="block")
x = keras.Input((16, 16, 3), name="img")
y = kl.Dense(10, activation="softmax", name="fc")(kl.GlobalAveragePooling2D(name="gap")(block(x)))
nested = keras.Model(x, y, name="nested")
nested.save(f"{out}/nested.keras")
nested.save(f"{out}/nested.h5")
report["params"]["nested"] = int(sum(w.numpy().size for w in nested.trainable_weights))
print(json.dumps(report))
'''


def _fingerprint(g: Graph) -> list[tuple]:
    return [(n.kind, n.layer, n.params, n.outputs[0].shape if n.outputs else None) for n in g.nodes[1:-1]]


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real_keras")
    rows = {r: table()[r][0] for r in ROWS}
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(
        [sys.executable, "-c", BUILD, str(out), json.dumps(rows)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    if r.returncode != 0 and "tensorflow" in r.stderr.lower() and "No module named" in r.stderr:
        pytest.skip("this Keras needs tensorflow")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["versions"]["backend"] == "torch"
    return out, report


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_real_keras_file_matches_writer(keras_files: tuple[Path, dict], tmp_path: Path, row: str, ext: str) -> None:
    out, report = keras_files
    layers, expected = table()[row]
    real = load_graph(out / f"{row}{ext}")
    real.lint()
    chain = not any("inputs" in s for s in layers)
    ours = load_graph(write_keras(tmp_path / "ours.keras", to_keras_config(layers, functional=not chain, name=row)))
    assert _fingerprint(real) == _fingerprint(ours)
    assert real.total_params == report["params"][row]  # trainable weights, as Keras counts them
    got = sorted((f.code, f.layer) for f in lint(out / f"{row}{ext}", Config(select=["AL001", "AL002", "AL003"])))
    assert got == sorted(expected)


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_real_keras_nested_fused_separable(keras_files: tuple[Path, dict], ext: str) -> None:
    out, report = keras_files
    g = load_graph(out / f"nested{ext}")
    g.lint()
    assert [(n.name, n.kind.value, n.op_type) for n in g.nodes[1:-1]] == [
        ("block/conv", "conv", "Conv2D"),
        ("block/conv/relu", "activation", "relu (fused)"),
        ("block/drop", "dropout", "Dropout"),
        ("block/sep/depthwise", "conv", "SeparableConv2D (depthwise)"),
        ("block/sep/pointwise", "conv", "SeparableConv2D (pointwise)"),
        ("block/sep/relu", "activation", "relu (fused)"),
        ("gap", "global_pool", "GlobalAveragePooling2D"),
        ("fc", "dense", "Dense"),
        ("fc/softmax", "activation", "softmax (fused)"),
    ]
    assert g.total_params == report["params"]["nested"]
    assert [(f.code, f.layer) for f in lint(out / f"nested{ext}", Config(select=["AL001"]))] == [("AL001", "block/drop")]


def test_h5_writer_matches_real_keras_h5_attributes(keras_files: tuple[Path, dict], tmp_path: Path) -> None:
    import h5py

    out, _ = keras_files
    ours = write_h5(tmp_path / "o.h5", to_keras_config(table()["residual"][0], functional=True))
    with h5py.File(out / "residual.h5") as real, h5py.File(ours) as mine:
        assert {"model_config", "keras_version", "backend"} <= set(real.attrs)
        assert {"model_config", "keras_version", "backend"} <= set(mine.attrs)
        real_cfg, my_cfg = json.loads(real.attrs["model_config"]), json.loads(mine.attrs["model_config"])
    assert real_cfg["class_name"] == my_cfg["class_name"] == "Functional"
    assert [x["class_name"] for x in real_cfg["config"]["layers"]] == [x["class_name"] for x in my_cfg["config"]["layers"]]
