"""ONNX: weights that reach a MatMul through Transpose / Cast are counted; a Gather
on a weight table is an embedding; Attention (opset 23) and LSTM are recognised;
a tied output projection shares the embedding's table."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from archlint.frontends.onnx import from_model
from archlint.graph import OpKind


def _model(nodes, inits, inputs, outputs, opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_weights_through_transpose_and_cast_are_counted_and_tied() -> None:
    emb = np.zeros((100, 16), np.float32)
    w = np.zeros((32, 16), np.float32)
    m = _model(
        [
            helper.make_node("Gather", ["emb", "ids"], ["x"]),
            helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
            helper.make_node("Cast", ["wt"], ["wt32"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["x", "wt32"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Transpose", ["emb"], ["emb_t"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "emb_t"], ["logits"]),
        ],
        {"emb": emb, "w": w},
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
    )
    g = from_model(m)
    e = next(g.of_kind(OpKind.EMBEDDING))
    assert (e.attrs["vocab"], e.attrs["dim"], e.params) == (100, 16, 1600)
    dense = {n.name or n.layer: n for n in g.of_kind(OpKind.DENSE)}
    units = sorted((n.attrs["units"], n.params, bool(n.attrs.get("tied"))) for n in dense.values())
    # W^T (16 -> 32): 512 weights; the projection on the embedding's transposed table is tied: counted once
    assert units == [(32, 512, False), (100, 0, True)]
    assert g.total_params == 1600 + 512


def test_attention_op_and_lstm() -> None:
    m = _model(
        [
            helper.make_node("Attention", ["q", "k", "v"], ["a"], q_num_heads=4, kv_num_heads=4, scale=1.0),
        ],
        {},
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 8, 16]) for n in "qkv"],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 8, 16])],
        opset=23,
    )
    att = next(from_model(m).of_kind(OpKind.ATTENTION))
    assert att.attrs["heads"] == 4 and att.attrs["scale"] == 1.0
    w = np.zeros((1, 4 * 8, 16), np.float32)
    r = np.zeros((1, 4 * 8, 8), np.float32)
    m = _model(
        [helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=8)],
        {"w": w, "r": r},
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    rnn = next(from_model(m).of_kind(OpKind.RNN))
    assert (rnn.attrs["cell"], rnn.attrs["hidden"], rnn.params) == ("lstm", 8, 512 + 256)
