"""`archlint fix` and `archlint check --diff`: every fault fixture is rewritten into a model
that passes onnx.checker and runs (onnxruntime), re-lints without the findings the rewrites
targeted and with no new warning; rewrites that claim to keep the function keep it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from archlint import lint
from archlint.config import Config
from archlint.findings import Severity
from archlint.fixes import diff_text, fix_model
from archlint.rules import ALL_RULES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted(
    p.relative_to(ROOT).as_posix()
    for d in ("fixtures/faults", "fixtures/faults/onnx", "fixtures/onnx", "fixtures/keras", "fixtures/rules/onnx")
    for p in (ROOT / d).iterdir()
    if p.suffix in (".onnx", ".keras", ".h5")
)
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None


def run_onnx(path: str | Path, feeds: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if feeds is None:
        rng = np.random.default_rng(0)
        feeds = {i.name: rng.random([d if isinstance(d, int) else 2 for d in i.shape], dtype=np.float32)
                 for i in s.get_inputs()}
    return s.run(None, feeds)


def test_every_rule_says_what_fix_does() -> None:
    for r in ALL_RULES:
        assert r.autofix, f"{r.code} has no autofix text"
        assert r.has_fix() != r.autofix.startswith("none"), f"{r.code}: autofix text and fix() disagree"
    assert sum(r.has_fix() for r in ALL_RULES) == 24


@pytest.mark.parametrize("rel", FIXTURES)
def test_fix_fixture(rel: str, tmp_path: Path) -> None:
    out = fix_model(str(ROOT / rel), Config())
    dst = tmp_path / Path(rel).name
    written = out.save(dst)
    assert written[0] == str(dst) and dst.stat().st_size > 0
    again = lint(dst, Config())
    before = {(f.code, f.layer) for f in out.before}
    applied = {rw.code for rw in out.applied}
    # the findings the rewrites targeted are gone from the written file
    assert not [f for f in again if f.code in applied and (f.code, f.layer) in before]
    # and nothing new at warning level or above appeared
    assert not [f for f in again if f.severity >= Severity.WARNING and (f.code, f.layer) not in before]
    # the in-memory result is what the written file says
    assert sorted((f.code, f.layer) for f in again) == sorted((f.code, f.layer) for f in out.after)
    if dst.suffix == ".onnx":
        onnx.checker.check_model(onnx.load(dst), full_check=True)
        if HAS_ORT:
            assert all(np.isfinite(o).all() for o in run_onnx(dst))


def test_fixture_figures() -> None:
    """The counts the docs quote: how many fault fixtures have rewrites, and that each is clean after."""
    fixed = clean = with_findings = 0
    for rel in FIXTURES:
        out = fix_model(str(ROOT / rel), Config())
        with_findings += bool(out.before)
        if out.applied:
            fixed += 1
            targeted = {(f.code, f.layer) for f in out.before if f.code in {r.code for r in out.applied}}
            clean += not targeted & {(f.code, f.layer) for f in out.after} and not out.new
    # 175 files, 127 with findings, 104 with a rewrite, all 104 clean after it; the other 23 hold only
    # findings of rules without a rewrite (AL013 AL014 AL015 AL016 AL022 AL030 AL031) or AL025's
    # label-format and metric mismatches, which have none
    assert (len(FIXTURES), with_findings, fixed, clean) == (175, 127, 104, 104)


def test_bias_dropout_bn_rewrites(tmp_path: Path) -> None:
    out = fix_model(str(ROOT / "fixtures/faults/onnx/bias_dropout_bn.onnx"), Config())
    assert [(r.code, r.summary) for r in out.applied] == [
        ("AL001", "remove 'dropout_1'"),  # AL001 and AL004 both remove it; the first rule's rewrite applies
        ("AL005", "drop the bias of 'conv2d_1' (folded into 'batch_normalization_1')"),
    ]
    assert (out.params_before, out.params_after) == (20_170, 20_138)
    assert sorted(f.code for f in out.fixed) == ["AL001", "AL004", "AL005"] and not out.after
    text = diff_text(out)
    assert "  AL001 - remove 'dropout_1' (Dropout(0.2))" in text
    assert "parameters: 20,170 -> 20,138 (-32)" in text
    assert "layers: 12 -> 11 (1 removed, 0 added, 0 moved, 1 changed)" in text


def _model(nodes, inits, x_shape, y_name, opset=17):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_bias_fold_and_bn_move_keep_inference_output(tmp_path: Path) -> None:
    """AL005 folds the bias into the running mean: the same output in inference."""
    rng = np.random.default_rng(1)
    c = 8
    inits = {"w": rng.normal(size=(c, 3, 3, 3)), "b": rng.normal(size=c), "g": rng.random(c) + 0.5,
             "be": rng.normal(size=c), "m": rng.normal(size=c), "v": rng.random(c) + 0.5,
             "w2": rng.normal(size=(c, c, 3, 3)), "b2": rng.normal(size=c)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"], name="bn"),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2", "b2"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    src = tmp_path / "m.onnx"
    onnx.save(_model(nodes, inits, [2, 3, 8, 8], "y"), src)
    out = fix_model(str(src), Config(select=["AL005"]))
    assert [r.code for r in out.applied] == ["AL005"]
    out.save(tmp_path / "f.onnx")
    x = rng.random((2, 3, 8, 8), dtype=np.float32)
    a, b = run_onnx(src, {"x": x})[0], run_onnx(tmp_path / "f.onnx", {"x": x})[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")
def test_pooled_head_equals_flatten_head_on_constant_maps(tmp_path: Path) -> None:
    """AL003: the dense weights summed over positions give the same output on a spatially constant map."""
    rng = np.random.default_rng(2)
    c, hw, units = 40, 6, 3000
    inits = {"w": rng.normal(size=(c, 3, 1, 1)) * 0.1, "k": rng.normal(size=(units, c * hw * hw)) * 0.01,
             "kb": rng.normal(size=units), "k2": rng.normal(size=(10, units)) * 0.01}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "k", "kb"], ["d"], name="dense", transB=1),
             helper.make_node("Relu", ["d"], ["dr"], name="relu2"),
             helper.make_node("Gemm", ["dr", "k2"], ["y"], name="dense2", transB=1)]
    src = tmp_path / "h.onnx"
    onnx.save(_model(nodes, inits, [2, 3, hw, hw], "y"), src)
    out = fix_model(str(src), Config(select=["AL003"]))
    assert [r.code for r in out.applied] == ["AL003"]
    assert out.params_after == out.params_before - units * c * (hw * hw - 1)
    out.save(tmp_path / "f.onnx")
    x = np.broadcast_to(rng.random((2, 3, 1, 1), dtype=np.float32), (2, 3, hw, hw)).copy()
    a, b = run_onnx(src, {"x": x})[0], run_onnx(tmp_path / "f.onnx", {"x": x})[0]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_select_limits_the_rewrites() -> None:
    out = fix_model(str(ROOT / "fixtures/faults/onnx/bias_dropout_bn.onnx"), Config(select=["AL005"]))
    assert [r.code for r in out.applied] == ["AL005"]
    out = fix_model(str(ROOT / "fixtures/faults/onnx/bias_dropout_bn.onnx"), Config(ignore=["AL004", "AL005"]))
    # AL001 removes the dropout too; AL004 and AL005 are ignored
    assert [r.code for r in out.applied] == ["AL001"]


def test_keras_fused_activation_split(tmp_path: Path) -> None:
    """AL012 on a Keras model whose convolutions carry activation="relu": BN goes between the
    convolution and its activation, which becomes its own Activation layer."""
    out = fix_model(str(ROOT / "fixtures/keras/jansma2018_keras22_dropout03.h5"), Config(select=["AL012"]))
    assert [r.code for r in out.applied] == ["AL012"]
    dst = tmp_path / "f.h5"
    out.save(dst)
    kinds = [n.kind.value for n in __import__("archlint").frontends.load_graph(str(dst)).nodes]
    assert kinds.count("batch_norm") == 10


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_cli_fix_writes_and_exits(tmp_path: Path) -> None:
    dst = tmp_path / "fixed.onnx"
    r = cli("fix", "fixtures/faults/onnx/bias_dropout_bn.onnx", "-o", str(dst))
    assert r.returncode == 0, r.stderr
    assert f"wrote {dst}" in r.stdout and dst.exists()
    r = cli("fix", "fixtures/onnx/article_dropout03_before_act_dense.onnx", "-o", str(tmp_path / "a.onnx"))
    assert r.returncode == 0  # AL014 and AL016 stay, both infos: below the fail level
    assert "AL016 'max_pooling2d_1': not fixed: no rewrite: widening a stage" in r.stdout
    r = cli("fix", "fixtures/faults/relu_pool_softmax.keras", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "write a Keras model as .keras or .h5" in r.stderr
    r = cli("fix", "fixtures/onnx/clean_cnn.onnx", "-o", "fixtures/onnx/clean_cnn.onnx")
    assert r.returncode == 2 and "other than the input" in r.stderr


def test_cli_check_diff_writes_nothing(tmp_path: Path) -> None:
    r = cli("check", "--diff", "fixtures/faults/softmax_single_unit.keras", "fixtures/onnx/clean_cnn.onnx")
    assert r.returncode == 1, r.stderr
    assert "AL026 * set activation='sigmoid' on the activation built into 'out'" in r.stdout
    assert "fixtures/onnx/clean_cnn.onnx: nothing to fix" in r.stdout
    assert "findings fixed: AL026; left: none; new: none" in r.stdout
    r = cli("check", "--diff", "fixtures/onnx/clean_cnn.onnx")
    assert r.returncode == 0 and r.stdout.strip() == "fixtures/onnx/clean_cnn.onnx: nothing to fix"


def test_check_without_diff_does_not_import_fixes() -> None:
    probe = ("import sys\nfrom archlint.cli import app\ntry:\n    app(['check', sys.argv[1]])\n"
             "except SystemExit:\n    pass\nprint('FIXES', 'archlint.fixes' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", probe, str(ROOT / "fixtures/faults/onnx/bias_dropout_bn.onnx")],
                       capture_output=True, text=True, timeout=120)
    assert "FIXES False" in r.stdout


KERAS_BUILD = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
from keras import layers as kl
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((16, 16, 3)), kl.Conv2D(8, 3, activation="relu", name="c1"),
                      kl.Dropout(0.7, name="drop"), kl.Conv2D(8, 3, name="c2"), kl.Conv2D(8, 3, name="c3"),
                      kl.Activation("relu", name="r3"), kl.Conv2D(16, 1, strides=2, activation="relu", name="proj"),
                      kl.GlobalAveragePooling2D(name="gap"), kl.Dense(32, activation="relu", name="fc"),
                      kl.Dropout(0.7, name="head_drop"), kl.Dense(10, activation="softmax", name="out")])
m.compile(loss="categorical_crossentropy", optimizer="adam")
m.save(sys.argv[1])
"""

