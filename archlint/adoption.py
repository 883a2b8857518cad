"""Adopting archlint in a repository that already has findings: a baseline of known
findings, inline ignores in Python source, and counts per rule.

- **Baseline** (``archlint check --write-baseline FILE``, then ``--baseline FILE``): the
  findings of today, written as JSON. A later run reports the findings the baseline holds
  as *known*: they are left out of the report and never fail the run; only new ones do.
  A finding matches a baseline entry with the same file, rule and layer; failing that
  (a layer renamed, a block moved), one with the same file, rule and message once the
  quoted names and the numbers in it are blanked out. Each entry matches one finding.
- **Inline ignores** (as ``# noqa`` is for ruff): ``# archlint: ignore[AL001]`` (codes or
  rule names, comma-separated; ``# archlint: ignore`` for every rule) on the source line a
  finding points to. Source lines are read only for models captured from Python code
  (torch factories, where the file is your own), or with ``--trust-locations``; only
  regular files, the first 2 MiB. A comment that matched nothing is reported, like an
  unused suppression.
- **Statistics** (``--statistics``): one line per rule with its count, most first.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from archlint.config import rule_matches
from archlint.errors import ArchlintError
from archlint.findings import Finding

BASELINE_SCHEMA = "archlint.baseline"
BASELINE_VERSION = 1
#: how much of a source file is read for ignore comments
MAX_SOURCE_BYTES = 2 << 20

_IGNORE = re.compile(r"#\s*archlint:\s*ignore(?:\[([^\]]*)\])?", re.I)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _fuzzy(message: str) -> str:
    """A message with its quoted names and numbers blanked: survives a layer renamed."""
    return _NUMBER.sub("#", _QUOTED.sub("'*'", message))


def _rel(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path


# -- baseline -----------------------------------------------------------------------------


def write_baseline(result: Any, path: str | Path) -> int:
    """Write every finding of ``result`` as the baseline; return how many."""
    entries = [
        {"path": _rel(f.path), "code": f.code, "layer": f.layer, "message": f.message}
        for r in result.files for f in r.findings
    ]
    doc = {"schema": BASELINE_SCHEMA, "version": BASELINE_VERSION, "findings": entries}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return len(entries)


def read_baseline(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a baseline file; :class:`ArchlintError` on a file that is not one."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ArchlintError(f"cannot read the baseline {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise ArchlintError(f"the baseline {path} is not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != BASELINE_SCHEMA or not isinstance(doc.get("findings"), list):
        raise ArchlintError(f"{path} is not an archlint baseline (write one with --write-baseline)")
    out = []
    for e in doc["findings"]:
        if isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("path", "code", "message")):
            out.append(e)
    return out


def apply_baseline(result: Any, entries: list[dict[str, Any]]) -> tuple[int, int]:
    """Move the findings the baseline knows out of the report (into ``suppressed``, as
    ``baseline``); return (known findings, baseline entries that matched nothing)."""
    exact: dict[tuple[str, str, str | None], list[int]] = {}
    fuzzy: dict[tuple[str, str, str], list[int]] = {}
    for i, e in enumerate(entries):
        exact.setdefault((e["path"], e["code"], e.get("layer")), []).append(i)
        fuzzy.setdefault((e["path"], e["code"], _fuzzy(e["message"])), []).append(i)
    used: set[int] = set()

    def take(pool: list[int] | None) -> bool:
        for i in pool or ():
            if i not in used:
                used.add(i)
                return True
        return False

    known = 0
    for r in result.files:
        kept: list[Finding] = []
        pending: list[Finding] = []
        for f in r.findings:  # exact matches first, so a renamed twin does not steal an entry
            if take(exact.get((_rel(f.path), f.code, f.layer))):
                r.suppressed.append((f, "baseline"))
                known += 1
            else:
                pending.append(f)
        for f in pending:
            if take(fuzzy.get((_rel(f.path), f.code, _fuzzy(f.message)))):
                r.suppressed.append((f, "baseline"))
                known += 1
            else:
                kept.append(f)
        r.findings = kept
    return known, len(entries) - len(used)


# -- inline ignores -----------------------------------------------------------------------


def _read_lines(path: str, cache: dict[str, list[str] | None]) -> list[str] | None:
    if path in cache:
        return cache[path]
    lines = None
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as fh:
                lines = fh.read(MAX_SOURCE_BYTES).decode("utf-8", "replace").splitlines()
    except OSError:
        lines = None
    cache[path] = lines
    return lines


def _codes(spec: str | None) -> list[str]:
    return ["ALL"] if spec is None else [c.strip() for c in spec.split(",") if c.strip()]


def apply_inline_ignores(result: Any, trust_locations: bool = False) -> list[str]:
    """Drop the findings whose source line carries ``# archlint: ignore[...]`` naming
    them; return the unused ignore comments (``file:line: ignore[AL001]``)."""
    cache: dict[str, list[str] | None] = {}
    used: set[tuple[str, int, str]] = set()
    files: set[str] = set()
    for r in result.files:
        if r.format != "torch" and not trust_locations:
            continue
        kept = []
        for f in r.findings:
            src = f.source
            lines = _read_lines(src.file, cache) if src and src.line else None
            if not lines or not src or src.line is None or src.line > len(lines):
                kept.append(f)
                continue
            files.add(src.file)
            m = _IGNORE.search(lines[src.line - 1])
            hit = None
            if m:
                hit = next((c for c in _codes(m.group(1)) if rule_matches(c, f.code, f.rule)), None)
            if hit is None:
                kept.append(f)
                continue
            used.add((src.file, src.line, hit))
            r.suppressed.append((f, f"{src.file}:{src.line}: archlint: ignore"))
        r.findings = kept
        for f, _ in r.suppressed:  # findings suppressed otherwise still name the files to check
            if f.source and f.source.line:
                files.add(f.source.file)
    unused = []
    for path in sorted(files):
        for i, line in enumerate(_read_lines(path, cache) or (), start=1):
            for m in _IGNORE.finditer(line):
                for c in _codes(m.group(1)):
                    if (path, i, c) not in used:
                        unused.append(f"{path}:{i}: ignore[{c}]" if c != "ALL" else f"{path}:{i}: ignore")
    return unused


# -- statistics ---------------------------------------------------------------------------


def statistics(result: Any) -> list[tuple[int, str, str, str]]:
    """(count, code, rule name, severity) per rule, most first (ruff's ``--statistics``)."""
    count = Counter((f.code, f.rule, f.severity.label) for f in result.findings)
    return sorted(((n, c, r, s) for (c, r, s), n in count.items()), key=lambda t: (-t[0], t[1]))
