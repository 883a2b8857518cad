"""Grade the rules' evidence files from a bundled reference run.

    python -m archlint_validation.grade NAME [--dry-run]

Reads ``validation/results/NAME.json`` (written by ``reference.py`` and bundled with
``archlint_validation.bundle``) and, for every rule it measured with at least ``MIN_SEEDS`` paired
seeds, writes one ``[[measured]]`` entry into ``archlint/evidence/CODE.toml`` quoting the run: the
experiment, the verdict (``supported`` / ``null`` / ``contradicted``; the run's ``inconclusive`` is
``null``), the comparison (scale, steps, seeds, data) and the effect with its 95 % interval, p and
the smallest effect the run could detect (80 % power).

A rule with such an entry is graded ``measured`` whatever the verdict: the grade says a bundled run
measured the claim and states its power, the verdict says what it found. The last ``[[measured]]``
entry decides the rule's verdict (a later round fixes a flaw in an earlier round's design, or
trains longer), and the summary shown with every finding says that verdict, the scale and the
power in words (earlier entries that disagree are named in it). Entries of an earlier run of the
same NAME are replaced, so rerunning after a new bundle (the GPU run) is safe.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
EVIDENCE = ROOT / "archlint" / "evidence"


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _f(x, signed=True, d=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{d}f}" if signed else f"{x:.{d}f}"


def _p(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return "<0.001" if x < 1e-3 else f"{x:.3f}"


def entry(res: dict, exp: dict) -> tuple[str, str, str]:
    """(comparison, result, short effect) for one experiment of a reference run."""
    sc = res["scale"]
    task_key = _task_of(res, exp)
    t = res["provenance"]["tasks"][task_key]
    steps, batch = sc["steps"][task_key], sc["batch"][task_key]
    where = "GPU" if res["settings"]["device"] != "cpu" else "CPU"
    comparison = (f"{sc['name'].upper()}-scale reference pair `{exp['experiment']}` ({where}): {exp['title']}; "
                  f"{t.get('description', t['name'])}"
                  + (f", {t['resolution']}" if t.get("resolution") else "")
                  + f"; {steps} steps at batch {batch}, {exp['n']} paired seeds")
    tg = exp.get("targets", {})
    lint = ("archlint flags the anti-pattern network and not the fix" if tg.get("checked") and tg.get("ok")
            else f"pair not linted: {tg.get('why', 'n/a')}")
    if exp["logic"] == "faster":
        eff = f"inference throughput x{_f(exp.get('speedup'), False)} with the fix"
        result = (f"{eff} ({_f(exp.get('anti_images_per_s'), False, 0)} vs {_f(exp.get('fix_images_per_s'), False, 0)} "
                  f"images/s; log ratio 95% CI {_f(exp['ci_low'])} to {_f(exp['ci_high'])}), p {_p(exp['p'])}; "
                  f"verdict {exp['verdict']}; smallest detectable log ratio {_f(exp['detectable'], False)} (80% power)")
    else:
        metric = exp["metric"]
        eff = f"fix - anti-pattern {metric} {_f(exp['diff'])} (95% CI {_f(exp['ci_low'])} to {_f(exp['ci_high'])})"
        p = exp.get("p_noninferior") if exp["logic"] == "noninferior" else exp["p"]
        test = (f"non-inferiority margin {exp['min_effect']}, one-sided exact p {_p(p)}" if exp["logic"] == "noninferior"
                else f"p {_p(p)}")
        result = (f"{eff}: anti-pattern {_f(exp['anti_mean'], False)}, fix {_f(exp['fix_mean'], False)}; {test}; "
                  f"verdict {exp['verdict']}; smallest detectable effect {_f(exp['detectable'], False)} (80% power); "
                  f"test loss {_f(exp.get('anti_test_loss'), False)} vs {_f(exp.get('fix_test_loss'), False)}; "
                  f"parameters {exp.get('anti_params', 0):,} vs {exp.get('fix_params', 0):,}")
    return comparison, f"{result}; {lint}", eff


def _task_of(res: dict, exp: dict) -> str:
    from .reference import by_name

    return by_name(exp["experiment"]).task


#: a measurement needs at least this many paired seeds to grade a rule
MIN_SEEDS = 5
#: the run's verdict -> the evidence file's
VERDICT = {"supported": "supported", "inconclusive": "null", "contradicted": "contradicted"}
#: the note grading leaves on a rule none of whose bundled experiments can grade it (always the
#: last sentence of ``notes``), and the form an earlier version left
_NOTE = "Not measured by archlint's runs: "
_OLD_NOTE = re.compile(r" ?Its reference pair \([^)]*\) was not trained in the bundled [\w.-]+ run "
                       r"\(the shared CPU ran out of time\); the GPU preset scripts/gpu_evidence\.py runs it\.")


def at_floor(res: dict, exp: dict) -> bool:
    """Neither arm's mean beats the majority-class rate by the experiment's minimum effect of
    interest: the networks did not learn (they predict about one class), so the pair cannot test
    the claim either way; its interval would read as a null or contrary result that it is not."""
    if exp["logic"] == "faster" or exp.get("anti_mean") is None or exp.get("fix_mean") is None:
        return False
    chance = res["provenance"]["tasks"][_task_of(res, exp)].get("chance")
    return chance is not None and max(exp["anti_mean"], exp["fix_mean"]) < chance + exp["min_effect"]


def _ci(exp: dict) -> str:
    return f"95% CI {_f(exp['ci_low'])} to {_f(exp['ci_high'])}"


def summary(res: dict, exp: dict, earlier: list[str] = ()) -> str:
    """The one line shown with every finding: the verdict first, then the scale, the effect, the
    power; ``earlier``: the verdicts of the rule's other measured entries (named when they differ)."""
    verdict = VERDICT[exp["verdict"]]
    where = "CPU scale" if res["settings"]["device"] == "cpu" else "on GPU"
    det = f"smallest detectable {_f(exp['detectable'], False)}"
    if exp["logic"] == "faster":
        scale = f"{exp['n']} paired timing trials"
        eff = f"x{_f(exp.get('speedup'), False)} inference throughput, log ratio {_ci(exp)}; {det}"
        body = {"supported": f"supported: the fix is faster ({eff})",
                "null": f"no effect detectable ({eff})",
                "contradicted": f"contradicted: the fix is not faster ({eff})"}[verdict]
    else:
        scale = f"{exp['n']} seeds, {res['scale']['steps'][_task_of(res, exp)]} steps"
        metric = exp["metric"]
        num = f"{_f(exp['diff'])}, {_ci(exp)}; {det}"
        eff = f"{metric} {num}"
        if exp["logic"] == "noninferior":
            m = exp["min_effect"]
            saved = (exp.get("anti_params") or 0) - (exp.get("fix_params") or 0)
            saves = f"; {saved:,} fewer parameters" if saved > 0 else ""
            body = {"supported": f"supported: the fix is no worse, within a margin of {m} ({eff}{saves})",
                    "null": f"null result: the fix was not shown to be within {m} ({eff})",
                    "contradicted": f"contradicted: the fix is worse by more than {m} ({eff})"}[verdict]
        elif verdict == "contradicted":
            body = (f"contradicted: the fix lowers {metric} ({num})" if exp["diff"] < 0 and exp["p"] < 0.05
                    else f"contradicted: any gain from the fix is below {exp['min_effect']} ({eff})")
        else:
            body = {"supported": f"supported: the fix raises {metric} ({num})",
                    "null": f"no effect detectable ({eff})"}[verdict]
    s = f"Measured at {where} ({scale}): {body}."
    other = [v for v in earlier if v != verdict]
    if other:
        s = s[:-1] + "; an earlier measurement: " + ", ".join(dict.fromkeys(other)) + "."
    return s if len(s) <= 240 else s[:237] + "..."


