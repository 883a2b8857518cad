"""Evidence as data: every rule has an evidence file, no grade claims more than its sources, and
findings, reports and rule pages carry it."""

from __future__ import annotations

import json
import math
import re
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


#: the run's verdict -> the evidence file's (validate and the reference runs say "inconclusive")
RUN_VERDICT = {"supported": "supported", "inconclusive": "null", "contradicted": "contradicted"}
#: how a measured grade's summary must name its verdict, right after the scale
SUMMARY_VERDICT = {"supported": r"supported", "null": r"(no effect detectable|null result)",
                   "contradicted": r"contradicted"}


def _seeds(res: dict, code: str, key: str, verdict: dict) -> int:
    """Paired seeds behind one verdict: a reference run states them; a validate run's comparisons do."""
    if "n" in verdict:
        return verdict["n"]
    return min(c["n"] for c in res["comparisons"] if c["rule"] == code and c["protocol"] == key
               and c.get("role") == "primary")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_measured_entries_quote_a_bundled_run_with_its_seeds_power_and_verdict(rule) -> None:
    ev = evidence.for_rule(rule.code)
    for m in ev.measured:
        path = RESULTS / f"{m.run}.json"
        assert path.is_file(), f"{rule.code}: measured run {m.run} is not bundled in validation/results/"
        res = json.loads(path.read_text())
        assert not res["synthetic"]
        v = res["verdicts"].get(rule.code, {}).get(m.experiment)
        assert v, f"{m.run} has no verdict for {rule.code} in {m.experiment!r}"
        assert m.verdict == RUN_VERDICT[v["verdict"]], f"{rule.code}: entry says {m.verdict}, the run {v['verdict']}"
        assert f"verdict {v['verdict']}" in m.result, "the entry must quote the run's verdict"
        assert _seeds(res, rule.code, m.experiment, v) >= 5, f"{rule.code}: {m.run} has fewer than 5 paired seeds"
        assert math.isfinite(v["detectable"]) and f"{v['detectable']:.3f}" in m.result, "the entry must state the power"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_a_measured_rule_is_graded_measured_and_its_summary_says_the_verdict(rule) -> None:
    """Grade ``measured`` = a bundled run measured the claim, whatever it found; the summary shown
    with every finding names the last entry's verdict, the scale and the power, so a null or
    contrary result never reads as support."""
    ev = evidence.for_rule(rule.code)
    if not ev.measured:
        assert ev.grade != "measured" and ev.verdict is None
        return
    assert ev.grade == "measured", f"{rule.code} was measured: grade it measured (with its verdict)"
    assert ev.verdict == ev.measured[-1].verdict
    assert re.match(rf"Measured (at CPU scale|on GPU) \([^)]*\): {SUMMARY_VERDICT[ev.verdict]}\b", ev.summary), \
        ev.summary
    assert "smallest detectable" in ev.summary
    if ev.verdict != "supported":
        assert "supported" not in ev.summary.split(";")[0]
    assert ev.to_dict()["verdict"] == ev.verdict and ev.label == f"measured, {evidence.VERDICT_WORDS[ev.verdict]}"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_a_rule_that_is_not_measured_says_why(rule) -> None:
    """Every rule is either graded measured or says in its notes why it is not (no experiment, a
    GPU-only claim, a pair that did not train or did not learn)."""
    ev = evidence.for_rule(rule.code)
    assert ev.grade == "measured" or re.search(r"\bnot measured\b", ev.notes, re.IGNORECASE), \
        f"{rule.code}: grade {ev.grade}; say in notes why it is not measured"


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
    assert f.to_dict()["evidence"] == {"grade": ev.grade, "verdict": ev.verdict, "summary": ev.summary}
    internal = Finding(code="AL000", rule="internal-error", severity=Severity.ERROR, message="m", fix="f")
    assert internal.to_dict()["evidence"] is None


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_page_shows_a_short_evidence_table(rule) -> None:
    page = docs.render_rule(rule)
    section = page.split("## Evidence\n\n", 1)[1].split("\n## ", 1)[0]
    ev = evidence.for_rule(rule.code)
    assert section.startswith("| | |\n| --- | --- |\n") and f"| Grade | **{ev.grade}** |" in section
    if ev.verdict:
        assert f"| Verdict | **{evidence.VERDICT_WORDS[ev.verdict]}**" in section
    rows = [ln for ln in section.splitlines() if ln.startswith("| ")]
    assert len(rows) == 2 + 2 + bool(ev.verdict) + len(ev.measured) + len(ev.published) + len(ev.counter) + len(ev.not_applicable) \
        + bool(ev.notes)


def test_reading_evidence_imports_no_framework() -> None:
    code = ("import sys, archlint.evidence as e; [e.for_rule(c) for c in e.codes()]; "
            "from archlint.findings import Finding; "
            "assert not {'torch', 'numpy', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
