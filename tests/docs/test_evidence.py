"""Evidence as data: every rule has an evidence file, no grade claims more than its sources, and
findings, reports and rule pages carry it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archlint import docs, evidence
from archlint.findings import Finding, Severity
from archlint.rules import ALL_RULES

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "validation" / "results"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_every_rule_has_valid_evidence(rule) -> None:
    ev = evidence.for_rule(rule.code)
    assert ev is not None, f"add archlint/evidence/{rule.code}.toml (template in archlint/evidence/README.md)"
    assert ev.grade in evidence.GRADES and 20 <= len(ev.summary) <= 240
    if ev.grade != "measured":
        assert "measured" not in ev.summary.lower(), "only a measured grade may say measured"
    if ev.grade == "published":
        assert all(p.source and p.model and p.dataset and p.effect for p in ev.published)


def test_no_evidence_file_without_a_rule() -> None:
    codes = {c for r in ALL_RULES for c in (r.code, *r.aliases)}
    assert set(evidence.codes()) <= codes


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_measured_grades_name_a_bundled_run_that_supports_the_rule(rule) -> None:
    ev = evidence.for_rule(rule.code)
    for m in ev.measured:
        path = RESULTS / f"{m.run}.json"
        assert path.is_file(), f"{rule.code}: measured run {m.run} is not bundled in validation/results/"
        res = json.loads(path.read_text())
        verdicts = [v["verdict"] for v in res["verdicts"].get(rule.code, {}).values()]
        assert verdicts, f"{m.run} has no verdict for {rule.code}"
        assert any(v in m.result for v in verdicts), "the entry must quote the run's verdict"
        if ev.grade == "measured":
            assert "supported" in verdicts and not res["synthetic"]


@pytest.mark.parametrize("text, problem", [
    ('schema = 1\nrule = "AL001"\ngrade = "strong"\nsummary = "x"', "grade must be one of"),
    ('schema = 1\nrule = "AL002"\ngrade = "convention"\nsummary = "x"', "rule must be 'AL001'"),
    ('schema = 1\nrule = "AL001"\ngrade = "published"\nsummary = "a line"', "needs a [[published]]"),
    ('schema = 1\nrule = "AL001"\ngrade = "measured"\nsummary = "a line"', "needs a [[measured]]"),
    ('schema = 1\nrule = "AL001"\ngrade = "convention"\nsummary = """two\nlines"""', "one non-empty line"),
    ('schema = 1\nrule = "AL001"\ngrade = "convention"\nsummary = "x"\n[[published]]\nsource = "s"', "missing"),
    ('schema = 1\nrule = "AL001"\ngrade = "convention"\nsummary = "x"\nstrength = 3', "unknown keys"),
    ('schema = 2\nrule = "AL001"\ngrade = "convention"\nsummary = "x"', "schema must be 1"),
    ('rule = "AL001" grade', "Expected newline"),
])
def test_malformed_files_are_refused(text: str, problem: str) -> None:
    with pytest.raises(evidence.EvidenceError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        evidence.parse(text, "AL001")


def test_findings_carry_grade_and_summary() -> None:
    f = Finding(code="AL001", rule="dropout-between-conv", severity=Severity.WARNING, message="m", fix="f")
    ev = evidence.for_rule("AL001")
    assert f.to_dict()["evidence"] == {"grade": ev.grade, "summary": ev.summary}
    internal = Finding(code="AL000", rule="internal-error", severity=Severity.ERROR, message="m", fix="f")
    assert internal.to_dict()["evidence"] is None


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_page_shows_a_short_evidence_table(rule) -> None:
    page = docs.render_rule(rule)
    section = page.split("## Evidence\n\n", 1)[1].split("\n## ", 1)[0]
    ev = evidence.for_rule(rule.code)
    assert section.startswith("| | |\n| --- | --- |\n") and f"| Grade | **{ev.grade}** |" in section
    rows = [ln for ln in section.splitlines() if ln.startswith("| ")]
    assert len(rows) == 2 + 2 + len(ev.measured) + len(ev.published) + len(ev.counter) + len(ev.not_applicable) \
        + bool(ev.notes)


def test_reading_evidence_imports_no_framework() -> None:
    code = ("import sys, archlint.evidence as e; [e.for_rule(c) for c in e.codes()]; "
            "from archlint.findings import Finding; "
            "assert not {'torch', 'numpy', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
