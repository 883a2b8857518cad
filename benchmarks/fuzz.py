"""Mutation fuzzer for archlint's frontends: broken and hostile model files.

    python benchmarks/fuzz.py --per-format 10000            # the long run
    python benchmarks/fuzz.py --per-format 300 --formats onnx keras

Seeds are small valid files of each format (fixtures/onnx and
tests/security/seeds, see make_seeds.py there). Each input is a seed mutated by
bit flips, truncation, byte insertion/deletion, overwrites with boundary bytes
and splicing with another seed; one input in twenty is a small instance of an
issue-11 attack shape (:func:`hostile_mutate`: long chains, nested models,
memory bombs, huge integers, control characters in names); for the zip formats (.keras, .pt2) also by
editing the JSON members (values swapped for other types, huge or negative
numbers, odd unicode, deep nesting, keys dropped) and the archive layout
(members renamed, dropped, duplicated); for .h5 by rewriting the
``model_config`` attribute the same way.

Each input runs in-process through ``load_graph`` then ``check_graph``, with a
5 s alarm. The oracle (what counts as a crash):

* clean: the frontend raises :class:`archlint.errors.ArchlintError` (so
  ``lint_paths`` reports a FileResult error) with a one-line message that is
  not a traceback; or the graph loads, passes ``Graph.lint()``, every rule runs
  without an internal error (AL000), and the JSON report round-trips and the
  text report renders.
* crash: any other exception escaping the frontend (``lint_paths`` would turn
  it into "could not read the model (TypeError: ...)", an unhelpful repr),
  RecursionError, MemoryError, a graph that fails ``Graph.lint()``, an AL000
  finding, a multi-line or traceback error message, a reporter failure.
* hang: an input that takes more than 5 s (the alarm interrupts it).

Crashers are written to ``--crash-dir`` (default tests/security/crashers/<format>/)
so they become regression fixtures.
"""

from __future__ import annotations

import argparse
import copy
import faulthandler
import hashlib
import io
import json
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEEDS = ROOT / "tests" / "security" / "seeds"
CRASHERS = ROOT / "tests" / "security" / "crashers"
FORMATS = {"onnx": ".onnx", "keras": ".keras", "h5": ".h5", "pt2": ".pt2", "pt": ".pt", "cifar": ".cifar"}
#: "cifar" is not a model format: CIFAR batch pickles for ``archlint validate``'s restricted
#: unpickler (archlint_validation.safeio), judged by their own oracle
TIMEOUT_S = 5


class Hang(BaseException):
    """Raised by the alarm; a BaseException so frontends' ``except Exception`` cannot swallow it."""


def seed_files(fmt: str) -> list[Path]:
    ext = FORMATS[fmt]
    found = sorted((SEEDS / fmt).glob(f"*{ext}"))
    if fmt == "onnx":
        names = ("clean_cnn", "residual_block", "article_dropout03_after_pool_dense", "article_bn_after_act_gap")
        found += [ROOT / "fixtures" / "onnx" / f"{n}.onnx" for n in names]
    # fixtures the frontends' own branches add
    for sub in ("keras", "torch", "pt2"):
        d = ROOT / "fixtures" / sub
        if d.is_dir():
            found += sorted(p for p in d.glob(f"*{ext}") if p.stat().st_size < 2_000_000)[:6]
    return [p for p in found if p.is_file()]


def frontend_module(fmt: str) -> str:
    from archlint.frontends import EXTENSIONS

    if fmt == "cifar":
        return "archlint_validation.safeio"
    return EXTENSIONS[FORMATS[fmt]]


def frontend_available(fmt: str) -> bool:
    import importlib.util

    if fmt == "cifar":
        try:
            return importlib.util.find_spec("archlint_validation.safeio") is not None and \
                importlib.util.find_spec("numpy") is not None
        except ImportError:
            return False
    return importlib.util.find_spec(f"archlint.frontends.{frontend_module(fmt)}") is not None


# ---------------------------------------------------------------- byte mutators
_BOUNDARY = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\xff\x0f", b"\xff" * 10, b"\x00" * 8, b'"', b"{", b"["]


