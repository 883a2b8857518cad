"""Reporters turn a :class:`~archlint.api.LintResult` into text for a stream.

Every format is one class implementing :class:`Reporter` (flake8's
``BaseFormatter`` idea): ``emit(result, stream, options)`` with a typed
:class:`~archlint.api.LintResult` and :class:`ReportOptions`, plus what the
format needs from a run (``draws_graph``: each file's graph as plain data) and
what it refuses (``refuse``: a usage error before anything is written). A
built-in format is one module here plus its line in :data:`BUILTIN`; a format
from another package is registered under the ``archlint.formats`` entry-point
group (``name = "package.module:Class"``).

Every string that can come from a model file or a repository (paths, layer
and op names, messages, notes, errors, config entries) is untrusted: a reporter
that writes text for a terminal or a CI log passes each one through
:func:`archlint.reporters.escape.safe_text` (control characters, ANSI/OSC
escapes, bidi controls, ``::`` workflow commands become visible escapes), as
the text and github reporters and the CLI's stderr lines do. Structured formats
(JSON, SARIF) keep exact strings; HTML escapes with :func:`html.escape`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

if TYPE_CHECKING:
    from archlint.api import LintResult
    from archlint.findings import Finding
    from archlint.graph import SourceLocation

#: ``--format`` name -> ``module:Class``, imported when chosen (text output never imports html's)
BUILTIN = {
    "text": "archlint.reporters.text_reporter:TextReporter",
    "json": "archlint.reporters.json_reporter:JsonReporter",
    "sarif": "archlint.reporters.sarif_reporter:SarifReporter",
    "github": "archlint.reporters.github_reporter:GithubReporter",
    "html": "archlint.reporters.html_reporter:HtmlReporter",
    "netron": "archlint.reporters.netron_reporter:NetronReporter",
    "onnx-annotated": "archlint.reporters.onnx_annotated_reporter:OnnxAnnotatedReporter",
    "model-explorer": "archlint.reporters.model_explorer_reporter:ModelExplorerReporter",
}
FORMATS = tuple(BUILTIN)
#: the entry-point group another package registers its formats in
ENTRY_POINT_GROUP = "archlint.formats"


@dataclass(frozen=True)
class ReportOptions:
    """How to write a report (``archlint check`` options)."""

    verbose: bool = False  # show clean files and suppressions
    color: bool | None = None  # None: colour on a terminal, unless NO_COLOR
    trust_locations: bool = False  # annotations may point at source files a model names (--trust-locations)
    time_budget: float | None = None  # seconds a drawing format may spend per model (the per-file --timeout)


class Reporter:
    """The protocol every format implements; subclass it and set :attr:`name`."""

    #: the ``--format`` value
    name: ClassVar[str] = ""
    #: the format draws each model: the run keeps each graph as plain data (``FileResult.view``)
    draws_graph: ClassVar[bool] = False
    #: the format reports exactly one model: more is a usage error, none writes nothing
    one_model: ClassVar[bool] = False
    #: the format writes bytes (a model file): ``emit`` gets a binary stream, and ``-o FILE`` is required
    binary: ClassVar[bool] = False

    def refuse(self, result: LintResult) -> str | None:
        """Why this format cannot report ``result`` (a usage error, before anything is written), or None."""
        if self.one_model and sum(not r.error for r in result.files) > 1:
            return f"--format {self.name} reports one model: give one model file"
        return None

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        raise NotImplementedError


def get_reporter(fmt: str) -> Reporter | None:
    """The reporter for a ``--format`` name (built in, or from an installed package), or None."""
    where = BUILTIN.get(fmt)
    if where is None:
        from importlib.metadata import entry_points

        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == fmt]
        if not found:
            return None
        cls = found[0].load()
    else:
        module, _, name = where.partition(":")
        cls = getattr(importlib.import_module(module), name)
    return cls()


def __getattr__(name: str) -> Any:
    if name == "GRAPH_FORMATS":  # formats that draw the model (imports every built-in reporter)
        return frozenset(f for f in FORMATS if get_reporter(f).draws_graph)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def relative_path(path: str) -> str:
    """``path`` relative to the working directory when it lies under it (as
    CI annotations and SARIF viewers want), else unchanged."""
    from pathlib import Path

    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return path
    return p.as_posix().removeprefix("./")


#: formats whose source locations come from code archlint ran (a factory spec), not from a file's metadata
_LIVE_FORMATS = frozenset({"torch"})


def annotation_source(finding: Finding, fmt: str | None, trust_locations: bool = False) -> SourceLocation | None:
    """The source location a CI annotation (github, SARIF) may point at, or None.

    A ``file:line`` read from a model file (an ONNX ``stack_trace``, a ``.pt2``
    node's metadata) is the model's *claim*: a hostile model could point an
    annotation at any file of the repository. It becomes the annotation's
    location only with ``--trust-locations`` and when it names an existing
    file under the working directory. Locations of a factory spec (code the
    user named and archlint ran) need only exist there."""
    from pathlib import Path

    src = finding.source
    if src is None or not (trust_locations or fmt in _LIVE_FORMATS):
        return None
    try:
        p = Path(src.file)
        if not p.is_file() or not p.resolve().is_relative_to(Path.cwd().resolve()):
            return None
    except (OSError, ValueError):
        return None
    return src


def emit(fmt: str, result: LintResult, stream: TextIO, **options: Any) -> None:
    """Write ``result`` in format ``fmt``; ``options`` are :class:`ReportOptions` fields."""
    reporter = get_reporter(fmt)
    if reporter is None:
        raise ValueError(f"unknown format {fmt!r}")
    reporter.emit(result, stream, ReportOptions(**options))
