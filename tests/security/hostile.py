"""Builders for the hostile inputs of issue 11 ("Hostile repositories, round
two"): each returns the bytes of a small file that made old archlint run for
minutes, allocate gigabytes or write a huge report. The tests in
``tests/security/`` and the fuzzer (``benchmarks/fuzz.py``) share them.

Nothing here needs Keras, TensorFlow or torch; ONNX files are built with the
``onnx`` helpers.
"""

from __future__ import annotations

import io
import json
import zipfile


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    return buf.getvalue()


def keras_zip(config: dict, meta: dict | None = None) -> bytes:
    """A ``.keras`` archive holding ``config`` (compact JSON) and metadata."""
    meta = {"keras_version": "3.5.0", "date_saved": "2026-01-01@00:00:00"} if meta is None else meta
    return _zip({
        "config.json": json.dumps(config, separators=(",", ":")).encode(),
        "metadata.json": json.dumps(meta).encode(),
    })


def _layer(cls: str, name: str, inbound: list | None = None, **cfg: object) -> dict:
    out: dict = {"class_name": cls, "name": name, "config": {"name": name, **cfg}}
    if inbound is not None:
        out["inbound_nodes"] = inbound
    return out


def _k2_calls(src: str, k: int, self_name: str) -> list:
    """K Keras-2 style inbound nodes: call 0 reads ``src``, call i reads call i-1."""
    return [[[src, 0, 0, {}]]] + [[[self_name, i - 1, 0, {}]] for i in range(1, k)]


def nested_models(depth: int = 8, calls: int = 4) -> dict:
    """A model whose one layer is a model called ``calls`` times, nested
    ``depth`` deep: ``calls ** depth`` layer calls from a few hundred bytes."""
    inner: dict = {
        "class_name": "Functional",
        "config": {
            "name": "m0",
            "layers": [
                _layer("InputLayer", "i", batch_shape=[None, 4]),
                _layer("Dense", "d", [[["i", 0, 0, {}]]], units=4),
            ],
            "input_layers": [["i", 0, 0]],
            "output_layers": [["d", 0, 0]],
        },
    }
    for level in range(1, depth + 1):
        sub = {**inner, "name": "s", "inbound_nodes": _k2_calls("i", calls, "s")}
        sub["config"] = {**inner["config"], "name": "s"}
        inner = {
            "class_name": "Functional",
            "config": {
                "name": f"m{level}",
                "layers": [_layer("InputLayer", "i", batch_shape=[None, 4]), sub],
                "input_layers": [["i", 0, 0]],
                "output_layers": [["s", calls - 1, 0]],
            },
        }
    return inner


def same_name_layers(n: int = 8000) -> dict:
    """A Sequential model of ``n`` Dense layers that all share one name."""
    layers = [_layer("InputLayer", "x", batch_shape=[None, 8])]
    layers += [_layer("Dense", "dense", units=8, activation="relu") for _ in range(n)]
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}


def reversed_chain(n: int = 8000) -> dict:
    """A functional chain of ``n`` Dense layers listed last-to-first."""
    layers = [_layer("Dense", f"d{i}", [[[f"d{i - 1}" if i else "x", 0, 0, {}]]], units=8) for i in range(n)]
    layers.reverse()
    layers.insert(0, _layer("InputLayer", "x", batch_shape=[None, 8]))
    return {
        "class_name": "Functional",
        "config": {"name": "rev", "layers": layers, "input_layers": [["x", 0, 0]], "output_layers": [[f"d{n - 1}", 0, 0]]},
    }


