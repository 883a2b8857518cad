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

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MissingExtraError(LoadError):
    """A format that needs an optional extra that is not installed."""

    def __init__(self, path: str | Path, what: str, extra: str) -> None:
        super().__init__(
            path, f"reading {what} needs the optional '{extra}' extra: pip install 'archlint[{extra}]'"
        )
