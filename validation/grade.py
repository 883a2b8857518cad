"""Grade the rules' evidence files from a bundled reference run.

    python -m archlint_validation.grade NAME [--dry-run]

Reads ``validation/results/NAME.json`` (written by ``reference.py`` and bundled with
``archlint_validation.bundle``) and, for every rule it measured, writes one ``[[measured]]`` entry
into ``archlint/evidence/CODE.toml`` quoting the run: the comparison (scale, steps, seeds, data),
the effect with its 95 % interval, p, the verdict and the smallest effect the run could detect
(80 % power). A rule whose verdict is ``supported`` is graded ``measured`` and its summary says
what was measured and at which scale; any other verdict leaves the grade as it was and records the
null or contrary result beside it. Entries of an earlier run of the same NAME are replaced, so
rerunning after a new bundle (the GPU run) is safe.
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


def _summary(res: dict, exp: dict, eff: str) -> str:
    where = "CPU scale" if res["settings"]["device"] == "cpu" else "GPU"
    steps = res["scale"]["steps"][_task_of(res, exp)]
    kind = {"noninferior": "no worse, within the margin", "helps": "helps", "faster": "is faster"}[exp["logic"]]
    s = f"Measured ({where}, reference pair, {exp['n']} seeds, {steps} steps): the fix {kind}; {eff}."
    return s if len(s) <= 240 else s[:237] + "..."


def _strip_entries(text: str, run: str) -> str:
    """Remove [[measured]] blocks whose run is ``run``."""
    parts = re.split(r"(?m)^(?=\[\[)", text)
    keep = [p for p in parts if not (p.startswith("[[measured]]") and re.search(rf'(?m)^run = "{re.escape(run)}"', p))]
    return "".join(keep).rstrip() + "\n"


def grade(name: str, dry_run: bool = False) -> list[tuple[str, str, str]]:
    res = json.loads((RESULTS / f"{name}.json").read_text())
    per_rule: dict[str, list[dict]] = {}
    not_run: dict[str, list[str]] = {}
    for exp in res["experiments"]:
        for code in exp["rules"]:
            if exp["n"] == 0:  # the pair exists but was not trained in this run
                not_run.setdefault(code, []).append(exp["experiment"])
                continue
            per_rule.setdefault(code, []).append(exp)
    changes = []
    for code, exps in sorted(per_rule.items()):
        path = EVIDENCE / f"{code}.toml"
        text = _strip_entries(path.read_text(encoding="utf-8"), name)
        old = tomllib.loads(text)
        earlier = [m for m in old.get("measured", []) if m.get("run") != name]
        supported = None
        for exp in exps:
            comparison, result, eff = entry(res, exp)
            text = text.rstrip() + "\n" + (f"\n[[measured]]\nrun = {_q(name)}\ncomparison = {_q(comparison)}\n"
                                           f"result = {_q(result)}\n")
            if exp["verdict"] == "supported" and supported is None:
                supported = (exp, eff)
        grade_now = old["grade"]
        if supported is not None and not (old["grade"] == "measured" and earlier):
            grade_now = "measured"
            text = re.sub(r'(?m)^grade = ".*"$', 'grade = "measured"', text, count=1)
            text = re.sub(r'(?m)^summary = ".*"$', lambda _m: f"summary = {_q(_summary(res, *supported))}", text,
                          count=1)
        tomllib.loads(text)  # still valid
        changes.append((code, ", ".join(e["verdict"] for e in exps), grade_now))
        if not dry_run:
            path.write_text(text, encoding="utf-8")
    for code, names in sorted(not_run.items()):
        if code in per_rule:
            continue
        path = EVIDENCE / f"{code}.toml"
        text = path.read_text(encoding="utf-8")
        note = (f" Its reference pair ({', '.join(names)} in validation/reference.py) was not trained in the bundled "
                f"{name} run (the shared CPU ran out of time); the GPU preset scripts/gpu_evidence.py runs it.")
        if note.strip() in text:
            continue
        if re.search(r'(?m)^notes = ".*"$', text):
            text = re.sub(r'(?m)^notes = "(.*)"$', lambda m: 'notes = "' + m.group(1) + _q(note)[1:-1] + '"', text, count=1)
        else:
            text = re.sub(r'(?m)^(summary = ".*")$', lambda m: m.group(1) + "\nnotes = " + _q(note.strip()), text, count=1)
        tomllib.loads(text)
        changes.append((code, "not run", tomllib.loads(text)["grade"]))
        if not dry_run:
            path.write_text(text, encoding="utf-8")
    return changes


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for code, verdict, g in grade(sys.argv[1], dry_run="--dry-run" in sys.argv):
        print(f"{code}: {verdict} -> grade {g}")
