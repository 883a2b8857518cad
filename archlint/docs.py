"""Rule documentation as Markdown, from each rule's docstring (one source for
``archlint explain`` and the pages in ``rules/``)."""

from __future__ import annotations

from archlint.rules.base import SECTIONS, Rule


def render_rule(rule: type[Rule]) -> str:
    docs = rule.docs()
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        f"{docs['summary']}",
        "",
        f"Severity: {rule.severity.label}" + ("; opt-in (select it explicitly)" if rule.opt_in else ""),
        "",
    ]
    for title in SECTIONS:
        lines += [f"## {title}", "", docs[title], ""]
    return "\n".join(lines).rstrip() + "\n"
