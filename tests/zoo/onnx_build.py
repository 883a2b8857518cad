"""Build an ONNX model straight from a tests/zoo/spec.py layer list (onnx.helper,
no torch): the reference form of the parity table."""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper


def _zeros(name: str, dims: list[int]) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, dims, bytes(4 * math.prod(dims)), raw=True)


def to_onnx(layers: list[dict], *, name: str = "spec", hw: int = 32) -> onnx.ModelProto:
    nodes, inits = [], []
    shape: dict[str, tuple[int, int]] = {"input": (3, hw)}  # value -> (channels, spatial)
    prev = "input"
    for layer in layers:
        n, op = layer["name"], layer["op"]
        ins = layer.get("inputs") or [prev]
        c, s = shape[ins[0]]
        out = f"{n}:0"
        if op == "conv":
            f, k, st, g = layer["filters"], layer.get("kernel", 3), layer.get("stride", 1), layer.get("groups", 1)
            w = [_zeros(f"{n}.weight", [f, c // g, k, k])]
            if layer.get("bias", True):
                w.append(_zeros(f"{n}.bias", [f]))
            inits += w
            nodes.append(helper.make_node("Conv", [ins[0], *(t.name for t in w)], [out], name=n,
                                          kernel_shape=[k, k], strides=[st, st], pads=[k // 2] * 4, group=g))
            shape[out] = (f, (s + 2 * (k // 2) - k) // st + 1)
        elif op == "bn":
            w = [_zeros(f"{n}.{p}", [c]) for p in ("weight", "bias", "running_mean", "running_var")]
            inits += w
            nodes.append(helper.make_node("BatchNormalization", [ins[0], *(t.name for t in w)], [out], name=n, epsilon=1e-3))
            shape[out] = (c, s)
        elif op in ("relu", "softmax"):
            kw = {"axis": 1} if op == "softmax" else {}
            nodes.append(helper.make_node("Relu" if op == "relu" else "Softmax", [ins[0]], [out], name=n, **kw))
            shape[out] = (c, s)
        elif op == "spatial_dropout":
            raise NotImplementedError("ONNX has no channel-wise dropout op; exporters write mask arithmetic")
        elif op == "dropout":
            r = f"{n}.ratio"
            inits.append(helper.make_tensor(r, TensorProto.FLOAT, [], [layer["rate"]]))
            nodes.append(helper.make_node("Dropout", [ins[0], r], [out], name=n))
            shape[out] = (c, s)
        elif op == "maxpool":
            nodes.append(helper.make_node("MaxPool", [ins[0]], [out], name=n, kernel_shape=[2, 2], strides=[2, 2]))
            shape[out] = (c, s // 2)
        elif op == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", [ins[0]], [out], name=n))
            shape[out] = (c, 1)
        elif op == "flatten":
            nodes.append(helper.make_node("Flatten", [ins[0]], [out], name=n, axis=1))
            shape[out] = (c * s * s, 1)
        elif op == "dense":
            u = layer["units"]
            inits += [_zeros(f"{n}.weight", [u, c]), _zeros(f"{n}.bias", [u])]
            nodes.append(helper.make_node("Gemm", [ins[0], f"{n}.weight", f"{n}.bias"], [out], name=n, transB=1))
            shape[out] = (u, 1)
        elif op == "add":
            nodes.append(helper.make_node("Add", [f"{i}" for i in ins], [out], name=n))
            shape[out] = (c, s)
        else:
            raise ValueError(f"unknown spec op {op!r}")
        shape[n] = shape[out]
        prev = out
        # spec inputs name layers; map layer names to their output values
        for node in nodes[-1:]:
            node.input[:] = [f"{i}:0" if i in shape and not i.endswith(":0") and i != "input" else i for i in node.input]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, hw, hw])
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    return helper.make_model(g, producer_name="archlint-tests", opset_imports=[helper.make_opsetid("", 17)])