def _put_entries(text: str, run: str, blocks: list[str]) -> str:
    """Replace the [[measured]] blocks whose run is ``run`` by ``blocks``, where the first of them
    stood (so regrading a run keeps the entries' order, and the last entry stays the one that
    decides); append them when the run had none."""
    parts = re.split(r"(?m)^(?=\[\[)", text.rstrip() + "\n")
    mine = [i for i, p in enumerate(parts)
            if p.startswith("[[measured]]") and re.search(rf'(?m)^run = "{re.escape(run)}"$', p)]
    at = mine[0] if mine else len(parts)
    keep = [p for i, p in enumerate(parts) if i not in mine]
    at -= sum(1 for i in mine if i < at)
    new = [b.rstrip() + "\n\n" for b in blocks]
    out = keep[:at] + new + keep[at:]
    out = [p if p.endswith("\n\n") or i == len(out) - 1 else p.rstrip() + "\n\n" for i, p in enumerate(out)]
    return "".join(out).rstrip() + "\n"


def _set_note(text: str, note: str) -> str:
    """Replace grading's note (the last sentence of ``notes``, or an earlier version's) by ``note``."""
    def clean(body: str) -> str:
        body = _OLD_NOTE.sub("", body)
        return body.split(" " + _NOTE)[0] if not body.startswith(_NOTE) else ""

    m = re.search(r'(?m)^notes = "(.*)"$', text)
    body = clean(m.group(1)).strip() if m else ""
    body = (body + " " + _q(note)[1:-1]).strip() if note else body
    line = f'notes = "{body}"\n' if body else ""
    if m:
        return text[:m.start()] + line + text[m.end() + 1:]
    return re.sub(r'(?m)^(summary = ".*"\n)', lambda s_: s_.group(1) + line, text, count=1)


