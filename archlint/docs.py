"""Rule documentation as Markdown, from each rule's declaration (one source for
``archlint explain``, the pages in ``rules/``, the README's rule table and the
catalogue's table in ``docs/rules-catalogue.md``).

    python scripts/gen_docs.py            # (re)write every generated page and table
    python scripts/gen_docs.py --check    # exit 1 listing what is stale
    python -m archlint.docs --write DIR   # the rule pages alone, into DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archlint.rules.base import SECTIONS, Rule

#: where the rule pages are published (set ARCHLINT_DOCS_URL, e.g. your
#: repository's ``.../blob/main/rules/``); SARIF ``helpUri`` points there.
#: Unset, SARIF carries the page text itself and no link.
DOCS_URL = os.environ.get("ARCHLINT_DOCS_URL") or None


def rule_url(rule: type[Rule]) -> str | None:
    if not DOCS_URL:
        return None
    return f"{DOCS_URL.rstrip('/')}/{rule.code}.md"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def evidence_table(code: str) -> str:
    """The rule's evidence (``archlint/evidence/CODE.toml``) as a short Markdown table."""
    from archlint.evidence import VERDICT_WORDS, for_rule

    ev = for_rule(code)
    if ev is None:
        return "No evidence recorded (add `archlint/evidence/" + code + ".toml`)."
    rows = [("Grade", f"**{ev.grade}**")]
    if ev.verdict:
        rows.append(("Verdict", f"**{VERDICT_WORDS[ev.verdict]}** (the last measured entry below decides)"))
    rows.append(("Summary", ev.summary))
    rows += [("Measured", f"`{m.run}` ({m.experiment}, verdict **{VERDICT_WORDS[m.verdict]}**): {m.comparison}: "
              f"{m.result}") for m in ev.measured]
    rows += [("Published", f"{p.source}; {p.model}, {p.dataset}: {p.effect}") for p in ev.published]
    rows += [("Counter-evidence", f"{c.source}: {c.finding}") for c in ev.counter]
    rows += [("Does not apply", a) for a in ev.not_applicable]
    if ev.notes:
        rows.append(("Notes", ev.notes))
    return "\n".join(["| | |", "| --- | --- |", *(f"| {k} | {_cell(v)} |" for k, v in rows)])


def _fmt_default(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple, set, frozenset)):
        items = sorted(v, key=str) if isinstance(v, (set, frozenset)) else list(v)
        return "[" + ", ".join(_fmt_default(x) for x in items) + "]"
    return repr(v)


def render_rule(rule: type[Rule]) -> str:
    """The rule's page: summary, metadata, the docstring sections, options,
    bundled evidence and references."""
    docs = rule.docs()
    meta = [f"- Severity: {rule.severity.label}"]
    if rule.opt_in:
        meta.append(f"- Opt-in: runs only when selected explicitly (`--select {rule.code}`)")
    if rule.aliases:
        meta.append("- Aliases: " + ", ".join(f"`{a}`" for a in rule.aliases))
    if rule.evidence:
        meta.append("- Evidence id: " + ", ".join(f"`{e}`" for e in rule.evidence))
    lines = [f"# {rule.code} {rule.name}", "", docs["summary"], "", *meta, ""]
    for title in SECTIONS:
        body = docs.get(title, "")
        if title == "Evidence":
            lines += _autofix_section(rule)
            body = evidence_table(rule.code) + (f"\n\n{body}" if body else "")
        lines += [f"## {title}", "", body, ""]
    lines += _options_section(rule)
    refs = "\n".join(f"- {r.citation}" for r in rule.references) or "None."
    lines += ["## References", "", refs, ""]
    return "\n".join(lines).rstrip() + "\n"


def _autofix_section(rule: type[Rule]) -> list[str]:
    """What ``archlint fix`` does for the rule's findings, or why it does nothing."""
    text = rule.autofix or "none declared"
    if rule.has_fix():
        text = f"`archlint fix` {text}. `archlint check --diff` shows the change first."
    else:
        reason = text.removeprefix("none").lstrip(":").strip()
        text = "`archlint fix` leaves this finding alone" + (f": {reason}" if reason else "") + "."
    return ["## Automatic fix", "", text[0].upper() + text[1:] if not text.startswith("`") else text, ""]


def _options_section(rule: type[Rule]) -> list[str]:
    out = ["## Options", ""]
    if not rule.options:
        return [*out, "None.", ""]
    out += ["| option | default |", "| --- | --- |"]
    out += [f"| `{k}` | `{_fmt_default(v)}` |" for k, v in rule.options.items()]
    example = "\n".join(f"{k} = {_toml(v)}" for k, v in rule.options.items())
    return [*out, "", "Set them in `pyproject.toml`:", "", "```toml", f"[tool.archlint.rules.{rule.code}]", example, "```", ""]


def _toml(v: Any) -> str:
    if isinstance(v, (set, frozenset)):
        v = sorted(v, key=str)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def render_index(rules: Iterable[type[Rule]]) -> str:
    lines = [
        "# archlint rules",
        "",
        "Generated by `python scripts/gen_docs.py` from the rule files; do not edit.",
        "`archlint explain CODE` prints the same pages.",
        "",
        "| code | name | severity | summary |",
        "| --- | --- | --- | --- |",
    ]
    for r in rules:
        name = r.name + (" (opt-in)" if r.opt_in else "")
        summary = r.summary.replace("|", "\\|")
        lines.append(f"| [{r.code}]({r.code}.md) | {name} | {r.severity.label} | {summary} |")
    return "\n".join(lines) + "\n"


