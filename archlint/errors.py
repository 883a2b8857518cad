"""The errors archlint reports as one clear line (the CLI prints them, exit 2)."""

from __future__ import annotations

from pathlib import Path


class ArchlintError(Exception):
    """Base of every error the CLI turns into one line and exit code 2."""


class UsageError(ArchlintError):
    """Bad command-line input: unknown codes, bad options, missing paths."""


class ConfigError(ArchlintError):
    """A bad ``[tool.archlint]`` table or config file."""


class LoadError(ArchlintError):
    """A model file that cannot be read: names the file and the problem."""

    def __init__(self, path: str | Path, problem: str, details: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.details = details  # the backends' own errors, printed under --verbose only
        super().__init__(f"{self.path}: {problem}")


class MissingExtraError(LoadError):
    """A format that needs an optional extra that is not installed."""

    def __init__(self, path: str | Path, what: str, extra: str) -> None:
        super().__init__(
            path, f"reading {what} needs the optional '{extra}' extra: pip install 'archlint[{extra}]'"
        )


def plain_reason(exc: BaseException) -> str:
    """What a malformed file did to the reader, as plain words, not a raw exception text
    (``unhashable type: 'list'``, ``data_location``, ``int too large to convert``)."""
    if isinstance(exc, KeyError):
        key = str(exc.args[0]) if exc.args else "?"
        return f"a required entry {key[:80]!r} is missing"
    if isinstance(exc, OverflowError):
        return "a number in it is too large"
    if isinstance(exc, (RecursionError,)):
        return "it is nested too deeply"
    if isinstance(exc, MemoryError):
        return "it asks for more memory than there is"
    if isinstance(exc, IndexError):
        return "a list in it is shorter than the model says"
    if isinstance(exc, AttributeError):
        return "an entry lacks a field it needs, or holds the wrong kind of value"
    if isinstance(exc, TypeError):
        return "a value in it has the wrong type (a list or object where a name or number belongs)"
    if isinstance(exc, (ValueError, ArithmeticError)):
        return "a value in it is malformed or out of range"
    return "it is malformed"


class ExecutionError(ArchlintError):
    """A graph the executor cannot run: names the node and its op."""

    def __init__(self, node: str, op: str, problem: str) -> None:
        self.node = node
        self.op = op
        self.problem = problem
        super().__init__(f"cannot execute node {node!r} (op {op}): {problem}")