def _why_not(res: dict, exp: dict) -> str | None:
    """Why an experiment of a run cannot grade its rules (None: it can)."""
    if exp["n"] == 0:
        return "not trained"
    if exp["n"] < MIN_SEEDS or exp["detectable"] is None or not math.isfinite(exp["detectable"]):
        return f"trained with {exp['n']} paired seeds, fewer than {MIN_SEEDS}"
    if at_floor(res, exp):
        return (f"trained with {exp['n']} paired seeds, but neither arm beat the majority-class rate "
                f"({res['provenance']['tasks'][_task_of(res, exp)]['chance']:.3f}) by {exp['min_effect']} (anti-pattern "
                f"{exp['anti_mean']:.3f}, fix {exp['fix_mean']:.3f}): the networks did not learn, so the pair cannot test "
                "the claim either way")
    return None


def notes(results: Path = RESULTS, evidence_dir: Path = EVIDENCE, dry_run: bool = False) -> list[tuple[str, str, str]]:
    """For every rule that no bundled reference run grades, one note saying what each of its
    experiments did (not trained, too few seeds, both arms at the majority-class floor); removed
    once a run grades the rule. Derived from all bundled runs at once, so grading order does not matter."""
    from archlint.evidence import parse

    why: dict[str, list[str]] = {}
    for path in sorted(Path(results).glob("*.json")):
        res = json.loads(path.read_text())
        if res.get("kind") != "reference":
            continue
        for exp in res["experiments"]:
            w = _why_not(res, exp)
            if w is not None:
                for code in exp["rules"]:
                    why.setdefault(code, []).append(f"{exp['experiment']} in the bundled {path.stem} run was {w}")
    changes = []
    for code, reasons in sorted(why.items()):
        path = Path(evidence_dir) / f"{code}.toml"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if parse(text, code, path).measured:
            continue  # graded by another run
        note = (_NOTE + "; ".join(reasons) + ". The GPU preset scripts/gpu_evidence.py runs the pair at full length.")
        new = _set_note(text, note)
        parse(new, code, path)
        changes.append((code, "not graded", "unchanged" if new == text else "note"))
        if not dry_run and new != text:
            path.write_text(new, encoding="utf-8")
    return changes


def _experiment(path: Path, name: str) -> dict | None:
    """One experiment of another bundled reference run (None for other kinds of run)."""
    res = json.loads(path.read_text()) if path.is_file() else {}
    if res.get("kind") != "reference":
        return None
    return next((e for e in res["experiments"] if e["experiment"] == name), None)


def grade(name: str, dry_run: bool = False, results: Path = RESULTS,
          evidence_dir: Path = EVIDENCE) -> list[tuple[str, str, str]]:
    """Write the run's [[measured]] entries and grades; returns (rule, verdicts, grade) per rule."""
    from archlint.evidence import parse

    res = json.loads((Path(results) / f"{name}.json").read_text())
    per_rule: dict[str, list[dict]] = {}
    for exp in res["experiments"]:
        for code in exp["rules"]:
            if _why_not(res, exp) is None:
                per_rule.setdefault(code, []).append(exp)
    changes = []
    for code, exps in sorted(per_rule.items()):
        path = Path(evidence_dir) / f"{code}.toml"
        blocks = []
        for exp in exps:
            comparison, result, _ = entry(res, exp)
            blocks.append(f"[[measured]]\nrun = {_q(name)}\nexperiment = {_q(exp['experiment'])}\n"
                          f"verdict = {_q(VERDICT[exp['verdict']])}\ncomparison = {_q(comparison)}\n"
                          f"result = {_q(result)}\n")
        text = _set_note(_put_entries(path.read_text(encoding="utf-8"), name, blocks), "")
        ev = parse(text, code, path)
        text = re.sub(r'(?m)^grade = ".*"$', 'grade = "measured"', text, count=1)
        last = ev.measured[-1]  # the last entry decides
        decides = next((e for e in exps if e["experiment"] == last.experiment), None) if last.run == name else \
            _experiment(Path(results) / f"{last.run}.json", last.experiment)
        if decides is not None:
            run_res = res if last.run == name else json.loads((Path(results) / f"{last.run}.json").read_text())
            line = summary(run_res, decides, [m.verdict for m in ev.measured[:-1]])
            text = re.sub(r'(?m)^summary = ".*"$', lambda _m: f"summary = {_q(line)}", text, count=1)
        ev = parse(text, code, path)  # still valid
        changes.append((code, ", ".join(m.verdict for m in ev.measured), f"{ev.grade} ({ev.verdict})"))
        if not dry_run:
            path.write_text(text, encoding="utf-8")
    changes += notes(results, evidence_dir, dry_run)
    return changes


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for code, verdict, g in grade(sys.argv[1], dry_run="--dry-run" in sys.argv):
        print(f"{code}: {verdict} -> grade {g}")