def bit_flip(data: bytes, rng: random.Random, _: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def truncate(data: bytes, rng: random.Random, _: list[bytes]) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def insert_bytes(data: bytes, rng: random.Random, _: list[bytes]) -> bytes:
    i = rng.randrange(len(data) + 1)
    blob = rng.choice(_BOUNDARY) if rng.random() < 0.5 else rng.randbytes(rng.randrange(1, 32))
    return data[:i] + blob + data[i:]


def delete_bytes(data: bytes, rng: random.Random, _: list[bytes]) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randrange(1, 64) :]


def overwrite(data: bytes, rng: random.Random, _: list[bytes]) -> bytes:
    if not data:
        return data
    blob = rng.choice(_BOUNDARY)
    i = rng.randrange(len(data))
    return data[:i] + blob + data[i + len(blob) :]


def splice(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    other = rng.choice(others)
    i, j = rng.randrange(len(data) + 1), rng.randrange(len(other) + 1)
    return data[:i] + other[j:]


BYTE_MUTATORS: list[Callable[[bytes, random.Random, list[bytes]], bytes]] = [
    bit_flip, truncate, insert_bytes, delete_bytes, overwrite, splice,
]


# ---------------------------------------------------------------- JSON mutators
_ODD_VALUES: list[object] = [
    None, True, 0, -1, 2**63, -(2**63), 10**400, 1e308, float("nan"), "", "\ud800", "\u202e\x00name",
    "../../etc/passwd", "a" * 5000, [], {}, [None], {"class_name": None}, [[[[[]]]]], "NaN", 3.5, -7,
]


def _paths(obj: object, prefix: tuple = (), out: list | None = None, limit: int = 4000) -> list[tuple]:
    """Every (container path) inside a JSON value, iteratively, at most ``limit``."""
    out = [] if out is None else out
    stack = [(prefix, obj)]
    while stack and len(out) < limit:
        p, o = stack.pop()
        out.append(p)
        if isinstance(o, dict):
            stack.extend((p + (k,), v) for k, v in o.items())
        elif isinstance(o, list):
            stack.extend((p + (i,), v) for i, v in enumerate(o))
    return out


def _get(obj: object, path: tuple) -> object:
    for k in path:
        obj = obj[k]  # type: ignore[index]
    return obj


def mutate_json(doc: object, rng: random.Random) -> object:
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return rng.choice(_ODD_VALUES)
    for _ in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(paths)
        try:
            parent = _get(doc, path[:-1])
        except (KeyError, IndexError, TypeError):
            continue
        key = path[-1]
        op = rng.randrange(6)
        try:
            _apply(doc, parent, key, op, paths, rng)
        except (KeyError, IndexError, TypeError):  # a path made stale by an earlier edit
            continue
        paths = [p for p in _paths(doc) if p] or paths
    return doc


def _apply(doc: object, parent: object, key: object, op: int, paths: list[tuple], rng: random.Random) -> None:
    if True:
        if op <= 2:  # replace with an odd value
            parent[key] = copy.deepcopy(rng.choice(_ODD_VALUES))  # type: ignore[index]
        elif op == 3:  # drop
            del parent[key]  # type: ignore[attr-defined]
        elif op == 4:  # deep nesting: a marker expanded when serialised (no recursion here)
            parent[key] = f"__DEEP_{rng.choice((50, 500, 5000))}__"  # type: ignore[index]
        else:  # duplicate a sibling (list) or copy another subtree here
            other = _get(doc, rng.choice(paths))
            parent[key] = copy.deepcopy(other)  # type: ignore[index]


_DEEP = re.compile(rb'"__DEEP_(\d+)__"')


def _dumps(doc: object) -> bytes:
    try:
        raw = json.dumps(doc).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return b"[" * 100_000
    return _DEEP.sub(lambda m: b"[" * int(m.group(1)) + b"1" + b"]" * int(m.group(1)), raw)


# ---------------------------------------------------------------- zip mutators
def zip_mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        members = [(i, zin.read(i.filename)) for i in zin.infolist()]
    except Exception:  # noqa: BLE001 - already broken: fall back to bytes
        return bit_flip(data, rng, others)
    op = rng.randrange(10)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        jsons = [k for k, (i, _) in enumerate(members) if i.filename.endswith(".json")]
        target = rng.choice(jsons) if jsons else None
        for k, (info, blob) in enumerate(members):
            name = info.filename
            if op <= 5 and k == target:  # edit a JSON member
                try:
                    blob = _dumps(mutate_json(json.loads(blob), rng))
                except ValueError:
                    blob = bit_flip(blob, rng, others)
            elif op == 6 and rng.random() < 0.3:
                continue  # drop members
            elif op == 7 and rng.random() < 0.3:
                name = rng.choice(("../" + name, "/" + name, name.upper(), name + "\x00", "a/" * 40 + name))
            elif op == 8 and rng.random() < 0.3:
                blob = bit_flip(blob, rng, others) if blob else blob
            z.writestr(zipfile.ZipInfo(name, info.date_time), blob, info.compress_type)
            if op == 9 and rng.random() < 0.2:
                z.writestr(zipfile.ZipInfo(name + ("" if rng.random() < 0.5 else ".dup")), blob)
    return out.getvalue()


def h5_mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            raw = f.attrs.get("model_config")
            attrs = dict(f.attrs)
        raw = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
        doc = json.loads(raw)
    except Exception:  # noqa: BLE001 - already broken: fall back to bytes
        return bit_flip(data, rng, others)
    try:
        return _h5_rewrite(attrs, doc, rng)
    except Exception:  # noqa: BLE001 - h5py refused the mutated attribute: fall back to bytes
        return bit_flip(data, rng, others)


def _h5_rewrite(attrs: dict, doc: object, rng: random.Random) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for k, v in attrs.items():
            if k != "model_config":
                f.attrs[k] = v
        op = rng.randrange(4)
        if op == 0:  # invalid UTF-8 in the attribute
            f.attrs["model_config"] = _dumps(doc).replace(b'"name"', b'"n\xff\xfeme"', 1) + b"\xc3"
        elif op == 1:
            f.attrs["keras_version"] = rng.choice([b"\xff\xfe", b"", b"99.0", b"\x00"])
            f.attrs["model_config"] = _dumps(doc)
        else:
            f.attrs["model_config"] = _dumps(mutate_json(doc, rng))
    return buf.getvalue()


_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Dropout", "Relu", "Clip", "MaxPool",
        "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Add", "Concat", "Softmax", "Pad", "Identity",
        "LayerNormalization", "PRelu", "Squeeze", "Mul", "Sub", "Weird\xff"]
