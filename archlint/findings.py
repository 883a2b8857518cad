"""Findings: what a rule reports, framework-independent and serialisable."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from archlint.graph import SourceLocation


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use info, warning or error)") from None


@dataclass(frozen=True)
class Finding:
    """One problem at one layer. ``message`` states the problem, ``fix`` the remedy."""

    code: str
    rule: str
    severity: Severity
    message: str
    fix: str
    path: str = ""
    layer: str | None = None
    op_type: str | None = None
    node: str | None = None
    source: SourceLocation | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    order: int = field(default=0, compare=False)  # the node's position, for stable output

    def sort_key(self) -> tuple:
        return (self.path, self.order, self.code, self.layer or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "fix": self.fix,
            "path": self.path,
            "layer": self.layer,
            "op_type": self.op_type,
            "node": self.node,
            "source": (
                {"file": self.source.file, "line": self.source.line} if self.source else None
            ),
            "data": dict(self.data),
            "evidence": self.evidence,
        }

    @property
    def evidence(self) -> dict[str, str] | None:
        """``{grade, verdict, summary}`` of the rule's evidence (``archlint/evidence/CODE.toml``)."""
        from archlint.evidence import finding_evidence

        return finding_evidence(self.code)
