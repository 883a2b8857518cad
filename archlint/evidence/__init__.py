"""What backs each rule: one TOML file per rule in this folder (``AL001.toml`` ...), read by the
rule pages (``archlint.docs``), ``archlint explain`` and every reporter. Pure data: importing this
module reads nothing; :func:`for_rule` parses one file on first use (stdlib ``tomllib``; no torch,
no numpy).

How to add an entry for a new rule: copy ``README.md``'s template into ``CODE.toml`` and fill it
in. ``tests/docs/test_evidence.py`` checks that every registered rule has a valid file and that no
grade claims more than its sources.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SCHEMA = 1
#: strongest first: a bundled archlint run (at least 5 paired seeds, power stated) measured the
#: claim, whatever it found; a paper / model card with a measured effect; neither (a design
#: convention, a definition or a hardware rule of thumb)
GRADES = ("measured", "published", "convention")
#: what a measurement found: the claim holds; no effect detectable at the stated power; the data go
#: against the claim (the other direction, or an effect smaller than the one that matters)
VERDICTS = ("supported", "null", "contradicted")
#: the verdict as a reader should read it, beside the grade
VERDICT_WORDS = {"supported": "supported", "null": "null result", "contradicted": "contradicted"}


class EvidenceError(ValueError):
    """An evidence file is missing or malformed."""


@dataclass(frozen=True)
class Published:
    source: str  # authors, title, venue, year
    model: str
    dataset: str
    effect: str  # the numbers, as the source reports them (table / figure named)
    url: str = ""


@dataclass(frozen=True)
class Measured:
    run: str  # a bundled archlint run: validation/results/<run>.json
    experiment: str  # the key of this rule's verdict in that run (a reference pair, a protocol)
    verdict: str  # supported | null | contradicted (the run's verdict; its "inconclusive" is null)
    comparison: str  # what the run compared
    result: str  # effect, interval, verdict, power, as the run reports them


@dataclass(frozen=True)
class Counter:
    source: str
    finding: str
    url: str = ""


@dataclass(frozen=True)
class Evidence:
    rule: str
    grade: str
    summary: str  # one line, shown with every finding
    measured: tuple[Measured, ...] = ()
    published: tuple[Published, ...] = ()
    counter: tuple[Counter, ...] = ()
    not_applicable: tuple[str, ...] = ()  # conditions under which the rule does not apply
    notes: str = ""
    path: Path = field(default=FOLDER, compare=False)

    @property
    def verdict(self) -> str | None:
        """What the measurement found (a ``measured`` grade only; the last ``[[measured]]`` entry
        decides: a later round fixes an earlier round's design or trains longer)."""
        return self.measured[-1].verdict if self.grade == "measured" and self.measured else None

    @property
    def label(self) -> str:
        """The grade with the verdict beside it, as the text report and the rule pages print it:
        ``measured, no effect detectable``; other grades alone."""
        return evidence_label(self.to_dict())

    def to_dict(self) -> dict:
        """``{grade, verdict, summary}``: what every finding carries in JSON and SARIF (``verdict``
        is None unless the grade is ``measured``)."""
        return {"grade": self.grade, "verdict": self.verdict, "summary": self.summary}


def _strs(d: dict, key: str, where: str) -> tuple[str, ...]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise EvidenceError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(x.strip() for x in v)


def _table(cls, rows, key: str, where: str, required: tuple[str, ...]):
    if not isinstance(rows, list):
        raise EvidenceError(f"{where}: [[{key}]] must be an array of tables")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise EvidenceError(f"{where}: [[{key}]] #{i + 1} is not a table")
        unknown = set(row) - set(cls.__dataclass_fields__)
        missing = [k for k in required if not str(row.get(k, "")).strip()]
        if unknown or missing:
            raise EvidenceError(f"{where}: [[{key}]] #{i + 1}: "
                                + (f"unknown keys {sorted(unknown)} " if unknown else "")
                                + (f"missing {missing}" if missing else ""))
        out.append(cls(**{k: str(v).strip() for k, v in row.items()}))
    return tuple(out)


def parse(text: str, code: str, path: Path = FOLDER) -> Evidence:
    where = str(path)
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise EvidenceError(f"{where}: {e}") from None
    allowed = {"schema", "rule", "grade", "summary", "measured", "published", "counter", "not_applicable", "notes"}
    if set(d) - allowed:
        raise EvidenceError(f"{where}: unknown keys {sorted(set(d) - allowed)}")
    if d.get("schema") != SCHEMA:
        raise EvidenceError(f"{where}: schema must be {SCHEMA}")
    if d.get("rule") != code:
        raise EvidenceError(f"{where}: rule must be {code!r}, got {d.get('rule')!r}")
    grade = d.get("grade")
    if grade not in GRADES:
        raise EvidenceError(f"{where}: grade must be one of {', '.join(GRADES)}, got {grade!r}")
    summary = d.get("summary")
    if not isinstance(summary, str) or not summary.strip() or "\n" in summary.strip():
        raise EvidenceError(f"{where}: summary must be one non-empty line")
    ev = Evidence(
        rule=code, grade=grade, summary=summary.strip(),
        measured=_table(Measured, d.get("measured", []), "measured", where,
                        ("run", "experiment", "verdict", "comparison", "result")),
        published=_table(Published, d.get("published", []), "published", where, ("source", "model", "dataset", "effect")),
        counter=_table(Counter, d.get("counter", []), "counter", where, ("source", "finding")),
        not_applicable=_strs(d, "not_applicable", where),
        notes=str(d.get("notes", "")).strip(), path=path,
    )
    bad = [m.verdict for m in ev.measured if m.verdict not in VERDICTS]
    if bad:
        raise EvidenceError(f"{where}: a [[measured]] verdict must be one of {', '.join(VERDICTS)}, got {bad[0]!r}")
    if grade == "measured" and not ev.measured:
        raise EvidenceError(f"{where}: grade 'measured' needs a [[measured]] entry naming the validate run")
    if grade == "published" and not ev.published:
        raise EvidenceError(f"{where}: grade 'published' needs a [[published]] entry (source, model, dataset, effect)")
    return ev


@lru_cache(maxsize=None)
def for_rule(code: str) -> Evidence | None:
    """The evidence of a rule code, or None when the rule has no file (internal findings)."""
    path = FOLDER / f"{code}.toml"
    if not path.is_file():
        return None
    return parse(path.read_text(encoding="utf-8"), code, path)


def finding_evidence(code: str) -> dict | None:
    """``{grade, verdict, summary}`` for a finding's code; None for codes without an evidence file.
    A malformed file never breaks a report: the test suite catches it instead."""
    try:
        ev = for_rule(code)
    except EvidenceError:
        return None
    return ev.to_dict() if ev else None


def evidence_label(ev: dict) -> str:
    """``measured, no effect detectable`` / ``published`` from a finding's evidence object."""
    v = ev.get("verdict")
    return f"{ev['grade']}, {VERDICT_WORDS.get(v, v)}" if v else ev["grade"]


def codes() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("AL*.toml"))
