"""A product of two activations (``q @ k^T``, a relative-position ``einsum``) is a MATMUL in
every frontend, with the size it sums over and its shape, so it counts as understood; the
written-out attention around one is still fused into ATTENTION (issue 23)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

from archlint.compute import node_macs
from archlint.frontends.onnx import from_model as from_onnx
from archlint.graph import OpKind
from archlint.graph.attrs import matmul_attrs
from archlint.graph.shapes import matmul_shape


def test_matmul_attrs_and_shape_from_the_operands() -> None:
    assert matmul_attrs([(2, 4, 8, 16), (2, 4, 16, 8)]) == {"contracted": 16}
    assert matmul_attrs([(2, None), (None, 3)]) == {}
    assert matmul_attrs([(2, 8, 4, 16), (2, 8, 6, 16)], "bqhd,bkhd->bhqk") == {"equation": "bqhd,bkhd->bhqk", "contracted": 16}
    assert matmul_attrs([(1, 8, 16), (1, 8, 16)], "b l d, b m d -> b l m")["equation"] == "bld,bmd->blm"
    assert matmul_shape([(2, 4, 8, 16), (2, 4, 16, 8)]) == (2, 4, 8, 8)
    assert matmul_shape([(None, 8, 16), (16, 5)]) == (None, 8, 5)
    assert matmul_shape([(2, 8, 4, 16), (2, 8, 6, 16)], "bqhd,bkhd->bhqk") == (2, 4, 8, 8)
    assert matmul_shape([(2, 8), None]) is None


def _onnx(nodes, inputs, outputs, value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, value_info=list(value_info))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_matmul_and_einsum_of_two_activations() -> None:
    f = TensorProto.FLOAT
    m = _onnx(
        [helper.make_node("Relu", ["a"], ["ra"]), helper.make_node("Relu", ["b"], ["rb"]),
         helper.make_node("MatMul", ["ra", "rb"], ["s"]),
         helper.make_node("Einsum", ["ra", "ra"], ["e"], equation="bld,bmd->blm")],
        [helper.make_tensor_value_info("a", f, [1, 8, 16]), helper.make_tensor_value_info("b", f, [1, 16, 8])],
        [helper.make_tensor_value_info("s", f, [1, 8, 8]), helper.make_tensor_value_info("e", f, [1, 8, 8])],
        [helper.make_tensor_value_info("ra", f, [1, 8, 16]), helper.make_tensor_value_info("rb", f, [1, 16, 8])],
    )
    g = from_onnx(m)
    mm = {n.op_type: n for n in g.of_kind(OpKind.MATMUL)}
    assert set(mm) == {"MatMul", "Einsum"}
    assert mm["MatMul"].attrs["contracted"] == 16 and mm["MatMul"].params == 0
    assert mm["Einsum"].attrs["equation"] == "bld,bmd->blm" and mm["Einsum"].attrs["contracted"] == 16
    assert node_macs(mm["MatMul"]) == 8 * 8 * 16
    assert g.coverage()["share"] == 1.0


def test_onnx_matmul_with_a_weight_is_still_a_dense_layer() -> None:
    from onnx import numpy_helper

    f = TensorProto.FLOAT
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", f, [1, 16])], [helper.make_tensor_value_info("y", f, [1, 4])],
                          [numpy_helper.from_array(np.zeros((16, 4), np.float32), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert [n.kind for n in from_onnx(m).nodes if n.kind not in (OpKind.INPUT, OpKind.OUTPUT)] == [OpKind.DENSE]


def test_torch_product_of_activations_and_fused_attention() -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    from archlint.frontends.torch import from_module

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16)

        def forward(self, x):
            q, k, v = self.q(x), self.k(x), self.v(x)
            rel = torch.einsum("bld,bmd->blm", q, k)  # a bias term, read by nothing softmax-like
            att = torch.softmax(q @ k.transpose(1, 2) / 4.0, dim=-1) @ v
            return att, rel

    g = from_module(M().eval(), (1, 8, 16))
    g.lint()
    assert len(list(g.of_kind(OpKind.ATTENTION))) == 1  # q @ k^T ... @ v fused as before
    (mm,) = g.of_kind(OpKind.MATMUL)
    assert mm.attrs["equation"] == "bld,bmd->blm" and mm.attrs["contracted"] == 16
    assert mm.output.shape == (1, 8, 8)
    assert not g.coverage()["unknown"]


LIVE = r'''
import json
import keras
from keras import layers, ops
from archlint.frontends.keras import Loader
from archlint.frontends.keras_live import from_model

out = {}

class Scores(layers.Layer):
    """Products left bare: a bilinear score map and an einsum of two activations, and an
    einsum with a relative-position table gathered from the layer's weight (ViTDet)."""
    def __init__(self, **kw):
        super().__init__(**kw)
        self.q = layers.Dense(16)
        self.k = layers.Dense(16)
        self.rel = self.add_weight(shape=(8, 16), name="rel")
    def call(self, x):
        q, k = self.q(x), self.k(x)
        table = ops.take(self.rel, ops.arange(8), axis=0)
        return (ops.matmul(q, ops.transpose(k, (0, 2, 1))) + ops.einsum("bld,bmd->blm", k, q)
                + ops.einsum("bld,md->blm", q, table))

