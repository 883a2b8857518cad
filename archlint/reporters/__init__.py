"""Reporters turn a :class:`~archlint.api.LintResult` into text for a stream.

Each module has ``emit(result, stream, *, verbose=False)``.
"""

from __future__ import annotations

import importlib
from typing import Any, TextIO

FORMATS = ("text", "json")


def emit(fmt: str, result: Any, stream: TextIO, **kw: Any) -> None:
    module = importlib.import_module(f"archlint.reporters.{fmt}_reporter")
    module.emit(result, stream, **kw)
