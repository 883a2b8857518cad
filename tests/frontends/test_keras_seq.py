"""Keras sequence layers in the graph: Embedding, MultiHeadAttention, LSTM / GRU /
SimpleRNN, LayerNormalization; sequences are never spatial; the rules that Keras
can express (AL103, AL104, AL108) fire on the failing config and not on the near-miss."""

from __future__ import annotations

from archlint.api import check_graph
from archlint.config import Config
from archlint.frontends.keras import from_config
from archlint.graph import OpKind
from tests.frontends.test_keras_layers import L, functional, inp


def _mha(name: str, src: str, heads: int, key_dim: int) -> dict:
    layer = L("MultiHeadAttention", name, src, src, num_heads=heads, key_dim=key_dim)
    q = layer["inbound_nodes"][0]["args"][0]
    layer["inbound_nodes"][0]["args"] = list(q) if isinstance(q, list) else [q]
    return layer


def encoder(pos: bool, key_dim: int = 16) -> dict:
    layers = [inp("ids", 8), L("Embedding", "tok", "ids", input_dim=1000, output_dim=64)]
    x = "tok"
    if pos:
        layers += [L("Embedding", "pos", "ids", input_dim=8, output_dim=64), L("Add", "sum", "tok", "pos")]
        x = "sum"
    layers += [
        _mha("mha", x, 4, key_dim),
        L("Add", "res", x, "mha"),
        L("LayerNormalization", "ln", "res"),
        L("GlobalAveragePooling1D", "gap", "ln"),
        L("Dense", "out", "gap", units=2),
    ]
    return functional(*layers, out="out")


def test_kinds_and_attrs() -> None:
    g = from_config(encoder(True))
    g.lint()
    tok = next(n for n in g.nodes if n.layer == "tok")
    assert tok.kind is OpKind.EMBEDDING and (tok.attrs["vocab"], tok.attrs["dim"], tok.params) == (1000, 64, 64_000)
    mha = next(g.of_kind(OpKind.ATTENTION))
    assert (mha.attrs["heads"], mha.attrs["head_dim"]) == (4, 16)
    assert next(g.of_kind(OpKind.LAYER_NORM)).layer == "ln"
    # Keras stores (B, L, D) channel-first as (B, D, L): a sequence, not a 1-D feature map
    assert tok.output.shape == (None, 64, 8) and tok.output.layout == "NDL"


def test_no_positional_information() -> None:
    assert [f.layer for f in check_graph(from_config(encoder(False)), Config(select=["AL103"]))] == ["mha"]
    assert check_graph(from_config(encoder(True)), Config(select=["AL103"])) == []


def test_head_dim() -> None:
    assert [f.layer for f in check_graph(from_config(encoder(True, key_dim=20)), Config(select=["AL104"]))] == ["mha"]
    assert check_graph(from_config(encoder(True, key_dim=16)), Config(select=["AL104"])) == []


def rnn(cls: str, **cfg) -> dict:
    return functional(
        inp("x", 8, 16),
        L(cls, "rnn1", "x", units=32, return_sequences=True, **cfg),
        L(cls, "rnn2", "rnn1", units=32),
        L("Dense", "out", "rnn2", units=3),
        out="out",
    )


def test_recurrent_layers() -> None:
    g = from_config(rnn("LSTM", dropout=0.2, recurrent_dropout=0.2))
    r = [n for n in g.nodes if n.kind is OpKind.RNN]
    assert [(n.layer, n.attrs["cell"], n.attrs["units"]) for n in r] == [("rnn1", "lstm", 32), ("rnn2", "lstm", 32)]
    assert r[0].params == 4 * (16 * 32 + 32 * 32 + 32)
    assert r[0].output.shape == (None, 32, 8) and r[1].output.shape == (None, 32)
    assert from_config(rnn("GRU")).nodes[1].attrs["cell"] == "gru"
    assert from_config(rnn("SimpleRNN")).nodes[1].attrs["cell"] == "rnn"
    # Keras reuses one mask over the sequence (variational): AL108 stays quiet
    assert check_graph(g, Config(select=["AL108"])) == []


def test_no_default_rule_fires_on_a_clean_keras_encoder() -> None:
    assert [f.code for f in check_graph(from_config(encoder(True)))] == []
