"""The rule contract: one class per file, documented, pure.

A rule's docstring is its user documentation and must hold the sections in
:data:`SECTIONS`, each as a Markdown ``## `` heading, in that order (``Evidence``
may be left out: the evidence is data, in ``archlint/evidence/CODE.toml``, and
the rule page renders it as a table); this is checked when the class is defined.
Its references are declared once, as :class:`Ref` records in ``references``
(the rule page's References section is written from them, never in the
docstring).  ``check(graph, ctx)`` yields findings and
never mutates the graph.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node

SECTIONS = ("What it flags", "Why it hurts", "Example", "Use instead", "Evidence")
_CODE = re.compile(r"^AL\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Ref:
    """One reference of a rule: a short ``label`` (SARIF, ``archlint rules``, the
    catalogue table) and the full ``citation`` (the rule page's References)."""

    label: str
    citation: str


@dataclass
class RuleContext:
    """What a rule may know beyond the graph: the model path and its options
    (the defaults the rule declares in ``options``, then the config's values)."""

    path: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        """An option's value; its default is the one declared in the rule's ``options``, never here."""
        try:
            return self.options[name]
        except KeyError:
            raise KeyError(f"option {name!r} is not declared in the rule's options") from None


def doc_sections(doc: str) -> dict[str, str]:
    """Split a rule docstring into ``{"summary": ..., section: text}``."""
    text = inspect.cleandoc(doc or "")
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.M)
    out = {"summary": parts[0].strip()}
    for title, body in zip(parts[1::2], parts[2::2], strict=False):
        out[title.strip()] = body.strip()
    return out


class Rule:
    """Base class. Subclasses set the class attributes and implement ``check``."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str] = ""
    #: what the rule rests on, each declared once (:class:`Ref`)
    references: ClassVar[tuple[Ref, ...]] = ()
    #: validation experiment id(s) whose results back this rule, if any
    evidence: ClassVar[tuple[str, ...]] = ()
    #: per-rule options and their defaults (configurable in [tool.archlint.rules.CODE])
    options: ClassVar[dict[str, Any]] = {}
    #: old codes kept as aliases when a rule is renamed
    aliases: ClassVar[tuple[str, ...]] = ()
    #: off unless selected explicitly
    opt_in: ClassVar[bool] = False
    #: what ``archlint fix`` does for a finding of this rule, or why it does nothing (on the rule's page)
    autofix: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _CODE.match(getattr(cls, "code", "")):
            raise TypeError(f"{cls.__name__}: code must look like AL001")
        if not _NAME.match(getattr(cls, "name", "")):
            raise TypeError(f"{cls.__name__}: name must be kebab-case")
        if not isinstance(getattr(cls, "severity", None), Severity):
            raise TypeError(f"{cls.__name__}: severity must be a Severity")
        sections = doc_sections(cls.__doc__ or "")
        titles = [t for t in sections if t != "summary"]
        # the evidence lives in archlint/evidence/CODE.toml; an Evidence section is optional
        if titles != list(SECTIONS) and titles != [t for t in SECTIONS if t != "Evidence"]:
            raise TypeError(
                f"{cls.__name__} ({cls.code}): docstring sections must be {list(SECTIONS)}, got {titles}"
            )
        if not all(isinstance(r, Ref) and r.label.strip() and r.citation.strip() for r in cls.references):
            raise TypeError(f"{cls.__name__}: references must be Ref(label, citation) records")
        if not sections["summary"]:
            raise TypeError(f"{cls.__name__}: docstring needs a one-line summary first")
        cls.summary = sections["summary"].splitlines()[0]

    @classmethod
    def docs(cls) -> dict[str, str]:
        return doc_sections(cls.__doc__ or "")

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    def fix(self, graph: Graph, finding: Finding) -> Any:
        """The :class:`archlint.fixes.edits.Rewrite` that removes ``finding`` (edits naming
        nodes of ``graph``, which is never mutated), or None when this finding has none."""
        return None

    @classmethod
    def has_fix(cls) -> bool:
        """Whether the rule declares a rewrite (overrides :meth:`fix`)."""
        return cls.fix is not Rule.fix

    def finding(
        self,
        node: Node | None,
        message: str,
        fix: str,
        ctx: RuleContext,
        *,
        severity: Severity | None = None,
        **data: Any,
    ) -> Finding:
        return Finding(
            code=self.code,
            rule=self.name,
            severity=severity or self.severity,
            message=message,
            fix=fix,
            path=ctx.path,
            layer=node.layer if node else None,
            op_type=node.op_type if node else None,
            node=node.name if node else None,
            source=node.source if node else None,
            data=data,
            order=node.index if node else -1,
        )