def _severity(rule: type[Rule]) -> str:
    return rule.severity.label + (" (opt-in)" if rule.opt_in else "")


def readme_table(rules: Iterable[type[Rule]]) -> str:
    """The README's rule table."""
    lines = ["| code | name | severity | summary |", "| --- | --- | --- | --- |"]
    lines += [f"| [{r.code}](rules/{r.code}.md) | {r.name} | {_severity(r)} | {_cell(r.summary)} |" for r in rules]
    return "\n".join(lines) + "\n"


def catalogue_table(rules: Iterable[type[Rule]]) -> str:
    """The table that opens ``docs/rules-catalogue.md``: options with their defaults and the short references."""
    lines = ["| Code | Name | Severity | Flags | Options (defaults) | Rests on |", "|---|---|---|---|---|---|"]
    for r in rules:
        opts = ", ".join(f"`{k}={_fmt_default(v)}`" for k, v in r.options.items()) or "-"
        lines.append(f"| {r.code} | `{r.name}` | {_severity(r)} | {_cell(r.summary)} | {opts} | {'; '.join(x.label for x in r.references)} |")
    return "\n".join(lines) + "\n"


#: the markers a generated table sits between in a hand-written file
TABLE_START = "<!-- rules table: generated by `python scripts/gen_docs.py` from the rule files; do not edit -->"
TABLE_END = "<!-- end of rules table -->"


def splice(text: str, table: str, where: str = "") -> str:
    """``text`` with the part between :data:`TABLE_START` and :data:`TABLE_END` replaced by ``table``."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no generated-table markers ({TABLE_START} ... {TABLE_END})")
    return text[: start + len(TABLE_START)] + "\n" + table + text[end:]


def generate_all(root: str | Path, rules: Iterable[type[Rule]] | None = None) -> dict[Path, str]:
    """``{path: text}`` of every generated file under the repository ``root``:
    the rule pages, ``rules/README.md``, and README.md and docs/rules-catalogue.md
    with their rule tables regenerated."""
    root = Path(root)
    if rules is None:
        from archlint.rules import ALL_RULES

        rules = ALL_RULES
    rules = list(rules)
    out = {root / "rules" / name: text for name, text in generate(rules).items()}
    for rel, table in (("README.md", readme_table(rules)), ("docs/rules-catalogue.md", catalogue_table(rules))):
        f = root / rel
        out[f] = splice(f.read_text(encoding="utf-8"), table, str(f))
    return out


def stale_files(root: str | Path, files: dict[Path, str] | None = None) -> list[str]:
    """Generated files that are missing or differ, and rule pages of no rule."""
    files = generate_all(root) if files is None else files
    out = [f"{f} ({'stale' if f.is_file() else 'missing'})" for f, text in files.items()
           if not f.is_file() or f.read_text(encoding="utf-8") != text]
    folder = Path(root) / "rules"
    out += [f"{f} (no such rule)" for f in sorted(folder.glob("AL*.md")) if f not in files]
    return out


def write_all(root: str | Path) -> list[Path]:
    """Write every generated file (and remove the pages of rules that are gone); the files changed."""
    files = generate_all(root)
    changed = []
    for f, text in files.items():
        if not f.is_file() or f.read_text(encoding="utf-8") != text:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
            changed.append(f)
    for f in sorted((Path(root) / "rules").glob("AL*.md")):
        if f not in files:
            f.unlink()
            changed.append(f)
    return changed


def generate(rules: Iterable[type[Rule]] | None = None) -> dict[str, str]:
    """``{file name: text}`` for every page of the ``rules/`` folder."""
    if rules is None:
        from archlint.rules import ALL_RULES

        rules = ALL_RULES
    rules = list(rules)
    pages = {f"{r.code}.md": render_rule(r) for r in rules}
    pages["README.md"] = render_index(rules)
    return pages


def stale_pages(folder: str | Path, pages: dict[str, str] | None = None) -> list[str]:
    """Pages that are missing, differ from the generated text, or belong to no rule."""
    folder = Path(folder)
    pages = generate() if pages is None else pages
    out = []
    for name, text in pages.items():
        f = folder / name
        if not f.is_file():
            out.append(f"{f} (missing)")
        elif f.read_text(encoding="utf-8") != text:
            out.append(f"{f} (stale)")
    if folder.is_dir():
        out += [f"{f} (no such rule)" for f in sorted(folder.glob("AL*.md")) if f.name not in pages]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m archlint.docs", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="DIR", help="write the pages into DIR")
    mode.add_argument("--check", metavar="DIR", nargs="?", const="rules", help="exit 1 if a page in DIR is stale")
    a = ap.parse_args(argv)
    pages = generate()
    if a.check is not None:
        stale = stale_pages(a.check, pages)
        for s in stale:
            print(s)
        if stale:
            print("run: python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    folder = Path(a.write)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    for f in sorted(folder.glob("AL*.md")):
        if f.name not in pages:
            f.unlink()
    print(f"wrote {len(pages)} pages to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
