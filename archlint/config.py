"""Configuration: one typed object for what rules run and how findings fail.

Loaded from ``[tool.archlint]`` in a pyproject.toml (see :func:`load_config`)
or built from CLI options.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.errors import ConfigError, UsageError
from archlint.findings import Finding, Severity
from archlint.frontends import LoadOptions


@dataclass
class Config:
    select: list[str] | None = None  # codes or prefixes; None = every default rule
    ignore: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.WARNING
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)  # glob -> codes
    per_layer_ignores: dict[str, list[str]] = field(default_factory=dict)  # layer glob -> codes
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> options
    load: LoadOptions = field(default_factory=LoadOptions)
    source: str | None = None  # where the config came from

    def enabled_rules(self) -> list[type]:
        from archlint.rules import ALL_RULES

        for code in [*(self.select or []), *self.ignore]:
            _check_code(code)
        out = []
        for rule in ALL_RULES:
            codes = (rule.code, *rule.aliases)
            if self.select is None:
                on = not rule.opt_in
            else:
                on = any(_matches(c, s) for s in self.select for c in codes) or any(
                    rule.name == s for s in self.select
                )
                # a prefix like "AL" does not switch on opt-in rules; their full code does
                if rule.opt_in and not any(s.upper() in codes or s == rule.name for s in self.select):
                    on = False
            if any(_matches(c, i) for i in self.ignore for c in codes) or rule.name in self.ignore:
                on = False
            if on:
                out.append(rule)
        return out

    def is_suppressed(self, finding: Finding) -> str | None:
        """The config entry that silences a finding, or None."""
        for glob, codes in self.per_file_ignores.items():
            if _path_matches(finding.path, glob) and any(_matches(finding.code, c) for c in codes):
                return f"per-file-ignores[{glob!r}]"
        for glob, codes in self.per_layer_ignores.items():
            if finding.layer and fnmatch.fnmatchcase(finding.layer, glob) and any(
                _matches(finding.code, c) for c in codes
            ):
                return f"per-layer-ignores[{glob!r}]"
        return None


def _matches(code: str, pattern: str) -> bool:
    p = pattern.strip().upper()
    return p == "ALL" or code.upper().startswith(p)


def _path_matches(path: str, glob: str) -> bool:
    p = Path(path).as_posix()
    return fnmatch.fnmatch(p, glob) or fnmatch.fnmatch(Path(path).name, glob) or fnmatch.fnmatch(p, f"*/{glob}")


def _check_code(code: str) -> None:
    from archlint.rules import ALL_RULES

    c = code.strip().upper()
    if c == "ALL":
        return
    names = {r.name for r in ALL_RULES}
    if code in names:
        return
    codes = [x for r in ALL_RULES for x in (r.code, *r.aliases)]
    if not any(x.startswith(c) for x in codes):
        raise UsageError(f"unknown rule code {code!r} (see 'archlint rules')")


def parse_codes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def parse_severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


__all__ = ["Config", "ConfigError", "parse_codes", "parse_severity"]