class Attend(layers.Layer):
    """Attention written out with keras.ops, as keras-hub's blocks do."""
    def __init__(self, **kw):
        super().__init__(**kw)
        self.q, self.k, self.v = layers.Dense(16), layers.Dense(16), layers.Dense(16)
    def call(self, x):
        s = ops.matmul(self.q(x), ops.transpose(self.k(x), (0, 2, 1))) / 4.0
        return ops.matmul(ops.softmax(s, axis=-1), self.v(x))

def summary(model, g):
    g.lint()
    kinds = {}
    for n in g.nodes:
        kinds[n.kind.value] = kinds.get(n.kind.value, 0) + 1
    mm = [dict(n.attrs, shape=list(n.output.shape)) for n in g.nodes if n.kind.value == "matmul"]
    return {"kinds": kinds, "matmul": mm, "coverage": g.coverage(), "total": g.total_params,
            "count": model.count_params(), "inputs": [list(n.output.shape) for n in g.nodes if n.kind.value == "input"]}

x = keras.Input((8, 12))
m = keras.Model(x, Scores()(x))
out["scores"] = summary(m, from_model(m, Loader, name="scores"))
m = keras.Model(x, Attend()(x))
out["attend"] = summary(m, from_model(m, Loader, name="attend"))

class Fused(layers.Layer):
    """keras.ops.dot_product_attention (torch's scaled_dot_product_attention underneath)."""
    def __init__(self, **kw):
        super().__init__(**kw)
        self.q, self.k, self.v = layers.Dense(16), layers.Dense(16), layers.Dense(16)
    def call(self, x):
        split = lambda t: ops.reshape(t, (-1, 8, 2, 8))
        y = ops.dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), is_causal=True)
        return ops.reshape(y, (-1, 8, 16))
m = keras.Model(x, Fused()(x))
g = from_model(m, Loader, name="fused")
out["fused"] = summary(m, g)
out["fused"]["attention"] = [dict(n.attrs) for n in g.nodes if n.kind.value == "attention"]

# a layer whose get_config() Keras refuses (built with a dtype-policy object, no get_config
# override, as keras-hub's Gemma RMSNormalization), under the name of a layer archlint reads
class RMSNormalization(layers.Layer):
    def __init__(self, epsilon=1e-6, **kw):
        super().__init__(**kw)
        self.epsilon = epsilon
    def build(self, shape):
        self.scale = self.add_weight(shape=(shape[-1],), initializer="zeros")
    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon) * (1 + self.scale)
RMSNormalization.__module__ = "keras_pkg.layers"
norm = RMSNormalization(epsilon=1e-5, dtype=keras.DTypePolicy("float32"))
m = keras.Model(x, layers.Dense(4)(norm(x)))
try:
    norm.get_config()
    out["refused"] = False
except NotImplementedError:
    out["refused"] = True