_INTS = [0, -1, 1, 2, 3, -(2**62), 2**62, 10**9]


def onnx_mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """Edit a parsed model: op types, attributes, edges, dims, names."""
    import onnx
    from onnx import helper

    try:
        m = onnx.load_from_string(data)
    except Exception:  # noqa: BLE001 - already broken: fall back to bytes
        return bit_flip(data, rng, others)
    g = m.graph
    nodes = list(g.node)
    if not nodes:
        return data
    for _ in range(rng.choice((1, 1, 2, 3))):
        n = rng.choice(nodes)
        op = rng.randrange(8)
        if op == 0:
            n.op_type = rng.choice(_OPS)
        elif op == 1 and n.input:  # rewire an input: cycles, dangling, self-loops
            n.input[rng.randrange(len(n.input))] = rng.choice(
                [o for x in nodes for o in x.output] + ["", "missing", n.output[0] if n.output else ""])
        elif op == 2 and n.output:  # produce a value twice
            n.output[0] = rng.choice([o for x in nodes for o in x.output] or ["x"])
        elif op == 3:
            name = rng.choice(["kernel_shape", "strides", "pads", "dilations", "group", "axis", "axes",
                               "transB", "ratio", "epsilon", "auto_pad", "keepdims", "min", "max"])
            val = rng.choice([rng.choice(_INTS), [rng.choice(_INTS)] * rng.randrange(0, 7), 0.5, float("nan"),
                              b"SAME_UPPER", b"\xff\xfe", "VALID"])
            del n.attribute[:]
            try:
                n.attribute.append(helper.make_attribute(name, val))
            except Exception:  # noqa: BLE001
                pass
        elif op == 4 and g.initializer:
            t = rng.choice(list(g.initializer))
            del t.dims[:]
            t.dims.extend(rng.choice(_INTS) for _ in range(rng.randrange(0, 6)))
        elif op == 5:
            n.name = rng.choice(["", "x" * 10000, "a/b/../../c", "\u202e", n.name * 2])
            n.domain = rng.choice(["", "", "com.microsoft", "ai.onnx.ml"])
        elif op == 6:
            p = n.metadata_props.add()
            p.key = rng.choice(["pkg.torch.onnx.stack_trace", "pkg.torch.onnx.name_scopes",
                                "pkg.torch.onnx.class_hierarchy", "namespace",
                                "pkg.onnxscript.rewriter.rule_name"])
            p.value = rng.choice(["", "[", "['a', 'b']", 'File "x.py", line 99999999999999999999',
                                  "FuseBatchNorm", "[" * 3000, "['']"])
        else:
            del n.input[:]
    out = m.SerializeToString()
    if rng.random() < 0.2:  # invalid UTF-8 inside a string field
        names = [x.name for x in nodes if len(x.name) > 2]
        if names:
            nm = rng.choice(names).encode()
            out = out.replace(nm, nm[:1] + b"\xff" + nm[2:], 1)
    return out


