"""Hostile and broken ONNX files: external data outside the folder, cycles,
huge graphs, invalid UTF-8 names, truncated and bit-flipped files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from archlint.api import lint_paths
from archlint.config import Config
from tests.security._util import ROOT, assert_one_clear_error, load_module, run_cli

CLEAN = ROOT / "fixtures" / "onnx" / "clean_cnn.onnx"
DROPOUT = ROOT / "fixtures" / "onnx" / "article_dropout03_after_pool_dense.onnx"


def _external(name: str, dims: list[int], location: str) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    for k, v in (("location", location), ("offset", "0"), ("length", str(4 * 144))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _conv_model(weight: TensorProto, extra_nodes: list | None = None) -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", weight.name], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Dropout", ["c", "ratio"], ["d"], name="drop"),
             helper.make_node("Conv", ["d", weight.name], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    g = helper.make_graph(
        [*(extra_nodes or []), *nodes], "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        initializer=[weight],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


_AUDIT = r"""
import json, sys
opened = []
sys.addaudithook(lambda ev, args: opened.append(str(args[0])) if ev == "open" and args and isinstance(args[0], (str, bytes)) else None)
mode, path = sys.argv[1], sys.argv[2]
if mode == "archlint":
    from archlint.api import lint_paths
    from archlint.config import Config
    r = lint_paths([path], Config()).files[0]
    out = {"error": r.error, "codes": sorted({f.code for f in r.findings}), "nodes": r.nodes}
else:  # control: a naive reader that follows the location (onnx >= 1.16 itself refuses)
    import os
    import onnx
    t = onnx.load(path, load_external_data=False).graph.initializer[0]
    loc = {e.key: e.value for e in t.external_data}["location"]
    with open(os.path.join(os.path.dirname(path), loc), "rb") as fh:
        fh.read(16)
    out = {}
out["opened"] = opened
print(json.dumps(out))
"""


def _audited(mode: str, model: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", _AUDIT, mode, str(model)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_external_data_outside_the_folder_is_never_opened(tmp_path: Path, how: str) -> None:
    secret = tmp_path / "secret" / "passwd.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"\x00" * 4 * 144)
    models = tmp_path / "a" / "b"
    models.mkdir(parents=True)
    location = "../../secret/passwd.bin" if how == "relative" else str(secret)
    # the weight and a Constant's value (the dropout ratio) both point at the secret
    ratio = _external("ratio_t", [], location)
    const = helper.make_node("Constant", [], ["ratio"], name="ratio_const", value=ratio)
    model = _conv_model(_external("w", [4, 4, 3, 3], location), [const])
    path = models / "m.onnx"
    path.write_bytes(model.SerializeToString())

    control = _audited("onnx", path)
    assert any(Path(p).name == "passwd.bin" for p in control["opened"]), "the audit hook must see a read"

    res = _audited("archlint", path)
    assert res["error"] is None
    assert "AL001" in res["codes"]  # findings still come from the graph
    assert not any("passwd" in p for p in res["opened"]), res["opened"]


def test_cycle_is_one_clear_error(tmp_path: Path) -> None:
    g = helper.make_graph(
        [helper.make_node("Relu", ["x", "b"], ["a"], name="r1"),
         helper.make_node("Relu", ["a"], ["b"], name="r2"),
         helper.make_node("Relu", ["b"], ["y"], name="r3")],
        "loop",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    path = tmp_path / "cycle.onnx"
    path.write_bytes(helper.make_model(g).SerializeToString())
    r = run_cli("check", path)
    assert_one_clear_error(r, "cycle", "cycle.onnx")
    assert len(r.stderr.strip().splitlines()) == 1


def test_value_produced_twice_is_one_clear_error(tmp_path: Path) -> None:
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Sigmoid", ["x"], ["a"], name="r2")],
        "dup",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3])],
    )
    path = tmp_path / "dup.onnx"
    path.write_bytes(helper.make_model(g).SerializeToString())
    assert_one_clear_error(run_cli("check", path), "produced twice")


def test_long_chain_is_linear_and_never_recurses(tmp_path: Path) -> None:
    """100k dropouts between two convolutions: AL001 walks the chain for each
    of them, so a quadratic or recursive walk would hang or raise RecursionError."""
    bench = load_module("benchmarks/big_graph_bench.py")
    path = tmp_path / "chain.onnx"
    path.write_bytes(bench.chain_model(100_000, "Dropout"))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion proportional to depth fails loudly
    try:
        fr = lint_paths([str(path)], Config(select=["AL001"])).files[0]
    finally:
        sys.setrecursionlimit(limit)
    assert fr.error is None
    assert fr.nodes == 100_000 + 4
    from archlint.api import MAX_FINDINGS_PER_RULE

    shown, more = fr.findings[:-1], fr.findings[-1]
    assert len(shown) == MAX_FINDINGS_PER_RULE and more.data == {"more": 100_000 - MAX_FINDINGS_PER_RULE}
    assert {tuple(f.data["upstream"]) for f in shown} == {("conv_in",)}
    assert {tuple(f.data["downstream"]) for f in shown} == {("conv_out",)}


def test_invalid_utf8_names_give_findings_and_valid_output(tmp_path: Path) -> None:
    data = DROPOUT.read_bytes()
    assert b"dropout_1" in data
    bad = data.replace(b"dropout_1", b"drop\xff\xfet_1")  # same length: the protobuf stays well-formed
    path = tmp_path / "bad_utf8.onnx"
    path.write_bytes(bad)
    r = run_cli("check", path, "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    layers = {f["layer"] for f in doc["findings"] if f["code"] == "AL001"}
    assert "drop\\xff\\xfet_1" in layers  # escaped, still distinct from every other name
    t = run_cli("check", path)
    assert t.returncode == 1 and "drop\\xff\\xfet_1" in t.stdout and "Traceback" not in t.stderr


def _mangle(data: bytes, rng: random.Random, kind: str) -> bytes:
    if kind == "truncated":
        return data[: rng.randrange(1, len(data))]
    b = bytearray(data)
    for _ in range(rng.randrange(1, 16)):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


@pytest.mark.parametrize("kind", ["truncated", "bitflipped"])
def test_broken_onnx_files_one_line_or_findings(tmp_path: Path, kind: str) -> None:
    rng = random.Random(kind)
    data = CLEAN.read_bytes()
    paths = []
    for i in range(12):
        p = tmp_path / f"{kind}_{i}.onnx"
        p.write_bytes(_mangle(data, rng, kind))
        paths.append(p)
    r = run_cli("check", *paths, "--format", "json")
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)  # the report stays valid JSON
    errors = [f for f in doc["files"] if f["error"]]
    assert r.returncode == (2 if errors else doc["summary"]["findings"] and 1 or 0)
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("archlint: error: ")]) == len(errors)
    for f in errors:
        assert "\n" not in f["error"] and "could not read the model (" not in f["error"]
    if kind == "truncated":
        assert errors  # most prefixes of a protobuf do not parse
