"""``archlint show``: the layer table (kind, output shape, parameters,
findings), the totals and the coverage line; ``--format json``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.view._models import FIXTURE, ROOT


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)


def test_show_prints_the_layer_table_and_totals() -> None:
    r = _cli("show", str(FIXTURE))
    assert r.returncode == 0, r.stderr  # findings do not fail `show`
    lines = r.stdout.splitlines()
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in ln.split("\u2502")[1:-1]] for ln in lines) if cells}
    # MACs of conv2d_2: 60x32x32 outputs x 60 input channels x 3x3 = 33,177,600
    assert rows["conv2d_2"] == ["Conv", "(1, 60, 32, 32)", "32,460", "33.18 M", ""]
    assert rows["dropout_1"] == ["Dropout", "(1, 60, 32, 32)", "-", "-", "AL001"]
    assert rows["total"] == ["", "", "874,200", "57.69 M", "16"]
    assert "Total parameters: 874,200" in lines
    assert "MACs: 57.69 M (FLOPs 115.37 M) for a batch of 1" in lines
    assert "Findings: 16 (11 warnings, 5 infos)" in lines
    assert "Coverage: 100% of 40 nodes understood" in lines


def test_show_json_adds_up() -> None:
    r = _cli("show", str(FIXTURE), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "archlint.show" and doc["version"] == 1
    assert doc["totals"]["params"] == sum(x["params"] for x in doc["layers"]) == 874200
    assert doc["totals"]["layers"] == len(doc["layers"]) == 40
    assert sum(len(x["findings"]) for x in doc["layers"]) == doc["totals"]["findings"] == len(doc["findings"]) == 16
    assert doc["coverage"]["share"] == 1.0 and doc["coverage"]["nodes"] == 40
    d1 = next(x for x in doc["layers"] if x["layer"] == "dropout_1")
    assert d1 == {"layer": "dropout_1", "node": "dropout_1", "kind": "dropout", "op_type": "Dropout",
                  "output_shape": [1, 60, 32, 32], "params": 0, "non_trainable_params": 0, "macs": 0,
                  "activation_bytes": 60 * 32 * 32 * 4, "findings": ["AL001"]}
    assert doc["totals"]["macs"] == sum(x["macs"] for x in doc["layers"]) and doc["totals"]["flops"] == 2 * doc["totals"]["macs"]
    c2 = next(x for x in doc["layers"] if x["layer"] == "conv2d_2")
    assert c2["macs"] == 60 * 32 * 32 * 60 * 9


def test_show_reports_a_bad_file_on_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    r = _cli("show", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(f"archlint: error: {bad}: ")
    r = _cli("show", str(FIXTURE), "--format", "xml")
    assert r.returncode == 2 and "unknown --format 'xml'" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
def test_show_resnet50_matches_torchinfo_parameter_count() -> None:
    """torchinfo counts every parameter of the module (25,557,032 for
    ResNet-50): sum(p.numel()) over model.parameters()."""
    r = _cli("show", "torchvision.models:resnet50", "--input-shape", "1x3x224x224", "--format", "json", timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    code = (
        "from archlint.frontends import _torchvision_compat as c; c.install(); import torchvision;"
        "print(sum(p.numel() for p in torchvision.models.resnet50().parameters()))"
    )
    expected = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout)
    assert expected == 25_557_032
    assert doc["totals"]["params"] == expected
    convs = [x for x in doc["layers"] if x["kind"] == "conv"]
    assert len(convs) == 53 and doc["layers"][-1]["layer"] == "fc" and doc["layers"][-1]["params"] == 2_049_000


def test_show_takes_one_model(tmp_path) -> None:
    r = _cli("show", "fixtures/keras")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("archlint: error: fixtures/keras: show takes one model; this folder holds ")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
@pytest.mark.parametrize("name,weights", [("resnet18", "ResNet18_Weights"), ("resnet50", "ResNet50_Weights"),
                                          ("mobilenet_v2", "MobileNet_V2_Weights"), ("vgg11", "VGG11_Weights"),
                                          ("densenet121", "DenseNet121_Weights")])
def test_show_macs_match_torchvisions_published_figures(name: str, weights: str) -> None:
    """torchvision publishes each model's GFLOPS at 224x224 (``meta["_ops"]``, counted
    as multiply-adds, as fvcore counts); ``show`` gives the same within 5 %
    (benchmarks/flops_vs_fvcore.py compares with fvcore itself)."""
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    import torchvision

    r = _cli("show", f"torchvision.models:{name}", "--input-shape", "1x3x224x224", "--format", "json", timeout=600)
    assert r.returncode == 0, r.stderr
    macs = json.loads(r.stdout)["totals"]["macs"]
    published = getattr(torchvision.models, weights).DEFAULT.meta["_ops"] * 1e9
    assert abs(macs - published) / published < 0.05, (macs, published)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
def test_show_depth_folds_scopes() -> None:
    r = _cli("show", "torchvision.models:resnet18", "--input-shape", "1x3x64x64", "--depth", "1", "--format", "json", timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    names = [x["layer"] for x in doc["layers"]]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    assert sum(x["params"] for x in doc["layers"]) == doc["totals"]["params"] == 11_689_512
    layer4 = doc["layers"][7]
    assert layer4["kind"] == "scope" and layer4["output_shape"] == [1, 512, 2, 2] and layer4["params"] == 8_393_728


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed")
def test_show_prints_keras_models_as_keras_summary_does(tmp_path) -> None:
    build = (
        "import keras\nfrom keras import layers\n"
        "x = keras.Input((8, 8, 3)); y = layers.BatchNormalization()(layers.Conv2D(4, 3)(x))\n"
        "m = keras.Model(x, layers.Dense(2)(layers.Flatten()(y))); m.save(r'%s'); print(m.count_params())\n"
    ) % (tmp_path / "m.keras")
    b = subprocess.run([sys.executable, "-c", build], env={**os.environ, "KERAS_BACKEND": "torch"},
                       capture_output=True, text=True, timeout=600)
    assert b.returncode == 0, b.stderr[-2000:]
    r = _cli("show", str(tmp_path / "m.keras"))
    assert r.returncode == 0, r.stderr
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in ln.split("\u2502")[1:-1]] for ln in r.stdout.splitlines()) if cells}
    assert rows["conv2d"][1] == "(None, 6, 6, 4)"  # channels last, as Keras prints it
    assert rows["batch_normalization"][2] == "16"  # gamma, beta and the two moving statistics
    assert f"Total parameters: {b.stdout.strip()} (trainable 410, non-trainable 8)" in r.stdout.splitlines()
