"""JSON output, schema ``archlint.report`` version 1 (docs/json-schema.md)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, TextIO

from archlint.version import __version__
from archlint.api import LintResult
from archlint.reporters import ReportOptions, Reporter
from archlint.reporters.escape import json_safe

SCHEMA = "archlint.report"
SCHEMA_VERSION = 1


def to_dict(result: LintResult) -> dict[str, Any]:
    findings = result.findings
    sev = Counter(f.severity.label for f in findings)
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "tool": {"name": "archlint", "version": __version__},
        "files": [
            {
                "path": r.path,
                "arguments": list(r.args),
                "format": r.format,
                "nodes": r.nodes,
                "error": r.error,
                "findings": len(r.findings),
                "suppressed": len(r.suppressed),
                "notes": list(r.notes),
                "coverage": r.coverage,
            }
            for r in result.files
        ],
        "findings": [f.to_dict() for f in findings],
        "unused_suppressions": list(result.unused_suppressions),
        "config": result.config_source,
        "summary": {
            "files": len(result.files),
            "errors": len(result.errors),
            "findings": len(findings),
            "by_severity": {k: sev.get(k, 0) for k in ("error", "warning", "info")},
            "by_code": dict(sorted(Counter(f.code for f in findings).items())),
        },
    }


class JsonReporter(Reporter):
    """The whole run as one JSON document (docs/json-schema.md)."""

    name = "json"

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        json.dump(json_safe(to_dict(result)), stream, indent=2)
        stream.write("\n")