g = from_model(m, Loader, name="norm")
out["norm"] = summary(m, g)

# an audio encoder (a long-kernel strided Conv1D) beside a decoder whose tokens must stay
# within its 32-row position table: only the encoder's inputs may grow
class Positions(layers.Layer):
    def build(self, shape):
        self.table = self.add_weight(shape=(32, shape[-1]))
    def call(self, x):
        return x + self.table[: ops.shape(x)[1]]
    def compute_output_shape(self, shape):
        return shape
audio = keras.Input((None, 1), name="encoder_audio")
audio_mask = keras.Input((None,), dtype="bool", name="encoder_padding_mask")
ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
enc = layers.GlobalAveragePooling1D()(layers.Conv1D(8, 127, strides=64)(audio))
dec = Positions()(layers.Embedding(50, 8)(ids))
m = keras.Model([audio, audio_mask, ids], layers.Add()([dec, ops.expand_dims(enc, 1)]))
out["audio"] = summary(m, from_model(m, Loader, name="audio"))

# a text tower that adds its whole position table (SigLIP): it runs only at its declared length
class FullTable(layers.Layer):
    def __init__(self, max_sequence_length, **kw):
        super().__init__(**kw)
        self.max_sequence_length = max_sequence_length
    def build(self, shape):
        self.table = self.add_weight(shape=(self.max_sequence_length, shape[-1]))
    def call(self, x):
        return x + self.table
    def compute_output_shape(self, shape):
        return shape
    def get_config(self):
        return {**super().get_config(), "max_sequence_length": self.max_sequence_length}
ids = keras.Input((None,), dtype="int32", name="token_ids")
m = keras.Model(ids, FullTable(24)(layers.Embedding(50, 8)(ids)))
out["full_table"] = summary(m, from_model(m, Loader, name="full_table"))

# a task on a shared backbone that drops one of the backbone's outputs (BERT's pooler under a
# masked-LM head): a dead branch archlint reports as info, naming the nested model
from archlint.api import check_graph
from archlint.config import Config
seq = keras.Input((8, 12))
backbone = keras.Model(seq, {"sequence": layers.Dense(12)(seq),
                             "pooled": layers.Dense(12, activation="tanh")(layers.GlobalAveragePooling1D()(seq))},
                       name="backbone")
m = keras.Model(seq, layers.Dense(3)(backbone(seq)["sequence"]))
g = from_model(m, Loader, name="task")
out["task"] = [(f.code, f.severity.label, f.message) for f in check_graph(g, Config(select=["AL021"]))]
plain = keras.Input((8, 12))
class Drop(layers.Layer):
    """A layer computed and never used, no nested model: still a warning."""
    def __init__(self, **kw):
        super().__init__(**kw)
        self.a, self.b = layers.Dense(12), layers.Dense(12, activation="tanh")
    def call(self, x):
        self.b(x)
        return self.a(x)
m = keras.Model(plain, Drop()(plain))
out["plain"] = [(f.code, f.severity.label) for f in check_graph(from_model(m, Loader, name="plain"), Config(select=["AL021"]))]

# a scan that writes each step into its output (keras.ops.slice_update, RWKV-7's recurrence):
# the writes carry the data, so nothing computed is dead
class Scan(layers.Layer):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.step = layers.Dense(12)
    def call(self, x):
        out = ops.zeros_like(x)
        for t in range(8):
            out = ops.slice_update(out, (0, t, 0), self.step(x[:, t : t + 1]))
        return out
m = keras.Model(plain, Scan()(plain))
out["scan"] = [(f.code, f.severity.label) for f in check_graph(from_model(m, Loader, name="scan"), Config(select=["AL021"]))]