# ---------------------------------------------------------------- hostile shapes (issue 11)
#: share of inputs that are an attack shape (small instances: the full-size ones are in
#: tests/security and benchmarks/hostile_bench.py)
HOSTILE_SHARE = 0.05
_NASTY = ["\x1b]0;t\x07", "\x1b[31m", "\u202e", "\n::error::x", "::stop-commands::k", "##[error]x", "\u200b", "\x9b", "\r"]


def _nasty(rng: random.Random) -> str:
    return "".join(rng.choice(_NASTY) + rng.choice("abc") for _ in range(rng.randint(1, 3)))


def hostile_mutate(fmt: str, rng: random.Random) -> bytes:
    """A small instance of one attack shape of issue 11 (tests/security/hostile.py):
    long dropout and dead chains, nested models called many times, same-name
    layers, reversed chains, huge integers, JSON memory bombs, overlapping HDF5
    continuation blocks, control characters and workflow commands in names."""
    from tests.security import hostile

    pick = rng.randrange(4)
    if fmt == "onnx":
        if pick == 0:
            if rng.random() < 0.5:
                from tests.security import hostile3

                return rng.choice([
                    lambda: hostile3.onnx_deep_names(rng.randint(1, 6), rng.randint(1, 5000)),
                    lambda: hostile3.onnx_dense_views(rng.randint(1, 3), rng.randint(1, 60), rng.randint(0, 99)),
                ])()
            return hostile.onnx_dropout_chain(rng.randint(10, 600))
        if pick == 1:
            return hostile.onnx_dead_chain(rng.randint(1, 300), rng.randint(1, 300))
        from onnx import load_from_string

        model = load_from_string(hostile.onnx_dropout_chain(rng.randint(1, 20)))
        for node in model.graph.node:
            if rng.random() < 0.5:
                node.name = _nasty(rng)
            if rng.random() < 0.3:
                entry = node.metadata_props.add()
                entry.key, entry.value = "pkg.torch.onnx.stack_trace", f'File "{_nasty(rng)}", line {rng.randint(1, 10**30)}'
        return model.SerializeToString()
    if fmt == "keras":
        if pick == 0:
            return hostile.keras_zip(hostile.nested_models(rng.randint(1, 8), rng.randint(1, 5)))
        if pick == 1:
            maker = rng.choice([hostile.same_name_layers, hostile.reversed_chain])
            return hostile.keras_zip(maker(rng.randint(1, 500)))
        if pick == 2:
            return hostile.deflated_zip("config.json", rng.choice([1 << 10, 1 << 16, 1 << 20, 5 << 20]), rng.choice([b"[],", b"{},", b"[[[", b"1e999,"]))
        doc = hostile.same_name_layers(rng.randint(1, 20))
        layer = rng.choice(doc["config"]["layers"])
        layer["config"]["units" if rng.random() < 0.5 else "name"] = rng.choice([10**rng.randint(19, 4000), -(2**70), _nasty(rng)])
        meta = {"keras_version": rng.choice(["3.5.0", 5, None, [1]]), "notes": rng.choice([5, "x", [1, [2]], {"a": 1}])}
        return hostile.keras_zip(doc, meta)
    if fmt == "h5":
        if pick < 2:
            return hostile.h5_overlapping_continuations(rng.randint(1, 200), rng.choice([1 << 12, 1 << 16, 1 << 20]))
        from tests.security import hostile3

        text = rng.choice(["[],", "{},", "[[[[", '"a",', "1e999,", "9" * 30 + ","]) * rng.choice([1, 10, 1000, 100_000])
        return hostile3.h5_with_training_config(rng.choice(["[", "{\"a\":", ""]) + text + rng.choice(["]", "}", ""]))
    if fmt == "pt":
        from tests.security import hostile3

        if pick == 0:
            return hostile3.memoize_pt(rng.choice([10, 1000, 100_000, 1_200_000]))
        if pick == 1:
            return hostile3.pickled_globals_pt(rng.choice([1, 100, 10_000]), rng.choice(
                [b"os\nsystem", b"torch._utils\n_rebuild_tensor_v2", b"collections\nOrderedDict",
                 _nasty(rng).encode("utf-8", "surrogatepass") + b"\nx"]))
        return hostile.deflated_zip("archive/data.pkl", rng.choice([1 << 10, 1 << 20]), rng.choice([b"\x94", b"(", b"]"]))
    if fmt == "cifar":
        from tests.security import hostile3

        if pick == 0:
            return hostile3.evil_cifar_batch(_MARKER, where=rng.choice(["data", "label", "batch"]))
        if pick == 1:
            return hostile3.object_array_batch(_MARKER)
        if pick == 2:
            return hostile3.cifar_batch(rng.randint(0, 4), protocol=rng.choice([0, 1, 2, 3, 4, 5]))
        import pickle as _pickle

        return rng.choice([
            b"\x80\x02" + b"(" * rng.randint(1, 200_000) + b".",  # deep MARK nesting
            b"\x80\x02" + b"]" * rng.randint(1, 100_000) + b".",  # many lists
            _pickle.dumps({b"data": bytearray(b"x" * 10)}, protocol=2),
            b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
            b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.",
        ])
    # pt2
    if pick < 2:
        return hostile.deflated_zip("m/models/model.json", rng.choice([1 << 10, 1 << 20, 8 << 20]), rng.choice([b"[],", b"{},", b"[[[["]))
    return hostile.deflated_zip("m/models/model.json", rng.randint(10, 5000), rng.choice([b"[", b'{"a":', b"9" * 50]))