KERAS_RUN = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, keras
out = {}
orig = keras.saving.load_model(sys.argv[1])
for p in sys.argv[2:]:
    try:
        m = keras.saving.load_model(p, compile=True)
        xs = [np.random.rand(*[d or 2 for d in t.shape]).astype("float32") for t in m.inputs]
        y = m.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        out[p] = bool(np.isfinite(np.asarray(y)).all())
        if p.endswith("weighted.keras"):  # the layers the fix kept keep their trained weights
            same = {l.name: all(np.array_equal(a, b) for a, b in zip(l.get_weights(), m.get_layer(l.name).get_weights()))
                    for l in orig.layers if l.get_weights()}
            out["kept"] = same
            out["classes"] = [l.__class__.__name__ for l in m.layers]
    except Exception as e:
        out[p] = f"{type(e).__name__}: {e}"[:300]
print(json.dumps(out))
"""


@pytest.mark.skipif(importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None,
                    reason="real Keras 3 with the torch backend is not installed")
def test_fixed_keras_models_load_and_run_in_keras(tmp_path: Path) -> None:
    src = tmp_path / "weighted_src.keras"
    r = subprocess.run([sys.executable, "-c", KERAS_BUILD, str(src)], capture_output=True, text=True, timeout=300)
    assert src.exists(), r.stderr[-2000:]
    out = fix_model(str(src), Config())
    # AL001 removes the dropout between the convolutions, AL006 lowers the head dropout's rate 0.7,
    # AL009 merges c2 and c3, AL023 fixes the strided 1x1 'proj'
    assert sorted(r.code for r in out.applied) == ["AL001", "AL006", "AL009", "AL023"]
    paths = out.save(tmp_path / "weighted.keras")
    for rel in FIXTURES:
        if rel.startswith("fixtures/faults/") and rel.endswith((".keras", ".h5")):
            paths += fix_model(str(ROOT / rel), Config()).save(tmp_path / Path(rel).name)
    r = subprocess.run([sys.executable, "-c", KERAS_RUN, str(src), *paths], capture_output=True, text=True,
                       timeout=600)
    result = json.loads(r.stdout.strip().splitlines()[-1])
    kept, classes = result.pop("kept"), result.pop("classes")
    assert len(result) == 63  # 31 fault models as .keras and .h5, and the weighted one
    assert {p: v for p, v in result.items() if v is not True} == {}
    assert kept == {"c1": True, "c2": True, "c3": True, "proj": True, "fc": True, "out": True}
    assert classes == ["Conv2D", "Conv2D", "Activation", "Conv2D", "Activation",
                       "AveragePooling2D", "Conv2D", "GlobalAveragePooling2D", "Dense", "Dropout", "Dense"]


def test_docs_table_lists_exactly_the_rules_with_a_rewrite() -> None:
    import re

    text = (ROOT / "docs" / "fix.md").read_text()
    listed = set(re.findall(r"^\| \[(AL\d{3})\]\(\.\./rules/AL\d{3}\.md\) \|", text, re.M))
    assert listed == {r.code for r in ALL_RULES if r.has_fix()}


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
@pytest.mark.parametrize(("rule", "fixed"), [("al004", ["AL001", "AL004"]), ("al012", ["AL012"]),
                                              ("al019", ["AL002"]), ("al023", ["AL023"])])
def test_fix_torch_factory_through_a_training_mode_export(rule: str, fixed: list[str], tmp_path: Path) -> None:
    """A factory is exported to ONNX in training mode, fixed and written as ONNX."""
    out = fix_model(f"fixtures/rules/torch/{rule}.py:make_bad", Config())
    assert sorted({f.code for f in out.fixed}) == fixed and not out.after and not out.new
    assert "exported with torch.onnx.export in training mode on input 2x3x32x32" in out.notes[0]
    dst = tmp_path / "f.onnx"
    out.save(dst)
    model = onnx.load(dst)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "archlint-fix"
    assert not lint(dst, Config())
    if HAS_ORT:
        assert all(np.isfinite(o).all() for o in run_onnx(dst))


def test_keras_without_weights_gets_a_weights_file(tmp_path: Path) -> None:
    """AL028 on a config-only .keras: the initialiser is replaced and a weights file written."""
    import zipfile

    out = fix_model(str(ROOT / "fixtures/faults/zeros_init.keras"), Config())
    assert [r.summary for r in out.applied] == ["initialise 'conv1' with he_normal"]
    dst = tmp_path / "z.keras"
    out.save(dst)
    assert "the input stored no weights: model.weights.h5 holds freshly initialised ones" in out.notes
    with zipfile.ZipFile(dst) as zf:
        assert {"config.json", "metadata.json", "model.weights.h5"} <= set(zf.namelist())
        cfg = json.loads(zf.read("config.json"))
    conv1 = next(x for x in cfg["config"]["layers"] if x["config"]["name"] == "conv1")
    assert conv1["config"]["kernel_initializer"]["class_name"] == "HeNormal"


PRE_NORM = """
import torch
from torch import nn
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(16, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 10)
    def forward(self, x):
        return self.head(self.enc(self.emb(x)))
def make():
    return M(), (torch.randn(2, 8, 16),)
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_missing_final_norm_gets_a_layer_norm(tmp_path: Path) -> None:
    """AL101 on a pre-norm encoder without its final norm: a LayerNorm after the last residual sum."""
    (tmp_path / "prenorm.py").write_text(PRE_NORM)
    out = fix_model(f"{tmp_path / 'prenorm.py'}:make", Config())
    assert [r.code for r in out.applied] == ["AL101"] and not out.after and not out.new
    assert out.params_after - out.params_before == 64  # scale and shift of width 32
    dst = tmp_path / "f.onnx"
    out.save(dst)
    model = onnx.load(dst)
    onnx.checker.check_model(model, full_check=True)
    norms = [n.name for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert len(norms) == 5 and norms[-1].endswith("_final_norm")  # two per pre-norm layer, and the new one
    if HAS_ORT:
        (y,) = run_onnx(dst)
        assert y.shape == (2, 8, 10)
