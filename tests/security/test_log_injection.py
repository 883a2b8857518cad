"""Round two, log and terminal injection (issue 11, item 3): names, file names
and error text from hostile files reach stdout/stderr only as visible escapes
in text and github formats; JSON and SARIF keep them exact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.security._util import run_cli

ESC_TITLE = "\x1b]0;owned\x07"  # OSC: set the terminal title
ANSI = "\x1b[2J\x1b[31m"  # clear screen, red
BIDI = "evil\u202etxt.onnx"  # right-to-left override
FORGED = "\n::error file=src/app.py,line=1::forged annotation"
STOP = "::stop-commands::tok"
MASK = "::add-mask::secret"
LEGACY = "##[error]legacy"
ZWSP = "sec\u200bret"
HOSTILE = [ESC_TITLE, ANSI, BIDI, FORGED, STOP, MASK, LEGACY, ZWSP, "tab\there\rcr\x9bcsi\x7fdel"]

_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def _model(names: list[str]) -> bytes:
    """conv -> dropout(name) -> conv for each name (AL001 names every dropout), plus
    a conv named like a workflow command at the start."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c0"], name=STOP, kernel_shape=[1, 1])]
    prev = "c0"
    for i, name in enumerate(names):
        nodes.append(helper.make_node("Dropout", [prev], [f"d{i}"], name=name))
        nodes.append(helper.make_node("Conv", [f"d{i}", "w"], [f"c{i + 1}"], name=f"{name}/conv", kernel_shape=[1, 1]))
        prev = f"c{i + 1}"
    nodes.append(helper.make_node("Relu", [prev], ["y"], name=MASK))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], [0.1] * 4)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def _assert_inert(text: str, fmt: str) -> None:
    assert not _RAW.search(text), repr(_RAW.search(text).group(0))  # type: ignore[union-attr]
    for line in text.splitlines():
        s = line.strip()
        if fmt == "github" and re.match(r"^::(warning|error|notice) (file|title)=", s):
            continue  # archlint's own annotations
        assert not s.startswith(("::", "##[")), line


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    pytest.importorskip("onnx")
    d = tmp_path / "repo"
    d.mkdir()
    (d / "model.onnx").write_bytes(_model(HOSTILE))
    (d / "::error file=README.md::name.onnx").write_bytes(_model(["plain"]))
    (d / f"{ANSI}broken.onnx").write_bytes(b"not a protobuf \x1b[31m")
    (d / BIDI).write_bytes(b"\x08junk")
    return d


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_text_and_github_output_is_inert(hostile_dir: Path, fmt: str) -> None:
    r = run_cli("check", hostile_dir, "--format", fmt, "--verbose")
    assert r.returncode == 2  # two unreadable files
    _assert_inert(r.stdout, fmt)
    _assert_inert(r.stderr, fmt)
    assert "\\x1b]0;owned\\x07" in r.stdout  # visible, not dropped
    assert "evil\\u202etxt.onnx" in r.stdout + r.stderr
    assert "\\x3a:stop-commands::tok" in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("archlint: error: ")]
    assert len(errors) == 2 and any("\\x1b[31mbroken.onnx" in ln for ln in errors)


def test_json_and_sarif_keep_exact_names(hostile_dir: Path) -> None:
    r = run_cli("check", hostile_dir, "--format", "json")
    doc = json.loads(r.stdout)
    layers = {f["layer"] for f in doc["findings"]}
    assert {ESC_TITLE, ANSI, BIDI, FORGED, ZWSP} <= layers
    assert {Path(f["path"]).name for f in doc["files"]} >= {"::error file=README.md::name.onnx", BIDI}
    _assert_inert(r.stderr, "json")
    s = run_cli("check", hostile_dir, "--format", "sarif")
    sarif = json.loads(s.stdout)
    texts = json.dumps(sarif, ensure_ascii=False)
    assert ESC_TITLE in texts or json.dumps(ESC_TITLE)[1:-1] in json.dumps(sarif)


def test_safe_text_unit() -> None:
    from archlint.reporters.escape import safe_text

    assert safe_text("a\x1b[31mb") == "a\\x1b[31mb"
    assert safe_text("::error::x") == "\\x3a:error::x"
    assert safe_text("  ##[group]x") == "  \\x23#[group]x"
    assert safe_text("x\u202ey\u200bz") == "x\\u202ey\\u200bz"
    assert safe_text("a\nb\tc") == "a\\nb\\tc"
    assert safe_text("aten::conv2d") == "aten::conv2d"  # '::' inside a name is no command
    assert safe_text("caf\u00e9 \u6a21\u578b") == "caf\u00e9 \u6a21\u578b"  # ordinary text unchanged


def _spoofing_model(target_file: str) -> bytes:
    """conv -> dropout -> conv (an AL009 finding) whose exporter stack traces name ``target_file``."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c0"], name="c0", kernel_shape=[1, 1]),
             helper.make_node("Dropout", ["c0"], ["d0"], name="drop"),
             helper.make_node("Conv", ["d0", "w"], ["y"], name="c1", kernel_shape=[1, 1])]
    for node in nodes:  # every layer claims to come from target_file
        entry = node.metadata_props.add()
        entry.key, entry.value = "pkg.torch.onnx.stack_trace", f'File "{target_file}", line 3, in forward\n    x = self.f(x)'
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor("w", TensorProto.FLOAT, [2, 2, 1, 1], [0.1] * 4)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_source_locations_from_a_model_are_claims(tmp_path: Path) -> None:
    """An ONNX stack trace naming another file of the repository (or /etc/passwd)
    never makes a github/SARIF annotation on it without --trust-locations."""
    pytest.importorskip("onnx")
    (tmp_path / "app.py").write_text("print('the repository's own code')\n")
    (tmp_path / "m.onnx").write_bytes(_spoofing_model("app.py"))
    (tmp_path / "n.onnx").write_bytes(_spoofing_model("/etc/passwd"))
    r = run_cli("check", "m.onnx", "n.onnx", "--format", "github", "--select", "AL009", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "file=app.py" not in r.stdout and "file=/etc/passwd" not in r.stdout
    assert "(the model names the source app.py:3)" in r.stdout
    s = json.loads(run_cli("check", "m.onnx", "--format", "sarif", "--select", "AL009", cwd=tmp_path).stdout)
    res = s["runs"][0]["results"][0]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "m.onnx"
    assert res["properties"]["claimedSource"] == {"file": "app.py", "line": 3}
    # the user vouches for the export: existing files under the working directory only
    r = run_cli("check", "m.onnx", "n.onnx", "--format", "github", "--select", "AL009", "--trust-locations", cwd=tmp_path)
    assert "::warning file=app.py,line=3," in r.stdout and "file=/etc/passwd" not in r.stdout