def mutate(fmt: str, data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    if rng.random() < HOSTILE_SHARE:
        return hostile_mutate(fmt, rng)
    if fmt == "onnx" and rng.random() < 0.5:
        return onnx_mutate(data, rng, others)
    if fmt in ("keras", "pt2") and rng.random() < 0.5:
        return zip_mutate(data, rng, others)
    if fmt == "h5" and rng.random() < 0.4:
        return h5_mutate(data, rng, others)
    if fmt == "pt" and rng.random() < 0.3:
        return zip_mutate(data, rng, others)
    out = rng.choice(BYTE_MUTATORS)(data, rng, others)
    if rng.random() < 0.2:  # stack a second mutation
        out = rng.choice(BYTE_MUTATORS)(out, rng, others)
    return out


# ---------------------------------------------------------------- the oracle
@dataclass
class Outcome:
    kind: str  # "ok" | "error" | "crash" | "hang"
    detail: str = ""
    seconds: float = 0.0


#: characters that must never reach text/github output raw (newlines and tabs between fields are archlint's)
_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_OWN_COMMAND = re.compile(r"^::(warning|error|notice) (file|title)=")


def _on_alarm(signum: int, frame: object) -> None:
    raise Hang()


#: a payload in a hostile CIFAR batch creates this file if it ever runs
_MARKER = Path(tempfile.gettempdir()) / f"archlint-fuzz-payload-ran-{os.getpid()}"


def run_cifar(path: Path) -> Outcome:
    """The restricted unpickler's oracle: a dict, or one-line DataError; never the payload."""
    from archlint_validation import safeio
    from archlint_validation.errors import DataError

    try:
        with open(path, "rb") as f:
            safeio.load_cifar_pickle(f, str(path), path.stat().st_size)
        out = Outcome("ok")
    except DataError as e:
        msg = str(e)
        out = Outcome("crash", f"unclear error message: {msg[:300]!r}") if "\n" in msg or not msg.strip() \
            else Outcome("error", msg[:200])
    if _MARKER.exists():
        _MARKER.unlink()
        return Outcome("crash", "the pickle's payload ran")
    return out


def run_one(path: Path) -> Outcome:
    """Run one file through archlint in-process and judge it (see the module docstring)."""
    from archlint.api import LintResult, FileResult, check_graph
    from archlint.config import Config
    from archlint.errors import ArchlintError
    from archlint.frontends import load_graph
    from archlint.reporters import emit

    try:  # the HDF5 reader's own time limit must fire before the oracle's alarm
        import archlint.frontends.keras as keras_frontend

        keras_frontend.H5_TIMEOUT_S = min(keras_frontend.H5_TIMEOUT_S, TIMEOUT_S - 2)
    except ImportError:
        pass
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TIMEOUT_S)
    try:
        if path.suffix == ".cifar":
            return run_cifar(path)
        try:
            graph = load_graph(str(path))
        except ArchlintError as e:
            msg = str(e)
            if "\n" in msg or "Traceback" in msg or not msg.strip():
                return Outcome("crash", f"unclear error message: {msg[:300]!r}")
            return Outcome("error", msg[:200])
        graph.lint()
        config = Config()
        findings = check_graph(graph, config, str(path))
        internal = [f for f in findings if f.code == "AL000"]
        if internal:
            return Outcome("crash", internal[0].message)
        fr = FileResult(path=str(path), findings=findings, format=graph.format, nodes=len(graph))
        result = LintResult(files=[fr])
        buf = io.StringIO()
        emit("json", result, buf)
        json.loads(buf.getvalue())
        if graph.format == "onnx":  # the HTML drawing (name scopes, fallback layout) of ONNX inputs
            import archlint.layout as layout_mod
            from archlint.view import graph_view

            fr.view = graph_view(graph)
            real_dot, layout_mod.dot_binary = layout_mod.dot_binary, lambda: None
            try:
                emit("html", result, io.StringIO())
            finally:
                layout_mod.dot_binary = real_dot
            fr.view = None
        for fmt in ("text", "github"):  # nothing raw from the model reaches a terminal or a CI log
            out = io.StringIO()
            emit(fmt, result, out, color=False)
            bad = _RAW.search(out.getvalue())
            if bad:
                return Outcome("crash", f"raw {bad.group(0)!r} in the {fmt} output")
            for line in out.getvalue().splitlines():
                if line.lstrip().startswith(("::", "##[")) and not _OWN_COMMAND.match(line):
                    return Outcome("crash", f"a workflow command from the model in the {fmt} output: {line[:80]!r}")
        return Outcome("ok", f"{len(graph)} nodes, {len(findings)} findings")
    except Hang:
        return Outcome("hang", f"over {TIMEOUT_S} s")
    except BaseException as e:  # noqa: BLE001 - the oracle: anything else is a crash
        if isinstance(e, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "archlint" in f.filename), "?")
        return Outcome("crash", f"{type(e).__name__} at {where}: {str(e)[:200]}")
    finally:
        signal.alarm(0)


