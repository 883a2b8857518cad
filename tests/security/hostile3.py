"""Builders for the hostile inputs of issue 17 (round three): datasets whose pickles run code,
image bombs, deep dotted names, pickles of many MEMOIZE opcodes, h5 training configs of nested
lists. Everything is built in memory, small, from the standard library (numpy where a real CIFAR
array is needed), so tests, the fuzzer and ``benchmarks/hostile3_bench.py`` share one definition.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zlib


class _Payload:
    """Pickles as ``builtins.exec(code)``: unpickling it with plain ``pickle.load`` runs ``code``."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def marker_code(marker) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def evil_cifar_batch(marker, *, where: str = "data") -> bytes:
    """A CIFAR-10 batch (protocol 2, like the official files) whose ``where`` entry creates
    ``marker`` when unpickled by ``pickle.load``."""
    d = {b"batch_label": b"evil", b"labels": [0, 1], b"data": b"x", b"filenames": [b"a.png", b"b.png"]}
    if where == "data":
        d[b"data"] = _Payload(marker_code(marker))
    elif where == "label":
        d[b"labels"] = [0, _Payload(marker_code(marker))]
    else:  # the whole batch
        return pickle.dumps(_Payload(marker_code(marker)), protocol=2)
    return pickle.dumps(d, protocol=2)


def object_array_batch(marker) -> bytes:
    """A batch whose ``data`` is a numpy object array holding the payload (an ndarray is allowed;
    an object dtype is not)."""
    import numpy as np

    arr = np.empty(2, dtype=object)
    arr[0] = _Payload(marker_code(marker))
    arr[1] = 1
    return pickle.dumps({b"data": arr, b"labels": [0, 1]}, protocol=2)


def tarball(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def cifar10_tarball(batch: bytes) -> bytes:
    """``cifar-10-batches-py/`` with every batch the same (hostile) pickle."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return tarball({f"cifar-10-batches-py/{n}": batch for n in names})


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (8-bit RGB) with a one-row image: opening it
    reads only the header; decoding it would allocate ``3 * width * height`` bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * (1 + 3 * min(width, 64)))) + _chunk(b"IEND", b""))


def solid_png(width: int, height: int) -> bytes:
    """A real, decodable, solid black grayscale PNG (``width * height`` bytes decoded, a few KB)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def tiny_png(value: int = 128) -> bytes:
    """A valid 32 x 32 RGB PNG."""
    comp = zlib.compress(b"".join(b"\x00" + bytes([value]) * 96 for _ in range(32)))
    ihdr = struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", comp) + _chunk(b"IEND", b"")


def imagefolder_tarball(bad: bytes, n_bad: int = 4) -> bytes:
    """``train/<class>/*.png`` and ``test/<class>/*.png``: ``n_bad`` hostile images among good ones."""
    members = {}
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(3):
                members[f"{split}/{cls}/{i}.png"] = tiny_png(40 * i)
    for i in range(n_bad):
        members[f"train/a/bomb{i}.png"] = bad
    return tarball(members)


def memoize_pickle(n: int = 40_000) -> bytes:
    """A protocol-4 pickle of one string followed by ``n`` MEMOIZE opcodes (1 byte each), then STOP:
    ``pickletools.genops`` keeps a memo entry per opcode."""
    body = b"\x8c\x01x" + b"\x94" * n + b"."
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def deep_dotted_name(depth: int = 20_000) -> str:
    """``a.a.a....``: scope building that slices every prefix costs depth^2 characters."""
    return ".".join(["a"] * depth)


def onnx_deep_names(nodes: int = 6, depth: int = 20_000) -> bytes:
    """A chain of ``nodes`` Relu whose names are ``depth`` dotted parts each (~40 KB a name): one
    scope per prefix would be ``depth`` strings averaging half the name, per node."""
    from onnx import TensorProto, helper

    name = deep_dotted_name(depth)
    prev, ns = "x", []
    for i in range(nodes):
        ns.append(helper.make_node("Relu", [prev], [f"r{i}"], name=f"{name}.n{i}"))
        prev = f"r{i}"
    graph = helper.make_graph(ns, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def onnx_dense_views(views: int = 6, width: int = 60, seed: int = 0) -> bytes:
    """``views`` name scopes of ``width`` Add nodes each, every node reading two random earlier
    nodes of its scope: dense DAGs whose crossing reduction takes dot minutes."""
    import random

    from onnx import TensorProto, helper

    rng = random.Random(seed)
    ns, prev = [], "x"
    for v in range(views):
        outs = [prev]
        for i in range(width):
            a, b = rng.choice(outs), rng.choice(outs)
            out = f"v{v}_{i}"
            ns.append(helper.make_node("Add", [a, b], [out], name=f"block{v}.add{i}"))
            outs.append(out)
        # one sink of the scope: a sum of all of them (so nothing is dead)
        acc = outs[1]
        for j, o in enumerate(outs[2:]):
            ns.append(helper.make_node("Add", [acc, o], [f"v{v}_s{j}"], name=f"block{v}.sum{j}"))
            acc = f"v{v}_s{j}"
        prev = acc
    graph = helper.make_graph(ns, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def memoize_pt(n: int = 40_000_000) -> bytes:
    """A torch.save-style zip whose ``data.pkl`` is :func:`memoize_pickle` (``n`` MEMOIZE opcodes),
    deflated: a few tens of KB on disk."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("archive/data.pkl", memoize_pickle(n))
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def h5_with_training_config(training_config: str, model_config: str | None = None) -> bytes:
    """A Keras 2 ``.h5`` (in memory, h5py's core driver) whose ``training_config`` attribute is
    ``training_config``."""
    import json

    import h5py

    model = model_config or json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "x"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}})
    bio = io.BytesIO()
    with h5py.File(bio, "w", libver="latest") as f:
        f.attrs["model_config"] = model
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["training_config"] = training_config
    return bio.getvalue()


def pickled_globals_pt(n: int = 1000, name: bytes = b"os\nsystem") -> bytes:
    """A torch.save-style zip whose ``data.pkl`` names a global ``n`` times (GLOBAL + POP)."""
    import zipfile

    body = b"\x80\x02" + (b"c" + name + b"\n0") * n + b"N."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", body)
    return buf.getvalue()


def cifar_batch(n: int = 2, protocol: int = 2, seed: int = 0) -> bytes:
    """A real (tiny) CIFAR-10 batch pickle."""
    import numpy as np

    rng = np.random.RandomState(seed)
    d = {b"batch_label": b"tiny", b"labels": rng.randint(0, 10, size=n).tolist(),
         b"data": rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
         b"filenames": [f"img{i}.png".encode() for i in range(n)]}
    return pickle.dumps(d, protocol=protocol)
