"""Aggregate finished runs into statistics, verdicts and reports (JSON, Markdown, PNG, evidence)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from . import experiments as exps
from . import stats
from .io import write_json_atomic, write_text_atomic
from .models import HEAD_LABELS, PLACEMENT_LABELS

SCHEMA = "archlint-validate/1"
FULL = {"dataset": "cifar100", "steps_per_epoch": 1000, "epochs": 10, "batch_size": 80}
OWED = ("The full protocol (CIFAR-100, 1000 steps x 10 epochs, batch 80, both protocols, all placements) "
        "has not been run here; the full GPU grid is owed.")


def reduced_reasons(settings: dict, provenance: dict) -> list[str]:
    r = []
    if settings["dataset"] == "synthetic":
        r.append("SYNTHETIC data (smoke test only, not evidence)")
    elif settings["dataset"] != "cifar100":
        r.append(f"dataset {provenance['dataset'].get('description') or settings['dataset']} instead of CIFAR-100")
    if settings["steps_per_epoch"] != FULL["steps_per_epoch"] or settings["epochs"] != FULL["epochs"]:
        r.append(f"{settings['steps_per_epoch']} steps x {settings['epochs']} epochs instead of 1000 x 10")
    if settings["batch_size"] != FULL["batch_size"]:
        r.append(f"batch {settings['batch_size']} instead of 80")
    if settings.get("limit"):
        r.append(f"training subset of {settings['limit']} images")
    if settings.get("test_limit"):
        r.append(f"test subset of {settings['test_limit']} images")
    if not str(provenance["device"]["device"]).startswith("cuda"):
        r.append("CPU run")
    return r


def _config_of(spec: dict) -> exps.Config:
    return exps.Config(spec["variant"], spec["placement"], spec["head"])


def build(comparisons, specs, runs: dict, settings: dict, provenance: dict, ds) -> dict:
    by_cfg: dict[tuple, list[dict]] = {}
    for s in specs:
        rec = runs[s.key]
        by_cfg.setdefault((s.protocol, exps.Config(s.variant, s.placement, s.head)), []).append(rec)

    variants = []
    for (protocol, cfg), recs in by_cfg.items():
        accs = [r["test_acc"] for r in recs]
        summ = stats.summarize([a if a is not None else math.nan for a in accs])
        epochs = len(recs[0]["val_acc"])
        per_epoch = [stats.summarize([r["val_acc"][e] for r in recs]).mean for e in range(epochs)]
        variants.append({
            "protocol": protocol, "config": cfg.label, "variant": cfg.variant, "placement": cfg.placement,
            "head": cfg.head, "seeds": [r["spec"]["seed"] for r in recs], "test_acc": accs,
            "summary": summ.to_dict(), "val_acc_per_epoch_mean": per_epoch,
            "train_loss_first": [r["first_loss"] for r in recs],
            "train_loss_last_epoch": [r["train_loss"][-1] for r in recs],
        })

    comp_rows = []
    chance = 1.0 / provenance["dataset"]["num_classes"]
    for protocol in settings["protocols"]:
        rows = []
        for c in comparisons:
            a = [r["test_acc"] for r in by_cfg[(protocol, c.treatment)]]
            b = [r["test_acc"] for r in by_cfg[(protocol, c.reference)]]
            w = stats.welch(a, b)
            rows.append({
                "rule": c.rule, "rule_name": exps.RULES[c.rule], "experiment": c.experiment, "role": c.role,
                "protocol": protocol, "comparison": c.label, "treatment": c.treatment.label,
                "reference": c.reference.label, "expected_sign": c.expected_sign,
                "treatment_mean": sum(a) / len(a), "reference_mean": sum(b) / len(b), **w.to_dict(),
                "chance": chance, "reference_near_chance": sum(b) / len(b) < 1.5 * chance,
            })
        # Holm family: the comparisons of one rule and role within a protocol
        for rule in {r["rule"] for r in rows}:
            for role in ("claim", "context"):
                fam = [r for r in rows if r["rule"] == rule and r["role"] == role]
                for r, padj in zip(fam, stats.holm([r["p"] for r in fam])):
                    r["p_holm"] = padj
                    r["verdict"] = stats.verdict(r["diff"], padj, r["expected_sign"])
        comp_rows += rows

    verdicts: dict[str, dict] = {}
    for rule in sorted({c.rule for c in comparisons}):
        for protocol in settings["protocols"]:
            vs = [r["verdict"] for r in comp_rows if r["rule"] == rule and r["protocol"] == protocol and r["role"] == "claim"]
            if not vs:
                continue
            verdicts.setdefault(rule, {})[protocol] = {
                "verdict": stats.combine_verdicts(vs), "claim": exps.CLAIMS[rule],
                "counts": {k: vs.count(k) for k in ("supported", "contradicted", "inconclusive")},
            }
    reasons = reduced_reasons(settings, provenance)
    return {
        "schema": SCHEMA,
        "synthetic": settings["dataset"] == "synthetic",
        "reduced": bool(reasons),
        "reduced_reasons": reasons,
        "settings": settings,
        "provenance": provenance,
        "variants": variants,
        "comparisons": comp_rows,
        "verdicts": verdicts,
        "runs": [runs[s.key] for s in specs],
    }


# ----------------------------------------------------------------------------------------------


def _f(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _p(x) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return "<0.001" if x < 1e-3 else f"{x:.3f}"


def caveat(results: dict) -> str:
    if not results["reduced"]:
        return ""
    return "Reduced run: " + "; ".join(results["reduced_reasons"]) + ". " + OWED


def markdown(results: dict) -> str:
    s, p = results["settings"], results["provenance"]
    lines = ["# archlint validate: results", ""]
    if results["synthetic"]:
        lines += ["> **SYNTHETIC DATA: smoke test only. These numbers are not evidence for any rule.**", ""]
    if results["reduced"]:
        lines += [f"> **{caveat(results)}**", ""]
    ds = p["dataset"]
    lines += [
        "## Provenance", "",
        f"- Dataset: {ds.get('description') or ds['name']} ({ds.get('n_train')} train / {ds.get('n_val')} validation held out of train / "
        f"{ds.get('n_test')} test, {ds.get('num_classes')} classes); sha256 `{ds.get('sha256') or ds.get('sha256_of_pickles') or 'n/a'}`",
        f"- Protocols: {', '.join(s['protocols'])}; {s['steps_per_epoch']} steps x {s['epochs']} epochs, batch {s['batch_size']}; "
        "RMSprop lr 1e-3 rho 0.9 eps 1e-7; base head " + HEAD_LABELS["dense1000"],
        f"- Seeds: {p['seeds']}; device: {p['device'].get('gpu') or p['device']['device']} ({p['device'].get('platform')})",
        f"- Code: {p['code_version']}; libraries: " + ", ".join(f"{k} {v}" for k, v in p["libraries"].items()),
        f"- Wall time: {p['wall_time_s']} s (runs resumed from earlier invocations: {p['runs_resumed']}); date {p['date']}",
        "- Metric: accuracy on the test set, evaluated once after the last epoch (no checkpoint selection).",
        "",
        "## Rule verdicts", "",
        "| Rule | Protocol | Verdict | Claim comparisons (supported / contradicted / inconclusive) | Claim |",
        "|---|---|---|---|---|",
    ]
    for rule, per in results["verdicts"].items():
        for protocol, v in per.items():
            c = v["counts"]
            lines.append(f"| {rule} {exps.RULES[rule]} | {protocol} | **{v['verdict']}** | "
                         f"{c['supported']} / {c['contradicted']} / {c['inconclusive']} | {v['claim']} |")
    lines += ["", "## Test accuracy per configuration", "",
              "| Protocol | Configuration | n | mean | sd | 95% CI (t) |", "|---|---|---|---|---|---|"]
    for v in sorted(results["variants"], key=lambda v: (v["protocol"], v["placement"], v["head"], v["variant"])):
        sm = v["summary"]
        lines.append(f"| {v['protocol']} | {v['config']} | {sm['n']} | {_f(sm['mean'])} | {_f(sm['sd'])} | "
                     f"[{_f(sm['ci_low'])}, {_f(sm['ci_high'])}] |")
    lines += ["", "## Differences (treatment - reference, test accuracy)", "",
              "Welch intervals (Welch-Satterthwaite df); p-values Holm-corrected within each rule's claim "
              "comparisons per protocol (context comparisons form their own family). A verdict needs Holm p < 0.05.",
              "", "| Rule | Role | Protocol | Comparison | diff | 95% CI | df | p | Holm p | Verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["comparisons"]:
        lines.append(f"| {r['rule']} | {r['role']} | {r['protocol']} | {r['comparison']} | {_f(r['diff'])} | "
                     f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}] | {_f(r['df'], 1)} | {_p(r['p'])} | {_p(r['p_holm'])} | {r['verdict']} |")
    near = [r for r in results["comparisons"] if r.get("reference_near_chance")]
    if near:
        lines += ["", f"**Note:** the reference network of {len(near)} comparison(s) is still near chance level "
                  f"(< 1.5 x {near[0]['chance']:.3f}); such a run is too short to show the effect either way."]
    lines += ["", "Placements: " + "; ".join(f"`{k}` = {v}" for k, v in PLACEMENT_LABELS.items()) + ".", ""]
    if results["reduced"]:
        lines += ["## What is owed", "", OWED,
                  "Run `archlint validate --data cifar-100-python.tar.gz --protocol both --device cuda` on a GPU "
                  "(see validation/README.md).", ""]
    return "\n".join(lines)


def evidence(results: dict) -> dict[str, list[dict]]:
    """Per-rule summary dicts (the format of validation/results/evidence.json)."""
    s, p = results["settings"], results["provenance"]
    out: dict[str, list[dict]] = {}
    for r in results["comparisons"]:
        if r["role"] != "claim":
            continue
        v = results["verdicts"][r["rule"]][r["protocol"]]
        out.setdefault(r["rule"], []).append({
            "rule": r["rule"], "rule_name": r["rule_name"], "claim": exps.CLAIMS[r["rule"]],
            "experiment": r["experiment"], "protocol": r["protocol"], "comparison": r["comparison"],
            "metric": "test accuracy", "treatment_mean": r["treatment_mean"], "reference_mean": r["reference_mean"],
            "diff": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p_holm": r["p_holm"],
            "verdict": r["verdict"], "rule_verdict": v["verdict"], "rule_counts": v["counts"],
            "dataset": p["dataset"].get("description") or p["dataset"]["name"], "dataset_sha256": p["dataset"].get("sha256"),
            "chance": r.get("chance"), "reference_near_chance": r.get("reference_near_chance"),
            "n_train": p["dataset"]["n_train"], "n_test": p["dataset"]["n_test"],
            "seeds": len(p["seeds"]), "device": p["device"].get("gpu") or p["device"]["device"],
            "steps_per_epoch": s["steps_per_epoch"], "epochs": s["epochs"], "batch_size": s["batch_size"],
            "synthetic": results["synthetic"], "reduced": results["reduced"],
            "caveat": caveat(results) or None, "code_version": p["code_version"], "date": p["date"],
        })
    return out


def make_plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    tag = " [SYNTHETIC]" if results["synthetic"] else (" [reduced]" if results["reduced"] else "")
    for protocol in results["settings"]["protocols"]:
        vs = [v for v in results["variants"] if v["protocol"] == protocol]
        fig, ax = plt.subplots(figsize=(8, 5))
        for v in vs:
            ys = v["val_acc_per_epoch_mean"]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", label=v["config"])
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation accuracy (mean of {len(results['provenance']['seeds'])} seeds)")
        ax.set_title(f"{protocol} protocol, {results['settings']['dataset']}{tag}")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
        name = f"accuracy_per_epoch_{protocol}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)

        fig, ax = plt.subplots(figsize=(8, 0.4 * len(vs) + 1.5))
        for i, v in enumerate(vs):
            sm = v["summary"]
            lo = sm["mean"] - sm["ci_low"] if sm["ci_low"] is not None and math.isfinite(sm["ci_low"]) else 0
            hi = sm["ci_high"] - sm["mean"] if sm["ci_high"] is not None and math.isfinite(sm["ci_high"]) else 0
            ax.errorbar([sm["mean"]], [i], xerr=[[lo], [hi]], fmt="o", capsize=4)
            ax.scatter(v["test_acc"], [i] * len(v["test_acc"]), s=10, color="grey", zorder=3)
        ax.set_yticks(range(len(vs)), [v["config"] for v in vs], fontsize=8)
        ax.set_xlabel("final test accuracy (mean, 95% t interval, seeds in grey)")
        ax.set_title(f"{protocol} protocol{tag}")
        ax.grid(alpha=0.3, axis="x")
        name = f"final_accuracy_{protocol}.png"
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)
    return files


def write_all(results: dict, out: Path, *, plots: bool = True, log: Callable[[str], None] = lambda s: None) -> None:
    out = Path(out)
    made: list[str] = []
    if plots:
        try:
            made = make_plots(results, out)
        except ImportError:
            log("note: matplotlib is not installed; plots skipped")
            results["plots_note"] = "matplotlib missing: plots skipped"
    results["plots"] = made
    write_json_atomic(out / "results.json", results)
    write_text_atomic(out / "results.md", markdown(results))
    write_json_atomic(out / "evidence.json", evidence(results))