@dataclass
class Stats:
    fmt: str
    tried: int = 0
    errors: int = 0
    ok: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    signatures: set[str] = field(default_factory=set)


def fuzz_format(fmt: str, n: int, seed: int, crash_dir: Path | None, work: Path, log: Callable[[str], None]) -> Stats:
    seeds = [p.read_bytes() for p in seed_files(fmt)]
    st = Stats(fmt)
    if not frontend_available(fmt):
        log(f"{fmt}: frontend archlint.frontends.{frontend_module(fmt)} not present, skipped")
        return st
    if not seeds:
        log(f"{fmt}: no seed files, skipped")
        return st
    rng = random.Random(f"{seed}-{fmt}")
    path = work / f"input{FORMATS[fmt]}"
    path.write_bytes(seeds[0])
    run_one(path)  # warm-up: the first input must not pay the frameworks' imports against its 5 s
    for i in range(n):
        base = rng.choice(seeds)
        data = mutate(fmt, base, rng, seeds)
        path.write_bytes(data)
        # a hang inside C code (HDF5, protobuf) ignores the alarm: this kills the
        # run, prints where it hung and leaves the input in the kept work folder
        faulthandler.dump_traceback_later(6 * TIMEOUT_S, exit=True)
        t0 = time.perf_counter()
        try:
            out = run_one(path)
        except Hang:  # the alarm fired just as run_one was finishing
            out = Outcome("hang", f"over {TIMEOUT_S} s")
        faulthandler.cancel_dump_traceback_later()
        dt = time.perf_counter() - t0
        st.tried += 1
        if dt > st.slowest[0]:
            st.slowest = (dt, f"input {i} ({len(data)} bytes)")
        if out.kind == "hang" or dt > TIMEOUT_S:
            st.hangs.append(f"input {i}")
            _keep(crash_dir, fmt, data, "hang")
        elif out.kind == "crash":
            sig = ":".join(out.detail.split(":")[:2])  # exception type and file:line
            st.crashes.append((f"input {i}", out.detail))
            if sig not in st.signatures:
                st.signatures.add(sig)
                _keep(crash_dir, fmt, data, "crash")
                log(f"{fmt}: crash on input {i}: {out.detail}")
        elif out.kind == "error":
            st.errors += 1
        else:
            st.ok += 1
        if (i + 1) % 1000 == 0:
            log(f"{fmt}: {i + 1}/{n} tried, {len(st.crashes)} crashes, {len(st.hangs)} hangs")
    return st


