"""Every format implements one typed protocol (:class:`archlint.reporters.Reporter`), the CLI
picks a reporter by name (built in or from another package's entry point), and what a format
needs from a run is the format's own declaration."""

from __future__ import annotations

import io
from importlib.metadata import EntryPoint

import pytest
from typer.testing import CliRunner

from archlint import reporters
from archlint.api import FileResult, LintResult
from archlint.cli import app
from archlint.reporters import FORMATS, ReportOptions, Reporter, get_reporter


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_builtin_format_is_a_reporter_named_by_its_format(fmt: str) -> None:
    rep = get_reporter(fmt)
    assert isinstance(rep, Reporter) and type(rep) is not Reporter
    assert rep.name == fmt
    assert type(rep).emit is not Reporter.emit


def test_graph_formats_are_the_reporters_that_draw() -> None:
    assert reporters.GRAPH_FORMATS == {"html", "netron", "onnx-annotated", "model-explorer"}
    assert [f for f in FORMATS if get_reporter(f).one_model] == ["netron", "onnx-annotated", "model-explorer"]
    assert [f for f in FORMATS if get_reporter(f).binary] == ["onnx-annotated"]


def test_unknown_format_is_none_and_a_usage_error() -> None:
    assert get_reporter("yaml") is None
    r = CliRunner().invoke(app, ["check", "fixtures", "--format", "yaml"])
    assert r.exit_code == 2
    assert f"unknown --format 'yaml' (use {', '.join(FORMATS)})" in r.stderr
    assert FORMATS[:6] == ("text", "json", "sarif", "github", "html", "netron")


class CountReporter(Reporter):
    name = "count"

    def emit(self, result: LintResult, stream, options: ReportOptions) -> None:
        stream.write(f"{len(result.findings)} findings, verbose={options.verbose}\n")


def test_a_format_from_another_package(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(name="count", value=f"{__name__}:CountReporter", group=reporters.ENTRY_POINT_GROUP)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [ep] if group == ep.group else [])
    assert isinstance(get_reporter("count"), CountReporter)
    r = CliRunner().invoke(app, ["check", "fixtures/onnx/article_dropout03_before_act_dense.onnx", "-f", "count", "-j", "1"])
    assert r.exit_code == 1, r.stderr
    assert r.stdout.endswith(" findings, verbose=False\n") and not r.stdout.startswith("0 ")


def test_one_model_formats_refuse_several() -> None:
    two = LintResult(files=[FileResult(path="a.onnx"), FileResult(path="b.onnx"), FileResult(path="c", error="x")])
    assert get_reporter("netron").refuse(two) == "--format netron writes the attachment of one model: give one model file"
    assert get_reporter("json").refuse(two) is None
    one = LintResult(files=[FileResult(path="a.onnx"), FileResult(path="c", error="x")])
    assert get_reporter("netron").refuse(one) is None


def test_emit_by_name_takes_report_options() -> None:
    buf = io.StringIO()
    reporters.emit("text", LintResult(files=[FileResult(path="m.onnx", format="onnx", nodes=3)]), buf, verbose=True, color=False)
    assert buf.getvalue().startswith("m.onnx (onnx, 3 nodes)\n  no findings\n")
    with pytest.raises(TypeError):
        reporters.emit("text", LintResult(), buf, colour=False)  # a misspelt option is an error, not ignored
