"""Rich terminal output, grouped by file, with a summary line."""

from __future__ import annotations

from collections import Counter
from typing import Any, TextIO

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def emit(result: Any, stream: TextIO, *, verbose: bool = False, color: bool | None = None, **_: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    con = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=color, no_color=color is False)
    for r in result.files:
        if r.error:  # the CLI prints load errors on stderr, one line each
            continue
        notes = getattr(r, "notes", [])
        if not r.findings and not verbose and not notes:
            continue
        con.print(f"[bold underline]{escape(r.path)}[/]" + (f" [dim]({r.format}, {r.nodes} nodes)[/]" if verbose else ""))
        for note in notes:
            con.print(f"  [dim]note:[/] {escape(note)}")
        if not r.findings:
            con.print("  [green]no findings[/]")
        for f in r.findings:
            where = f"{escape(f.layer or '-')} [dim]({escape(f.op_type or '?')})[/]"
            loc = f"  [dim]{escape(str(f.source))}[/]" if f.source else ""
            sev = f.severity.label
            con.print(f"  [{_STYLE[sev]}]{f.code}[/] {sev:<7} {where}{loc}")
            con.print(f"      {escape(f.message)}")
            con.print(f"      [green]fix:[/] {escape(f.fix)}")
        if verbose and r.suppressed:
            for f, why in r.suppressed:
                con.print(f"  [dim]{f.code} at {escape(f.layer or '-')} suppressed by {escape(why)}[/]")
    for u in result.unused_suppressions:
        con.print(f"[yellow]warning:[/] suppression {escape(u)} matched no finding")
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
    con.print(("[bold red]" if errs else "[bold]" if findings else "[bold green]") + summary + "[/]")
