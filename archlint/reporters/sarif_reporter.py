"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF viewers.

One run; ``tool.driver.rules`` describes every rule that has a result. A
result's first location is the layer's source line when the frontend knows it
(then the model file is a related location), else the model file; the layer is
a logical location. Files that could not be read are tool execution
notifications, suppressions that matched nothing tool configuration
notifications.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from archlint.version import __version__
from archlint.api import LintResult
from archlint.findings import Finding, Severity
from archlint.reporters import ReportOptions, Reporter, annotation_source, relative_path
from archlint.reporters.escape import json_safe

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(path: str) -> dict[str, str]:
    """An ``artifactLocation``: relative to the working directory (base
    ``%SRCROOT%``) when the file is under it, else an absolute file URI."""
    rel = relative_path(path)
    if Path(rel).is_absolute():
        return {"uri": Path(rel).as_uri()}
    return {"uri": quote(rel), "uriBaseId": "%SRCROOT%"}


def _descriptor(code: str, finding: Finding | None = None) -> dict[str, Any]:
    from archlint.docs import render_rule, rule_url
    from archlint.rules import get_rule

    rule = get_rule(code)
    if rule is None:  # the internal "a rule crashed" code has no page
        return {
            "id": code,
            "name": finding.rule if finding else code,
            "shortDescription": {"text": "archlint internal error"},
            "defaultConfiguration": {"level": "error"},
        }
    what = rule.docs()["What it flags"]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(what.split())},
        **({"helpUri": rule_url(rule)} if rule_url(rule) else {}),
        "help": {"text": f"{rule.summary} Run `archlint explain {rule.code}` for the full page.", "markdown": render_rule(rule)},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "tags": ["architecture"] + (["opt-in"] if rule.opt_in else []),
            "references": [x.label for x in rule.references],
            **({"aliases": list(rule.aliases)} if rule.aliases else {}),
        },
    }


def _fingerprint(f: Finding) -> str:
    key = "\0".join((f.code, Path(f.path).as_posix(), f.layer or "", f.node or ""))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _result(f: Finding, index: int, fmt: str | None = None, trust_locations: bool = False) -> dict[str, Any]:
    model = {"physicalLocation": {"artifactLocation": artifact_uri(f.path)}}
    where = f"{f.layer} ({f.op_type})" if f.layer else f.path
    if f.layer:
        model["logicalLocations"] = [
            {"name": f.layer, "fullyQualifiedName": f"{f.path}::{f.layer}", "kind": "member"}
        ]
    result: dict[str, Any] = {
        "ruleId": f.code,
        "ruleIndex": index,
        "level": LEVEL[f.severity],
        "message": {"text": f"{where}: {f.message}. Fix: {f.fix}"},
        "locations": [model],
        "partialFingerprints": {"archlintFinding/v1": _fingerprint(f)},
        "properties": {
            "fix": f.fix,
            "layer": f.layer,
            "opType": f.op_type,
            "node": f.node,
            "modelPath": f.path,
            "data": {k: v for k, v in f.data.items() if k != "order"},
            "evidence": f.evidence,
        },
    }
    if f.source is not None:
        # where the model says the layer was defined: a claim, kept as a property
        result["properties"]["claimedSource"] = {"file": f.source.file, "line": f.source.line}
    source = annotation_source(f, fmt, trust_locations)
    if source is not None:
        src: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact_uri(source.file)}}
        if source.line:
            src["physicalLocation"]["region"] = {"startLine": source.line}
        if "logicalLocations" in model:
            src["logicalLocations"] = model["logicalLocations"]
        model["id"] = 1
        model["message"] = {"text": "the model file"}
        result["locations"] = [src]
        result["relatedLocations"] = [model]
    return result


def to_dict(result: LintResult, trust_locations: bool = False) -> dict[str, Any]:
    findings = result.findings
    fmt_of = {r.path: r.format for r in result.files}
    codes = sorted({f.code for f in findings})
    first = {f.code: f for f in reversed(findings)}
    index = {c: i for i, c in enumerate(codes)}
    config = result.config_source
    config_loc = [{"physicalLocation": {"artifactLocation": artifact_uri(config)}}] if config else []
    invocation = {
        "executionSuccessful": not result.errors,
        "toolExecutionNotifications": [
            {
                "level": "error",
                "message": {"text": f"{r.path}: {r.error}"},
                "locations": [{"physicalLocation": {"artifactLocation": artifact_uri(r.path)}}],
            }
            for r in result.errors
        ],
        "toolConfigurationNotifications": [
            {
                "level": "warning",
                "message": {"text": f"suppression {u} matched no finding"},
                "locations": config_loc,
            }
            for u in result.unused_suppressions
        ],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "archlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_descriptor(c, first[c]) for c in codes],
                    }
                },
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, index[f.code], fmt_of.get(f.path), trust_locations) for f in findings],
            }
        ],
    }


class SarifReporter(Reporter):
    """One SARIF 2.1.0 run (GitHub code scanning)."""

    name = "sarif"

    def emit(self, result: LintResult, stream: TextIO, options: ReportOptions) -> None:
        json.dump(json_safe(to_dict(result, options.trust_locations)), stream, indent=2, default=str)
        stream.write("\n")
