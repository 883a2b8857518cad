"""Rich terminal output, grouped by file, with a summary line."""

from __future__ import annotations

import os
from collections import Counter
from typing import TextIO

from archlint.api import LintResult
from archlint.evidence import evidence_label
from archlint.reporters import ReportOptions, Reporter
from archlint.reporters.escape import safe_text

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class _Out:
    """Writes lines with optional styles: through rich on a terminal (or when
    colour is forced), as plain text otherwise, without importing rich (pipes,
    CI and pre-commit, where start-up time matters)."""

    def __init__(self, stream: TextIO, color: bool | None) -> None:
        self.stream = stream
        if color is None:
            isatty = getattr(stream, "isatty", None)
            color = bool(isatty and isatty()) or bool(os.environ.get("FORCE_COLOR"))
            color = color and not os.environ.get("NO_COLOR")
        self.rich = None
        if color:
            from rich.console import Console
            from rich.markup import escape

            self.rich = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
            self._escape = escape

    def style(self, style: str, text: str) -> str:
        text = safe_text(text)
        return f"[{style}]{self._escape(text)}[/]" if self.rich else text

    def text(self, text: str) -> str:
        text = safe_text(text)
        return self._escape(text) if self.rich else text

    def print(self, line: str) -> None:
        if self.rich:
            self.rich.print(line)
        else:
            self.stream.write(line + "\n")


class TextReporter(Reporter):
    """Grouped by file, one finding in three lines, a summary line."""

    name = "text"

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        _emit(result, stream, options.verbose, options.color)


#: one rule's findings on one model beyond this many are grouped: the first GROUP_SHOW shown
GROUP_ABOVE = 5
GROUP_SHOW = 3


def _emit(result: LintResult, stream: TextIO, verbose: bool, color: bool | None) -> None:
    o = _Out(stream, color)
    st, tx = o.style, o.text
    for r in result.files:
        if r.error:  # the CLI prints load errors on stderr, one line each
            continue
        notes = r.notes
        if not r.findings and not verbose and not notes:
            continue
        o.print(st("bold underline", r.title) + (" " + st("dim", f"({r.format}, {r.nodes} nodes)") if verbose else ""))
        for note in notes:
            o.print(f"  {st('dim', 'note:')} {tx(note)}")
        cov = r.coverage
        if cov:
            o.print(f"  {st('dim', 'coverage:')} {tx(_coverage_text(cov, 12 if verbose else 3))}")
            if verbose:
                kinds = ", ".join(f"{k} {n}" for k, n in cov["by_kind"].items())
                o.print(f"  {st('dim', 'kinds:')} {tx(kinds)}")
        if not r.findings:
            o.print("  " + st("green", "no findings"))
        shown: Counter[str] = Counter()
        total = Counter(f.code for f in r.findings if "more" not in f.data)  # the "N more" line is always shown
        for f in r.findings:
            shown[f.code] += "more" not in f.data
            if "more" not in f.data and not verbose and total[f.code] > GROUP_ABOVE and shown[f.code] > GROUP_SHOW:
                if shown[f.code] == total[f.code]:  # after the last one: what was left out
                    n = total[f.code] - GROUP_SHOW
                    o.print("  " + st("dim", f"... and {n} more {f.code} findings like these (--verbose shows all)"))
                continue
            op = f.op_type or "?"
            where = f"{tx(f.layer or '-')} {st('dim', f'({op})')}"
            loc = "  " + st("dim", str(f.source)) if f.source else ""
            sev = f.severity.label
            ev = f.evidence
            grade = "  " + st("dim", f"[evidence: {evidence_label(ev)}]") if ev else ""
            o.print(f"  {st(_STYLE[sev], f.code)} {sev:<7} {where}{loc}{grade}")
            o.print(f"      {tx(f.message)}")
            o.print(f"      {st('green', 'fix:')} {tx(f.fix)}")
        if verbose and r.suppressed:
            for f, why in r.suppressed:
                o.print("  " + st("dim", f"{f.code} at {f.layer or '-'} suppressed by {why}"))
    config = result.config_source
    for u in result.unused_suppressions:
        where = f"{config}: " if config else ""
        o.print(f"{st('yellow', 'warning:')} {tx(f'{where}suppression {u} matched no finding')}")
    errs = len(result.errors)
    style = "bold red" if errs else "bold" if result.findings else "bold green"
    o.print(st(style, summary_line(result) + coverage_summary(result)))


def summary_line(result: LintResult) -> str:
    """``3 findings (1 error, 2 warnings) in 2 files; 1 could not be read``."""
    findings = result.findings
    sev = Counter(f.severity.label for f in findings)
    parts = [f"{sev[k]} {k}{'s' if sev[k] != 1 else ''}" for k in ("error", "warning", "info") if sev[k]]
    n_files = len(result.files)
    errs = len(result.errors)
    summary = (
        f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
        + (f" ({', '.join(parts)})" if parts else "")
        + f" in {n_files} file{'s' if n_files != 1 else ''}"
    )
    if errs:
        summary += f"; {errs} could not be read"
    return summary


def coverage_summary(result: LintResult) -> str:
    """``; 98% of 84 nodes understood`` over every file read, or ``""``."""
    covs = [r.coverage for r in result.files if r.coverage and r.coverage.get("nodes")]
    if not covs:
        return ""
    nodes = sum(c["nodes"] for c in covs)
    understood = sum(c["understood"] for c in covs)
    return f"; {understood / nodes:.0%} of {nodes} nodes understood"


def _coverage_text(cov: dict, most: int) -> str:
    from archlint.view import coverage_text

    return coverage_text(cov, most)