# the same products in a functional model, read from its saved config
import sys
from archlint.frontends import load_graph
a = keras.Input((8, 12)); b = keras.Input((8, 12))
y = ops.matmul(layers.Dense(16)(a), layers.Permute((2, 1))(layers.Dense(16)(b)))
m = keras.Model([a, b], layers.Add()([y, ops.einsum("bld,bmd->blm", a, b)]))
m.save(sys.argv[1] + "/products.keras")
out["saved"] = summary(m, load_graph(sys.argv[1] + "/products.keras"))
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("real Keras 3 with the torch backend is not installed")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = tmp_path_factory.mktemp("products")
    r = subprocess.run([sys.executable, "-c", LIVE, str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_keras_live_products_are_matmul_with_live_shapes(live) -> None:
    res = live["scores"]
    assert res["kinds"]["matmul"] == 3 and "unknown" not in res["kinds"]
    plain, *einsums = sorted(res["matmul"], key=lambda a: a.get("equation", ""))
    assert plain["contracted"] == 16
    assert [{k: a.get(k) for k in ("equation", "contracted", "shape")} for a in einsums] == [
        {"equation": "bld,bmd->blm", "contracted": 16, "shape": [1, 8, 8]},
        {"equation": "bld,md->blm", "contracted": 16, "shape": [1, 8, 8]}]
    assert res["coverage"]["share"] == 1.0 and res["coverage"]["shapeless"] == 0
    assert res["total"] == res["count"]
    assert einsums[1].get("params") == 8 * 16  # the table is counted once, on the product that reads it


def test_keras_live_written_out_attention_is_still_fused(live) -> None:
    res = live["attend"]
    assert res["kinds"].get("attention") == 1 and "matmul" not in res["kinds"]
    assert res["coverage"]["share"] == 1.0


def test_keras_live_dot_product_attention_is_attention(live) -> None:
    res = live["fused"]
    assert res["kinds"].get("attention") == 1 and res["coverage"]["share"] == 1.0
    (att,) = res["attention"]
    assert (att["heads"], att["head_dim"], att["causal"], att["scale_default"]) == (2, 8, True, True)
    assert abs(att["scale"] - 8 ** -0.5) < 1e-9


def test_keras_live_reads_a_layer_whose_get_config_keras_refuses(live) -> None:
    assert live["refused"]  # the layer really cannot give a config
    res = live["norm"]
    assert res["kinds"].get("rms_norm") == 1 and res["coverage"]["share"] == 1.0
    assert res["total"] == res["count"]


def test_keras_live_grows_only_the_audio_inputs(live) -> None:
    res = live["audio"]
    # the audio and its mask grew to 256 samples; the decoder's tokens kept 16 (its table has 32 rows)
    shapes = sorted(res["inputs"])
    assert [1, 1, 256] in shapes and [1, 256] in shapes and [1, 16] in shapes
    assert res["total"] == res["count"]


def test_keras_saved_config_products_are_matmul_with_shapes(live) -> None:
    res = live["saved"]
    assert res["kinds"]["matmul"] == 2 and "unknown" not in res["kinds"]
    # Keras (None, 8, 8) read channel-first: the last axis comes second
    assert all(a["shape"] == [None, 8, 8] for a in res["matmul"])
    assert sorted(a.get("contracted") for a in res["matmul"]) == [12, 16]
    assert res["total"] == res["count"] and res["coverage"]["share"] == 1.0


def test_keras_live_tries_the_declared_sequence_length(live) -> None:
    res = live["full_table"]
    assert res["inputs"] == [[1, 24]] and res["total"] == res["count"]


def test_a_keras_run_error_is_one_line_naming_the_layer() -> None:
    from archlint.frontends.keras_live import _reason

    e = RuntimeError("Exception encountered when calling Cond.call().\n\n\x1b[1moperator torchvision::nms does not "
                     "exist\x1b[0m\n\nArguments received by Cond.call():\n  \u2022 args=(1,)")
    assert _reason(e) == "RuntimeError: in Cond: operator torchvision::nms does not exist"
    assert _reason(ValueError("two\n  lines")) == "ValueError: two lines"


def test_a_dropped_output_of_a_nested_model_is_info_a_dropped_layer_a_warning(live) -> None:
    (task,) = live["task"]
    assert task[:2] == ["AL021", "info"] and "nested model 'backbone'" in task[2]
    assert live["plain"] == [["AL021", "warning"]]


def test_writes_into_a_tensor_carry_the_data(live) -> None:
    assert live["scan"] == []