def onnx_dropout_chain(n: int = 20000) -> bytes:
    """``conv -> n x Dropout -> BatchNormalization``: every dropout reaches the
    batch norm through all the others (quadratic for an unmemoised walk)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1])]
    prev = "c"
    for i in range(n):
        nodes.append(helper.make_node("Dropout", [prev], [f"d{i}"], name=f"drop{i}"))
        prev = f"d{i}"
    nodes.append(helper.make_node("BatchNormalization", [prev, "s", "b", "m", "v"], ["y"], name="bn"))
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], [0.0] * 4)]
    inits += [helper.make_tensor(k, TensorProto.FLOAT, [2], [1.0, 1.0]) for k in "sbmv"]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def onnx_flatten_fan_in(heads: int = 3000, chain: int = 3000) -> bytes:
    """``heads`` Flatten + Gemm heads on one convolution's 1x2x2 map, concatenated
    into a chain of ``chain`` Gemm layers: every head's dense layers include the
    whole chain (quadratic for AL003 when each head walks it again)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "k"], ["c"], name="conv", kernel_shape=[1, 1])]
    for i in range(heads):
        nodes.append(helper.make_node("Flatten", ["c"], [f"f{i}"], name=f"flatten{i}"))
        nodes.append(helper.make_node("Gemm", [f"f{i}", "w"], [f"h{i}"], name=f"head{i}"))
    nodes.append(helper.make_node("Concat", [f"h{i}" for i in range(heads)], ["cat"], name="cat", axis=1))
    inits = [helper.make_tensor("k", TensorProto.FLOAT, [1, 1, 1, 1], [0.0]),
             helper.make_tensor("w0", TensorProto.FLOAT, [4 * heads, 4], [0.0] * (16 * heads)),
             helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 16)]
    prev = "cat"
    for i in range(chain):
        nodes.append(helper.make_node("Gemm", [prev, "w0" if i == 0 else "w"], [f"g{i}"], name=f"dense{i}"))
        prev = f"g{i}"
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def onnx_dead_chain(n: int = 3000, sinks: int = 3000) -> bytes:
    """A live ``Relu`` path plus a dead chain of ``n`` ``Relu`` read by ``sinks``
    dead sinks, each hanging off the chain's end: every sink's dead branch is
    the whole chain (quadratic report for an unshared walk)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["x"], ["y"], name="live")]
    prev = "x"
    for i in range(n):
        nodes.append(helper.make_node("Relu", [prev], [f"c{i}"], name=f"chain{i}"))
        prev = f"c{i}"
    for j in range(sinks):
        nodes.append(helper.make_node("Relu", [prev], [f"s{j}"], name=f"sink{j}"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def h5_overlapping_continuations(blocks: int = 6000, block_bytes: int = 1 << 20) -> bytes:
    """An HDF5 file whose root object header (v1) lists ``blocks`` continuation
    messages, each pointing 8 bytes further into one ~1 MiB region of large
    NIL messages: a reader that copies every continuation block in full copies
    ``blocks`` MiB from a file of about 1.2 MB."""
    import struct

    O = 8  # noqa: E741,N806 - sizes of offsets (HDF5 spec names)
    root = 64
    cont = b"".join(struct.pack("<HHB3x", 0x10, 2 * O, 0) for _ in range(blocks))
    header_block_len = blocks * (8 + 2 * O)
    region = root + 16 + header_block_len
    region = (region + 7) & ~7
    cont = b"".join(
        struct.pack("<HHB3xQQ", 0x10, 2 * O, 0, region + 8 * i, block_bytes) for i in range(blocks)
    )
    msg = struct.pack("<HHB3x", 0, 0xFFF8, 0) + b"\0" * 0xFFF8  # one NIL message of 64 KiB
    area = (msg * ((block_bytes + 8 * blocks) // len(msg) + 2))
    # every 8-aligned position must read as a message header: fill the data with headers too
    area = struct.pack("<HHB3x", 0, 0xFFF8, 0) * (len(area) // 8)
    size = region + len(area)
    sb = b"\x89HDF\r\n\x1a\n" + bytes([2, O, O, 0]) + struct.pack("<QQQQ", 0, 0xFFFFFFFFFFFFFFFF, size, root) + b"\0" * 4
    head = struct.pack("<BxHII", 1, blocks, 1, header_block_len) + b"\0" * 4
    out = bytearray(size)
    out[: len(sb)] = sb
    out[root : root + 16] = head
    out[root + 16 : root + 16 + len(cont)] = cont
    out[region:] = area
    return bytes(out)


def deflated_zip(name: str, text_bytes: int, unit: bytes = b"[],") -> bytes:
    """A zip with one member of ``text_bytes`` of ``unit`` repeated, deflated (a JSON memory bomb)."""
    reps = text_bytes // len(unit)
    body = b"[" + unit * reps + b"[]]"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr(name, body)
    return buf.getvalue()