def _keep(crash_dir: Path | None, fmt: str, data: bytes, what: str) -> None:
    if crash_dir is None:
        return
    d = crash_dir / fmt
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{what}-{hashlib.sha1(data).hexdigest()[:12]}{FORMATS[fmt]}").write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-format", type=int, default=1000)
    ap.add_argument("--formats", nargs="*", default=list(FORMATS), choices=list(FORMATS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crash-dir", type=Path, default=CRASHERS, help="where crashers are kept ('' for nowhere)")
    args = ap.parse_args(argv)
    crash_dir = args.crash_dir if str(args.crash_dir) else None
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

    def log(msg: str) -> None:
        print(msg, flush=True)

    total_crashes = total_hangs = 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            t0 = time.perf_counter()
            st = fuzz_format(fmt, args.per_format, args.seed, crash_dir, Path(tmp), log)
            rows.append((st, time.perf_counter() - t0))
            total_crashes += len(st.crashes)
            total_hangs += len(st.hangs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{'format':<7}{'tried':>8}{'ok':>8}{'errors':>8}{'crashes':>9}{'hangs':>7}  {'slowest':<30}  wall")
    for st, wall in rows:
        slow = f"{st.slowest[0]:.2f} s ({st.slowest[1]})" if st.tried else "-"
        print(f"{st.fmt:<7}{st.tried:>8}{st.ok:>8}{st.errors:>8}{len(st.crashes):>9}{len(st.hangs):>7}  {slow:<30}  {wall:.0f} s")
    print(f"peak RSS {peak:.0f} MiB; distinct crash signatures: "
          f"{sum(len(st.signatures) for st, _ in rows)}")
    for st, _ in rows:
        for where, detail in st.crashes[:5]:
            print(f"  {st.fmt} {where}: {detail}")
    return 1 if total_crashes or total_hangs else 0


if __name__ == "__main__":
    raise SystemExit(main())
