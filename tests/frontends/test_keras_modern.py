"""Modern Keras read right (issue 23): multi-output layers, the standard layers and ops
beyond the classic set, shapes that go on past an unknown layer, shared models counted
once, and a coverage line that says what the graph misses. Every model is built and
saved by real Keras 3 (torch backend) in one subprocess; its ``count_params()`` is the
reference for archlint's parameter total."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archlint.view import coverage_text
from archlint.frontends import load_graph
from archlint.graph import OpKind

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None,
    reason="real Keras 3 with the torch backend is not installed (pip install keras; torch CPU)",
)

BUILD = r'''
import json, sys
import keras
from keras import layers, ops

out = sys.argv[1]
counts = {}

def save(model, name):
    model.save(f"{out}/{name}.keras")
    counts[name] = model.count_params()

# seq2seq: an encoder LSTM's states start the decoder (the keras.io example)
enc_in = keras.Input((None, 16)); dec_in = keras.Input((None, 12))
_, h, c = layers.LSTM(32, return_state=True)(enc_in)
dec = layers.LSTM(32, return_sequences=True)(dec_in, initial_state=[h, c])
save(keras.Model([enc_in, dec_in], layers.Dense(12, activation="softmax")(dec)), "seq2seq")

# GRU states, read by index, with return_sequences
x = keras.Input((10, 8)); seq, state = layers.GRU(6, return_sequences=True, return_state=True)(x)
save(keras.Model(x, [layers.Dense(3)(state), seq]), "gru_state")

# keras.ops.split: two outputs of one node
x = keras.Input((8, 8, 16)); a, b = ops.split(x, 2, axis=-1)
save(keras.Model(x, layers.Concatenate()([layers.Conv2D(8, 3, padding="same")(a), b])), "split")

# Bidirectional RNNs
x = keras.Input((20,), dtype="int32"); e = layers.Embedding(100, 16)(x)
y = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(e)
y = layers.Bidirectional(layers.GRU(8), merge_mode="sum")(y)
save(keras.Model(x, layers.Dense(2, activation="softmax")(y)), "bilstm")

# GetItem (x[:, 0]) feeding a head
x = keras.Input((10, 16)); save(keras.Model(x, layers.Dense(4)(x[:, 0])), "getitem")

# keras.ops.pad before a valid stem, Resizing after
x = keras.Input((32, 32, 3)); p = ops.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]])
y = layers.Resizing(16, 16)(layers.Conv2D(8, 7, strides=2)(p))
save(keras.Model(x, layers.GlobalAveragePooling2D()(y)), "pad")

# ReversibleEmbedding: the tied output projection shares the table
x = keras.Input((10,), dtype="int32"); rev = layers.ReversibleEmbedding(50, 16)
save(keras.Model(x, rev(layers.Dense(16)(rev(x)), reverse=True)), "revemb")

# Siamese: one tower model called on two inputs
t_in = keras.Input((28, 28, 1))
t = layers.Dense(16)(layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3)(t_in)))
tower = keras.Model(t_in, t, name="tower")
a = keras.Input((28, 28, 1)); b = keras.Input((28, 28, 1))
d = layers.Subtract()([tower(a), tower(b)])
save(keras.Model([a, b], layers.Dense(1, activation="sigmoid")(d)), "siamese")

# an unregistered custom layer holding most of the weights
@keras.saving.register_keras_serializable(package="archlint_test")
class Big(layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 1000))
    def call(self, x):
        return ops.matmul(x, self.w)

x = keras.Input((100,)); save(keras.Model(x, layers.Dense(10)(Big()(x))), "unknown_big")

# batch norm: Keras counts the moving statistics
x = keras.Input((8, 8, 3)); y = layers.BatchNormalization()(layers.Conv2D(4, 3)(x))
save(keras.Model(x, layers.Dense(2)(layers.Flatten()(y))), "bn")

json.dump(counts, open(f"{out}/counts.json", "w"))
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("keras_modern")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    r = subprocess.run([sys.executable, "-c", BUILD, str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, json.loads((out / "counts.json").read_text())


def _total(g) -> int:
    return g.total_params + int(g.meta.get("non_trainable_params", 0))


@pytest.mark.parametrize("name", ["seq2seq", "gru_state", "split", "bilstm", "getitem", "pad", "revemb", "siamese", "bn"])
def test_parameter_total_equals_count_params_and_everything_understood(built, name):
    out, counts = built
    g = load_graph(out / f"{name}.keras")
    g.lint()
    assert _total(g) == counts[name]
    cov = g.coverage()
    assert cov["share"] == 1.0, coverage_text(cov)
    assert cov["shapeless"] == 0


def test_lstm_states_are_outputs_of_the_encoder_node(built):
    g = load_graph(built[0] / "seq2seq.keras")
    enc, dec = [n for n in g.nodes if n.kind is OpKind.RNN]
    assert [v.shape for v in enc.outputs] == [(None, 32), (None, 32), (None, 32)]
    assert enc.attrs["return_state"] is True
    # the decoder reads its sequence first, then the two states of the encoder
    assert dec.inputs[0].producer.kind is OpKind.INPUT
    assert dec.inputs[1:] == enc.outputs[1:]


def test_split_parts_have_their_shapes(built):
    g = load_graph(built[0] / "split.keras")
    split = next(n for n in g.nodes if n.op_type == "Split")
    assert [v.shape for v in split.outputs] == [(None, 8, 8, 8), (None, 8, 8, 8)]
    concat = next(n for n in g.nodes if n.kind is OpKind.CONCAT)
    assert concat.output.shape == (None, 16, 8, 8)


def test_bidirectional_is_its_rnn_run_both_ways(built):
    g = load_graph(built[0] / "bilstm.keras")
    concat, summed = [n for n in g.nodes if n.kind is OpKind.RNN]
    assert concat.attrs["bidirectional"] and concat.attrs["cell"] == "lstm"
    assert concat.output.shape == (None, 16, 20)  # forward and backward concatenated
    assert summed.attrs["merge"] == "sum" and summed.output.shape == (None, 8)


def test_getitem_and_pad_shapes(built):
    g = load_graph(built[0] / "getitem.keras")
    item = next(n for n in g.nodes if n.op_type == "GetItem")
    assert item.output.shape == (None, 16)
    g = load_graph(built[0] / "pad.keras")
    pad = next(n for n in g.nodes if n.op_type == "Pad")
    assert pad.kind is OpKind.PAD and pad.attrs["pads"] == [(3, 3), (3, 3)]
    assert pad.output.shape == (None, 3, 38, 38)
    assert next(n for n in g.nodes if n.op_type == "Resizing").output.shape == (None, 8, 16, 16)


def test_reversible_embedding_counts_its_table_once(built):
    g = load_graph(built[0] / "revemb.keras")
    emb = next(n for n in g.nodes if n.kind is OpKind.EMBEDDING)
    proj = next(n for n in g.nodes if n.op_type == "ReversibleEmbedding (reverse)")
    assert proj.kind is OpKind.DENSE and proj.attrs["tied"] == emb.layer and proj.params == 0
    assert emb.params == 50 * 16


def test_shared_tower_counted_once(built):
    g = load_graph(built[0] / "siamese.keras")
    convs = [n for n in g.nodes if n.kind is OpKind.CONV]
    assert len(convs) == 2  # both calls are in the graph ...
    assert sorted(c.params for c in convs) == [0, 80]  # ... but the second adds no weights
    assert [c.attrs.get("shared") for c in convs if not c.params] == ["tower"]


def test_unknown_layer_keeps_shapes_going_and_coverage_says_what_is_missing(built):
    g = load_graph(built[0] / "unknown_big.keras")
    dense = next(n for n in g.nodes if n.kind is OpKind.DENSE)
    assert dense.inputs[0].shape == (None, 1000)  # the shape Keras recorded past the unknown layer
    assert dense.params == 1000 * 10 + 10
    cov = g.coverage()
    assert cov["unknown"] == {"Big": 1}
    assert cov["params"] == {"counted": 10_010, "file": built[1]["unknown_big"], "share": round(10_010 / 110_010, 4)}
    text = coverage_text(cov)
    assert "parameters: 10,010 of the file's 110,010 counted (9%)" in text


# -- models whose classes a package registers (keras-hub): built through Keras, read by running them --

HUB_CONFIG = {
    "module": "keras_hub.src.models.bert.bert_backbone", "class_name": "BertBackbone",
    "registered_name": "keras_hub>BertBackbone",
    "config": {"name": "bert_backbone", "vocabulary_size": 100, "num_layers": 2, "num_heads": 2, "hidden_dim": 32,
               "intermediate_dim": 64, "dropout": 0.1, "max_sequence_length": 16, "num_segments": 2},
}


def _write_keras(path: Path, config: dict) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    return path


def test_registered_package_model_without_the_package_is_one_clear_error(tmp_path, monkeypatch):
    import importlib.util

    from archlint.errors import LoadError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "keras_hub" else real(name, *a))
    f = _write_keras(tmp_path / "bert.keras", HUB_CONFIG)
    with pytest.raises(LoadError) as e:
        load_graph(f)
    msg = str(e.value)
    assert "'BertBackbone', a class registered by keras_hub" in msg
    assert "pip install keras-hub torch" in msg and "archlint.check(model)" in msg


def test_registered_package_model_naming_other_code_imports_nothing(tmp_path, monkeypatch):
    from archlint.errors import LoadError

    marker = tmp_path / "ran"
    (tmp_path / "evil_payload.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = json.loads(json.dumps(HUB_CONFIG))
    config["config"]["dtype"] = {"module": "evil_payload", "class_name": "Policy", "config": {}, "registered_name": None}
    f = _write_keras(tmp_path / "bert.keras", config)
    with pytest.raises(LoadError) as e:
        load_graph(f)
    assert "evil_payload" in str(e.value) and "allow-listed" in str(e.value)
    assert not marker.exists()
    assert "evil_payload" not in sys.modules


LIVE = r'''
import json, sys
import keras
from keras import layers, ops
from archlint.frontends.keras import Loader
from archlint.frontends.keras_live import from_model

class Block(layers.Layer):
    """A pre-norm transformer block written as a subclassed layer, as keras-hub writes them."""
    def __init__(self, dim, heads, **kw):
        super().__init__(**kw)
        self.norm1 = layers.LayerNormalization()
        self.attn = layers.MultiHeadAttention(heads, dim // heads)
        self.norm2 = layers.LayerNormalization()
        self.up = layers.Dense(4 * dim, activation="gelu")
        self.down = layers.Dense(dim)
        self.drop = layers.Dropout(0.1)
    def call(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h)
        return x + self.drop(self.down(self.up(self.norm2(x))))

class PositionEmbedding(layers.Layer):
    def build(self, shape):
        self.pos = self.add_weight(shape=(shape[1], shape[2]))
    def call(self, x):
        return x + self.pos

ids = keras.Input((16,), dtype="int32")
x = PositionEmbedding()(layers.Embedding(50, 32)(ids))
for _ in range(2):
    x = Block(32, 4)(x)
x = layers.LayerNormalization()(x)
model = keras.Model(ids, layers.Dense(50)(x))
g = from_model(model, Loader, name="live")
g.lint()
kinds = {}
for n in g.nodes:
    kinds[n.kind.value] = kinds.get(n.kind.value, 0) + 1
print(json.dumps({"kinds": kinds, "total": g.total_params, "count": model.count_params(),
                  "coverage": g.coverage(), "layers": [n.layer for n in g.nodes if n.kind.value == "attention"]}))
'''


def test_live_model_blocks_expand_into_attention_norms_and_mlps():
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    r = subprocess.run([sys.executable, "-c", LIVE], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["total"] == res["count"]  # the position table, a block's own weight, is counted too
    assert res["coverage"]["share"] == 1.0
    k = res["kinds"]
    assert k["attention"] == 2 and k["layer_norm"] == 5 and k["dense"] == 5 and k["add"] == 5
    assert res["layers"] == ["functional/block/multi_head_attention", "functional/block_1/multi_head_attention_1"]


def test_registered_package_model_compile_config_is_not_read_but_nested_code_is(tmp_path):
    """Keras drops the top-level compile_config under compile=False (a task model's loss written as
    module "builtins"): it does not stop the build. The same module anywhere else still does."""
    import archlint.frontends.keras as kf
    from archlint.errors import LoadError

    config = json.loads(json.dumps(HUB_CONFIG))
    config["compile_config"] = {"loss": {"module": "builtins", "class_name": "function", "config": "silog",
                                         "registered_name": "function"}}
    with pytest.raises(LoadError) as e:  # reached the install check: the compile_config was not refused
        kf._load_through_keras(_write_keras(tmp_path / "task.keras", config), config, "archlint_no_such_package")
    assert "pip install" in str(e.value) and "builtins" not in str(e.value)
    config["config"]["loss"] = config.pop("compile_config")["loss"]
    with pytest.raises(LoadError) as e:
        kf._load_through_keras(_write_keras(tmp_path / "task2.keras", config), config, "archlint_no_such_package")
    assert "builtins" in str(e.value) and "allow-listed" in str(e.value)
