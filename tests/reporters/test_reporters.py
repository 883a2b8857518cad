"""Every reporter, snapshot-tested against one shared list of findings, plus
the properties each format promises (SARIF schema, GitHub escaping).

Regenerate the snapshots after an intended change with
``ARCHLINT_UPDATE_SNAPSHOTS=1 python -m pytest tests/reporters``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from archlint.api import FileResult, LintResult
from archlint.findings import Finding, Severity
from archlint.graph import SourceLocation
from archlint.reporters import FORMATS, GRAPH_FORMATS, emit
from archlint.reporters.github_reporter import escape_data, escape_property

ROOT = Path(__file__).resolve().parents[2]
SNAP = Path(__file__).parent / "snapshots"
SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"
UPDATE = os.environ.get("ARCHLINT_UPDATE_SNAPSHOTS") == "1"
SUFFIX = {"text": "txt", "json": "json", "sarif": "sarif.json", "github": "txt"}
# html and netron draw the graph: tests/reporters/test_html.py and test_netron.py
LIST_FORMATS = tuple(f for f in FORMATS if f not in GRAPH_FORMATS)

DROPOUT = Finding(
    code="AL001", rule="dropout-between-conv", severity=Severity.WARNING,
    message="dropout (rate 0.3) between convolutions 'conv2d_1' and 'conv2d_2'",
    fix="use batch normalization between convolution and activation",
    path="models/a,b.onnx", layer="dropout_1", op_type="Dropout", node="dropout_1",
    data={"rate": 0.3, "upstream": ["conv2d_1"]},
)
HEAD = Finding(  # has a source location, and characters GitHub commands must escape
    code="AL003", rule="dense-head", severity=Severity.ERROR,
    message="flatten of a 8x8 map: 100% of parameters, in the head\nsecond line",
    fix="global average pooling, then one Dense",
    path="models/net.pt2", layer="head.flatten", op_type="Flatten", node="flatten",
    source=SourceLocation("src/net.py", 42), data={"params": 123456},
)
ADVICE = Finding(
    code="AL002", rule="bn-after-activation", severity=Severity.INFO,
    message="batch norm after the activation", fix="move it before the activation",
    path="models/net.pt2", layer="bn1", op_type="BatchNormalization", node="bn1",
)
QUIET = Finding(
    code="AL002", rule="bn-after-activation", severity=Severity.INFO,
    message="batch norm after the activation", fix="move it before the activation",
    path="models/a,b.onnx", layer="bn_head", op_type="BatchNormalization", node="bn_head",
)
UNUSED = "per-layer-ignores['stem*'] AL001"


def shared_result() -> LintResult:
    return LintResult(
        files=[
            FileResult(path="models/a,b.onnx", findings=[DROPOUT], suppressed=[(QUIET, "per-layer-ignores['bn_*']")],
                       format="onnx", nodes=12),
            FileResult(path="models/broken.onnx", error="not a valid ONNX model (truncated file)"),
            FileResult(path="models/net.pt2", findings=[ADVICE, HEAD], format="torch", nodes=30,
                       coverage={"nodes": 28, "understood": 25, "share": 0.8929, "unknown": {"pow": 2, "erf": 1},
                                 "by_kind": {"dense": 10, "activation": 8, "add": 7, "unknown": 3}}),
        ],
        unused_suppressions=[UNUSED],
        config_source="pyproject.toml",
    )


def render(fmt: str, monkeypatch: pytest.MonkeyPatch, **kw) -> str:
    import archlint.reporters.json_reporter as jr
    import archlint.reporters.sarif_reporter as sr

    monkeypatch.setattr(jr, "__version__", "0.0.0-test")
    monkeypatch.setattr(sr, "__version__", "0.0.0-test")
    buf = io.StringIO()
    emit(fmt, shared_result(), buf, color=False, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,verbose", [(f, False) for f in LIST_FORMATS] + [("text", True)])
def test_snapshot(fmt: str, verbose: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    out = render(fmt, monkeypatch, verbose=verbose)
    snap = SNAP / f"{fmt}{'_verbose' if verbose else ''}.{SUFFIX[fmt]}"
    if UPDATE or not snap.exists():
        if not UPDATE:
            pytest.fail(f"no snapshot {snap}; run with ARCHLINT_UPDATE_SNAPSHOTS=1 to write it")
        snap.write_text(out, encoding="utf-8")
    assert out == snap.read_text(encoding="utf-8"), f"{snap.name} differs; regenerate if intended"


@pytest.mark.parametrize("fmt", [*LIST_FORMATS, "html"])
def test_every_reporter_shows_unused_suppressions(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = render(fmt, monkeypatch)
    assert "stem*" in out and "AL001" in out
    assert "matched no finding" in out or json.loads(out)["unused_suppressions"] == [UNUSED]


def test_json_keeps_schema_version_1(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(render("json", monkeypatch))
    assert doc["schema"] == "archlint.report" and doc["version"] == 1
    assert doc["summary"]["by_severity"] == {"error": 1, "warning": 1, "info": 1}
    assert doc["files"][1]["error"].startswith("not a valid ONNX")
    assert doc["findings"][2]["source"] == {"file": "src/net.py", "line": 42}
    assert doc["config"] == "pyproject.toml"


def _validate_sarif(doc: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(doc)


def test_sarif_is_valid_and_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(render("sarif", monkeypatch))
    _validate_sarif(doc)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["AL001", "AL002", "AL003"]
    assert rules[0]["name"] == "dropout-between-conv"
    assert "helpUri" not in rules[0]  # no published docs address unless ARCHLINT_DOCS_URL is set
    assert rules[0]["help"]["markdown"].startswith("# AL001 dropout-between-conv")
    assert rules[0]["defaultConfiguration"]["level"] == "warning"
    assert rules[1]["defaultConfiguration"]["level"] == "note"
    assert rules[0]["shortDescription"]["text"] and rules[0]["fullDescription"]["text"]
    res = {r["ruleId"]: r for r in run["results"]}
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    assert [r["level"] for r in run["results"]] == ["warning", "note", "error"]
    # no source: the model file is the location, the layer a logical location
    loc = res["AL001"]["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "models/a%2Cb.onnx"
    assert loc["logicalLocations"][0]["name"] == "dropout_1"
    assert "Fix: use batch normalization" in res["AL001"]["message"]["text"]
    assert res["AL001"]["properties"]["fix"].startswith("use batch normalization")
    # a source read from the model is its claim: the model file is the location, the claim a property
    loc = res["AL003"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "models/net.pt2" and "relatedLocations" not in res["AL003"]
    assert res["AL003"]["properties"]["claimedSource"] == {"file": "src/net.py", "line": 42}
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert "models/broken.onnx" in inv["toolExecutionNotifications"][0]["message"]["text"]
    assert UNUSED in inv["toolConfigurationNotifications"][0]["message"]["text"]


def test_sarif_schema_rejects_a_broken_log(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(render("sarif", monkeypatch))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        _validate_sarif(doc)


def test_sarif_internal_error_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    crash = Finding(code="AL000", rule="internal-error", severity=Severity.ERROR,
                    message="rule AL001 (dropout-between-conv) failed: KeyError: 'x'", fix="please report this",
                    path="/elsewhere/m.onnx")
    buf = io.StringIO()
    emit("sarif", LintResult(files=[FileResult(path="/elsewhere/m.onnx", findings=[crash])]), buf)
    doc = json.loads(buf.getvalue())
    _validate_sarif(doc)
    run = doc["runs"][0]
    assert run["tool"]["driver"]["rules"] == [{"id": "AL000", "name": "internal-error",
                                               "shortDescription": {"text": "archlint internal error"},
                                               "defaultConfiguration": {"level": "error"}}]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///elsewhere/m.onnx"}
    assert run["invocations"][0]["executionSuccessful"] is True


def test_github_escaping(monkeypatch: pytest.MonkeyPatch) -> None:
    assert escape_data("100%\r\nx: a, b") == "100%25%0D%0Ax: a, b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    lines = render("github", monkeypatch).splitlines()
    assert lines[0].startswith("::warning file=models/a%2Cb.onnx,title=AL001 dropout-between-conv::dropout_1 (Dropout): ")
    assert lines[1] == "::error file=models/broken.onnx,title=archlint%3A cannot read model::not a valid ONNX model (truncated file)"
    head = next(ln for ln in lines if "AL003" in ln)
    assert head.startswith(
        "::error file=models/net.pt2,title=AL003 dense-head::head.flatten (Flatten) (the model names the source src/net.py:42): "
    )
    assert "100%25 of parameters" in head and "\\nsecond line" in head and "\n" not in head  # a newline in a message is shown, not obeyed
    assert any(ln.startswith("::notice file=models/net.pt2,title=AL002 bn-after-activation::") for ln in lines)


# ---- the CLI end to end on a real fixture ----

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_cli_sarif_on_a_real_model_is_valid() -> None:
    r = _cli("check", "fixtures/onnx/article_dropout03_before_act_dense.onnx", "--format", "sarif", "--select", "AL001,AL003")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    _validate_sarif(doc)
    results = doc["runs"][0]["results"]
    assert len(results) == 10 and {x["ruleId"] for x in results} == {"AL001", "AL003"}
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "fixtures/onnx/article_dropout03_before_act_dense.onnx"
    )


def test_cli_sarif_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    r = _cli("check", "fixtures/onnx/clean_cnn.onnx", "--format", "sarif", "--output", str(out))
    assert r.returncode == 0 and r.stdout == ""
    doc = json.loads(out.read_text())
    _validate_sarif(doc)
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_cli_github_format() -> None:
    r = _cli("check", "fixtures/onnx/article_dropout03_before_act_dense.onnx", "--format", "github", "--select", "AL001,AL003")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert sum(ln.startswith("::warning file=fixtures/onnx/article_dropout03_before_act_dense.onnx,") for ln in lines) == 10
    assert lines[-1] == "10 findings (10 warnings) in 1 file"
    assert _cli("check", "fixtures/onnx/clean_cnn.onnx", "--format", "github").returncode == 0


def test_sarif_help_uri_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import archlint.docs

    monkeypatch.setattr(archlint.docs, "DOCS_URL", "https://example.org/archlint/rules/")
    doc = json.loads(render("sarif", monkeypatch))
    _validate_sarif(doc)
    assert doc["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] == "https://example.org/archlint/rules/AL001.md"


def test_trusted_locations_annotate_existing_source_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--trust-locations: a source file that exists under the working directory gets the
    annotation (SARIF location, github file=); one that does not stays the model's claim."""
    monkeypatch.chdir(tmp_path)
    doc = json.loads(render("sarif", monkeypatch, trust_locations=True))
    res = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    assert res["AL003"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/net.pt2"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "net.py").write_text("# the model's source\n")
    doc = json.loads(render("sarif", monkeypatch, trust_locations=True))
    res = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    loc = res["AL003"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "src/net.py" and loc["region"]["startLine"] == 42
    assert res["AL003"]["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/net.pt2"
    head = next(ln for ln in render("github", monkeypatch, trust_locations=True).splitlines() if "AL003" in ln)
    assert head.startswith("::error file=src/net.py,line=42,title=AL003 dense-head::models/net.pt2: head.flatten (Flatten): ")
    # without the flag, an existing file named by a model file is still not annotated; a
    # factory spec's (format "torch": code archlint ran) is
    from archlint.reporters import annotation_source

    assert annotation_source(HEAD, "pt2") is None and annotation_source(HEAD, "onnx") is None
    assert annotation_source(HEAD, "torch") == HEAD.source
    assert annotation_source(HEAD, "pt2", trust_locations=True) == HEAD.source
    outside = Finding(**{**HEAD.__dict__, "source": SourceLocation("/etc/passwd", 1)})
    assert annotation_source(outside, "pt2", trust_locations=True) is None  # not under the working directory
