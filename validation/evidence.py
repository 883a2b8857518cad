"""Bundled evidence for the rule docs (``archlint explain``). Imports neither torch nor numpy.

``validation/results/evidence.json`` maps a rule code to a list of summary dicts, one per claim
comparison, written by ``archlint validate`` (``<out>/evidence.json``) and copied here.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
EVIDENCE_FILE = RESULTS_DIR / "evidence.json"


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        return {}
    with open(p, encoding="utf-8") as f:
        data = json.load(f)
    return {str(k).upper(): list(v) for k, v in data.items()}


def load_bundled(path: str | Path | None = None) -> dict[str, list[dict]]:
    """Rule code -> list of summary dicts (empty when no evidence is bundled)."""
    return {k: [dict(d) for d in v] for k, v in _load(str(path or EVIDENCE_FILE)).items()}


def _num(x, signed: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _p(x) -> str:
    if x is None:
        return "n/a"
    return "<0.001" if x < 1e-3 else f"{x:.3f}"


def summary_for(rule_code: str, path: str | Path | None = None) -> str | None:
    """One paragraph quoting the measured effect(s) for a rule, or None without evidence."""
    items = load_bundled(path).get(rule_code.upper())
    if not items:
        return None
    first = items[0]
    parts = []
    for protocol in dict.fromkeys(d["protocol"] for d in items):
        rows = [d for d in items if d["protocol"] == protocol]
        d0 = rows[0]
        effects = "; ".join(
            f"{d['comparison']}: {_num(d['diff'])} test accuracy "
            f"({_num(d.get('treatment_mean'), False)} vs {_num(d.get('reference_mean'), False)}; "
            f"95% CI {_num(d['ci_low'])} to {_num(d['ci_high'])}, p {_p(d.get('p', d.get('p_holm')))}, {d['verdict']})"
            for d in rows
        )
        part = (
            f"On {d0['dataset']} ({d0.get('n_train', '?')} training images, {d0['protocol']} protocol, "
            f"{d0['seeds']} seeds, {d0['steps_per_epoch']} steps x {d0['epochs']} epochs at batch {d0['batch_size']}, "
            f"{d0['device']}): {effects}. Verdict: {d0['rule_verdict']}."
        )
        if any(d.get("reference_near_chance") for d in rows):
            part += (f" The reference network was still near chance level in this {protocol} run, so it is too"
                     " short to show the effect either way.")
        if d0.get("caveat"):
            part += f" Caveat: {d0['caveat']}"
        parts.append(part)
    text = f"{first['rule']} ({first['rule_name']}). Claim: {first['claim']} " + " ".join(parts)
    if first.get("synthetic"):
        text += " These numbers come from SYNTHETIC data and are not evidence."
    return text
