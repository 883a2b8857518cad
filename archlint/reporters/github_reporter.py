"""GitHub Actions workflow commands: one annotation per finding.

``::warning file=m.onnx,title=AL001 dropout-between-conv::message``. The
annotation points at the layer's source line when the frontend knows it, else
at the model file. Untrusted strings (paths, layer names, messages, errors)
first go through :func:`archlint.reporters.escape.safe_text` (control
characters, ANSI/OSC, bidi controls, a leading ``::``), then data is escaped
as GitHub's toolkit does (``%``, CR, LF; in properties also ``:`` and ``,``).
"""

from __future__ import annotations

from typing import Any, TextIO

from archlint.api import LintResult
from archlint.findings import Finding, Severity
from archlint.reporters import ReportOptions, Reporter, annotation_source, relative_path
from archlint.reporters.escape import safe_text
from archlint.reporters.text_reporter import summary_line

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: Any) -> str:
    """One workflow command line; properties that are None are left out."""
    if props.get("file"):
        props["file"] = relative_path(props["file"])
    ps = ",".join(f"{k}={escape_property(safe_text(v))}" for k, v in props.items() if v is not None)
    return f"::{name}{' ' + ps if ps else ''}::{escape_data(message)}"


def _finding(f: Finding, fmt: str | None = None, trust_locations: bool = False) -> str:
    s = safe_text
    where = f"{s(f.layer)} ({s(f.op_type)})" if f.layer else "model"
    src = annotation_source(f, fmt, trust_locations)
    claim = ""
    if src is not None:
        file, line = src.file, src.line
        where = f"{s(f.path)}: {where}"
    else:
        file, line = f.path, None
        if f.source is not None:  # the model's claim, shown, never an annotation on that file
            claim = f" (the model names the source {s(f.source)})"
    return command(
        COMMAND[f.severity], f"{where}{claim}: {s(f.message)}\nfix: {s(f.fix)}", file=file, line=line,
        title=f"{f.code} {f.rule}",
    )


class GithubReporter(Reporter):
    """GitHub Actions workflow commands: one annotation per finding."""

    name = "github"

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        _emit(result, stream, options.trust_locations)


def _emit(result: LintResult, stream: TextIO, trust_locations: bool) -> None:
    for r in result.files:
        if r.error:
            stream.write(command("error", safe_text(r.error), file=r.path, title="archlint: cannot read model") + "\n")
        for f in r.findings:
            stream.write(_finding(f, r.format, trust_locations) + "\n")
    config = result.config_source
    for u in result.unused_suppressions:
        stream.write(
            command("warning", f"suppression {safe_text(u)} matched no finding", file=config, title="archlint unused suppression")
            + "\n"
        )
    stream.write(summary_line(result) + "\n")
