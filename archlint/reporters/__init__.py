"""Reporters turn a :class:`~archlint.api.LintResult` into text for a stream.

Each module has ``emit(result, stream, *, verbose=False)``.

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
from typing import Any, TextIO

FORMATS = ("text", "json", "sarif", "github", "html", "netron")
#: formats that draw the model: the run keeps each graph (``FileResult.view``)
GRAPH_FORMATS = frozenset({"html", "netron"})


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


def annotation_source(finding: Any, fmt: str | None, trust_locations: bool = False) -> Any:
    """The source location a CI annotation (github, SARIF) may point at, or None.

    A ``file:line`` read from a model file (an ONNX ``stack_trace``, a ``.pt2``
    node's metadata) is the model's *claim*: a hostile model could point an
    annotation at any file of the repository. It becomes the annotation's
    location only with ``--trust-locations`` and when it names an existing
    file under the working directory. Locations of a factory spec (code the
    user named and archlint ran) need only exist there."""
    from pathlib import Path

    src = getattr(finding, "source", None)
    if src is None or not (trust_locations or fmt in _LIVE_FORMATS):
        return None
    try:
        p = Path(src.file)
        if not p.is_file() or not p.resolve().is_relative_to(Path.cwd().resolve()):
            return None
    except (OSError, ValueError):
        return None
    return src


def emit(fmt: str, result: Any, stream: TextIO, **kw: Any) -> None:
    module = importlib.import_module(f"archlint.reporters.{fmt}_reporter")
    module.emit(result, stream, **kw)
