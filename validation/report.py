"""Aggregate finished runs into statistics, verdicts and reports (JSON, Markdown, PNG, evidence)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Callable

from . import experiments as exps
from . import stats
from .io import write_bytes_atomic, write_json_atomic, write_text_atomic
from .models import HEAD_LABELS, PLACEMENT_LABELS

SCHEMA = "archlint-validate/2"
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


def _by_seed(recs: list[dict]) -> dict[int, float]:
    return {r["spec"]["seed"]: (r["test_acc"] if r["test_acc"] is not None else math.nan) for r in recs}


def compare(c: exps.Comparison, a: dict[int, float], b: dict[int, float], chance: float) -> dict:
    """One comparison, paired by seed (seeds present in both arms)."""
    seeds = sorted(set(a) & set(b))
    ta, tb = [a[s] for s in seeds], [b[s] for s in seeds]
    claim = exps.CLAIMS[c.rule]
    pr = stats.paired(ta, tb)
    w = stats.welch(ta, tb)
    row = {
        "rule": c.rule, "rule_name": exps.RULES[c.rule], "experiment": c.experiment, "role": c.role,
        "comparison": c.label, "treatment": c.treatment.label, "reference": c.reference.label,
        "expected_sign": c.expected_sign, "seeds": seeds,
        "treatment_mean": sum(ta) / len(ta) if ta else math.nan,
        "reference_mean": sum(tb) / len(tb) if tb else math.nan,
        **pr.to_dict(), "welch_p": w.p, "chance": chance,
        "reference_near_chance": bool(tb) and sum(tb) / len(tb) < 1.5 * chance,
        "min_effect": claim.min_effect,
    }
    if c.expected_sign == 0:  # non-inferiority of the treatment, margin = the claim's min_effect
        v, p_t, p_perm = stats.noninferiority_verdict(ta, tb, claim.min_effect)
        row.update(test="noninferiority", margin=claim.min_effect, p_t_noninf=p_t, p_perm_noninf=p_perm,
                   p_adj=p_perm, verdict=v)
    else:
        row.update(test="directional", p_adj=pr.p)
        row["verdict"] = stats.directional_verdict(pr, c.expected_sign, claim.min_effect)
    return row


def build(comparisons, specs, runs: dict, settings: dict, provenance: dict, ds=None) -> dict:
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
            row = compare(c, _by_seed(by_cfg[(protocol, c.treatment)]), _by_seed(by_cfg[(protocol, c.reference)]),
                          chance)
            rows.append({"protocol": protocol, **row})
        # secondary comparisons of a rule form one "any" family: Holm; context ones are their own family
        for rule in sorted({r["rule"] for r in rows}):
            for role in ("secondary", "context"):
                fam = [r for r in rows if r["rule"] == rule and r["role"] == role]
                for r, padj in zip(fam, stats.holm([r["p"] for r in fam])):
                    r["p_adj"] = padj
                    r["verdict"] = stats.directional_verdict(r, r["expected_sign"], r["min_effect"], p=padj)
        comp_rows += rows

    verdicts: dict[str, dict] = {}
    for rule in sorted({c.rule for c in comparisons}):
        claim = exps.CLAIMS[rule]
        for protocol in settings["protocols"]:
            mine = [r for r in comp_rows if r["rule"] == rule and r["protocol"] == protocol]
            prim = [r for r in mine if r["role"] == "primary"]
            sec = [r for r in mine if r["role"] == "secondary"]
            entry: dict = {"claim": claim.text, "logic": claim.logic, "min_effect": claim.min_effect,
                           "primary": claim.primary}
            if prim:
                vs = [r["verdict"] for r in prim]
                entry["verdict"] = stats.combine_all(vs)  # all / noninferior: every primary comparison
                entry["counts"] = {k: vs.count(k) for k in ("supported", "contradicted", "inconclusive")}
                entry["detectable"] = max(r["detectable"] for r in prim)
            else:
                entry["verdict"] = "not run"
                entry["counts"] = {k: 0 for k in ("supported", "contradicted", "inconclusive")}
            if sec:
                entry["secondary_verdict"] = stats.combine_any([r["verdict"] for r in sec])
            verdicts.setdefault(rule, {})[protocol] = entry
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


def symptoms_section(results: dict) -> list[str]:
    """Per configuration, the symptoms its runs showed (``symptoms.py``), with the number of seeds."""
    counts: dict = {}
    for r in results.get("runs", []):
        if not isinstance(r, dict) or "symptoms" not in r:
            continue
        spec = r.get("spec", {})
        key = (spec.get("protocol"), r.get("config") or r.get("key"))
        c = counts.setdefault(key, {})
        for name in dict.fromkeys(s["symptom"] for s in r["symptoms"]):
            c[name] = c.get(name, 0) + 1
    if not counts:
        return []
    out = ["", "## Symptoms while training (seeds that showed each)", "",
           "Dead ReLUs, vanishing or exploding gradient norms, saturated units, a loss that does not fall, "
           "NaN/Inf; thresholds in `validation/symptoms.py`.", "", "| Protocol | Run | Symptoms |", "|---|---|---|"]
    for (proto, key), c in sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        out.append(f"| {proto} | {key} | {', '.join(f'{k} ({v})' for k, v in c.items()) or 'none'} |")
    return out


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
        f"- Seeds: {p['seeds']}; device: {p['device'].get('gpu') or p['device']['device']}"
        + (f" ({p['device']['platform']})" if p["device"].get("platform") else ""),
        f"- Code: {p['code_version']}; training code {s.get('training_code', 'n/a')}; settings hash "
        f"{p.get('settings_hash', 'n/a')}; libraries: " + ", ".join(f"{k} {v}" for k, v in p["libraries"].items()),
        f"- Training time of the runs: {_f(p.get('train_wall_time_s'), 0)} s (a pack counted once); "
        + (f"this invocation: {_f(p.get('wall_time_s'), 0)} s, runs resumed from earlier ones: {p['runs_resumed']}; "
           if p.get("wall_time_s") is not None else
           f"aggregated without training from {', '.join(p.get('aggregated_from', []))}; ")
        + f"date {p['date']}",
        "- Metric: accuracy on the test set, evaluated once after the last epoch (no checkpoint selection).",
        "",
        "## Rule verdicts (pre-registered primary claims)", "",
        "Paired by seed. `all`: every primary comparison must hold at alpha 0.05 (intersection-union, no "
        "correction); `noninferior`: the interval's lower bound above minus the margin. A directional claim is "
        "also contradicted when the interval excludes the minimum effect of interest in the predicted direction. "
        "*Detectable*: the smallest effect this run could detect (80% power).", "",
        "| Rule | Protocol | Primary comparisons | Logic | Min. effect | Verdict | Detectable | Secondary (Holm, any) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule, per in results["verdicts"].items():
        for protocol, v in per.items():
            lines.append(f"| {rule} {exps.RULES[rule]} | {protocol} | {v['primary']} | {v['logic']} | "
                         f"{_f(v['min_effect'])} | **{v['verdict']}** | {_f(v.get('detectable'))} | "
                         f"{v.get('secondary_verdict', '-')} |")
    lines += ["", "## Test accuracy per configuration", "",
              "| Protocol | Configuration | n | mean | sd | 95% CI (t) |", "|---|---|---|---|---|---|"]
    for v in sorted(results["variants"], key=lambda v: (v["protocol"], v["placement"], v["head"], v["variant"])):
        sm = v["summary"]
        lines.append(f"| {v['protocol']} | {v['config']} | {sm['n']} | {_f(sm['mean'])} | {_f(sm['sd'])} | "
                     f"[{_f(sm['ci_low'])}, {_f(sm['ci_high'])}] |")
    lines += ["", "## Differences (treatment - reference, test accuracy, paired by seed)", "",
              "Paired t interval; p (t): paired t; p (perm): exact sign-flip permutation; p (sign): exact sign test; "
              "decision p = the larger of p (t) and p (perm), Holm-adjusted within a rule's secondary family "
              "(context comparisons form their own family). Welch p (unpaired) is shown for reference. "
              "Non-inferiority rows give the one-sided permutation p against the margin.",
              "", "| Rule | Role | Protocol | Comparison | n | diff | 95% CI | p (t) | p (perm) | p (sign) | Welch p | "
              "decision p | detectable | Verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["comparisons"]:
        lines.append(f"| {r['rule']} | {r['role']} | {r['protocol']} | {r['comparison']} | {r['n']} | {_f(r['diff'])} | "
                     f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}] | {_p(r['p_t'])} | {_p(r['p_perm'])} | {_p(r['p_sign'])} | "
                     f"{_p(r['welch_p'])} | {_p(r['p_adj'])} | {_f(r['detectable'])} | {r['verdict']} |")
    near = [r for r in results["comparisons"] if r.get("reference_near_chance")]
    if near:
        lines += ["", f"**Note:** the reference network of {len(near)} comparison(s) is still near chance level "
                  f"(< 1.5 x {near[0]['chance']:.3f}); such a run is too short to show the effect either way."]
    lines += symptoms_section(results)
    lines += ["", "Placements: " + "; ".join(f"`{k}` = {v}" for k, v in PLACEMENT_LABELS.items()) + ". "
              "Dropout is not trained `after` the activation: it commutes with ReLU, so that cell would "
              "repeat `before` bit for bit.", ""]
    if results["reduced"]:
        lines += ["## What is owed", "", OWED,
                  "Run `archlint validate --data cifar-100-python.tar.gz --protocol both --device cuda` on a GPU "
                  "(see validation/README.md).", ""]
    return "\n".join(lines)


def evidence(results: dict) -> dict[str, list[dict]]:
    """Per-rule summary dicts of the primary and secondary comparisons (the format of
    validation/results/evidence.json)."""
    s, p = results["settings"], results["provenance"]
    out: dict[str, list[dict]] = {}
    for r in results["comparisons"]:
        if r["role"] == "context":
            continue
        v = results["verdicts"][r["rule"]][r["protocol"]]
        out.setdefault(r["rule"], []).append({
            "rule": r["rule"], "rule_name": r["rule_name"], "claim": v["claim"], "logic": v["logic"],
            "role": r["role"], "experiment": r["experiment"], "protocol": r["protocol"], "comparison": r["comparison"],
            "metric": "test accuracy", "n": r["n"], "treatment_mean": r["treatment_mean"],
            "reference_mean": r["reference_mean"], "diff": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "p": r["p_adj"], "detectable": r["detectable"], "min_effect": r["min_effect"],
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


def line_styles(n: int) -> list[dict]:
    """n distinct (colour, line style, marker) combinations: colours cycle fastest, so no two of the
    first 10 x 4 x 6 lines look alike."""
    colours = [f"C{i}" for i in range(10)]
    dashes = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "x"]
    return [{"color": colours[i % 10], "linestyle": dashes[(i // 10) % 4], "marker": markers[(i // 40 + i) % 6]}
            for i in range(n)]


def clipped_errors(mean: float, low, high) -> tuple[float, float]:
    """Error-bar lengths of a t interval clipped to [0, 1] (an accuracy); 0 where undefined."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 0.0
    return mean - max(0.0, low), min(1.0, high) - mean


def make_plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    files = []
    tag = " [SYNTHETIC]" if results["synthetic"] else (" [reduced]" if results["reduced"] else "")
    p = results["provenance"]
    dataset = p["dataset"].get("description") or results["settings"]["dataset"]
    dataset = dataset.split(" (")[0]
    chance = 1.0 / p["dataset"]["num_classes"]
    for protocol in results["settings"]["protocols"]:
        vs = [v for v in results["variants"] if v["protocol"] == protocol]
        fig, ax = plt.subplots(figsize=(8, 5))
        for v, style in zip(vs, line_styles(len(vs))):
            ys = v["val_acc_per_epoch_mean"]
            ax.plot(range(1, len(ys) + 1), ys, label=v["config"], markersize=4, **style)
        ax.axhline(chance, color="grey", linewidth=1, linestyle=(0, (1, 3)), label=f"chance ({chance:.2f})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation accuracy (mean of {len(p['seeds'])} seeds)")
        ax.set_ylim(0.0, min(1.0, max([chance] + [max(v["val_acc_per_epoch_mean"] or [0]) for v in vs]) * 1.1 + 0.02))
        ax.set_title(f"{dataset}, {protocol} protocol: validation accuracy per epoch{tag}")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
        name = f"accuracy_per_epoch_{protocol}.png"
        fig.tight_layout()
        _save_figure(fig, out, name)
        plt.close(fig)
        files.append(name)

        fig, ax = plt.subplots(figsize=(8, 0.4 * len(vs) + 1.8))
        for i, v in enumerate(vs):
            sm = v["summary"]
            lo, hi = clipped_errors(sm["mean"], sm["ci_low"], sm["ci_high"])
            ax.errorbar([sm["mean"]], [i], xerr=[[lo], [hi]], fmt="o", capsize=4, color="C0")
            ax.scatter(v["test_acc"], [i] * len(v["test_acc"]), s=10, color="grey", zorder=3)
        ax.axvline(chance, color="grey", linewidth=1, linestyle=(0, (1, 3)))
        ax.text(chance, -0.4, " chance", color="grey", fontsize=7, va="bottom")
        ax.set_yticks(range(len(vs)), [v["config"] for v in vs], fontsize=8)
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("final test accuracy (mean, 95% t interval clipped to [0, 1], seeds in grey)")
        ax.set_title(f"{dataset}, {protocol} protocol: final test accuracy{tag}")
        ax.grid(alpha=0.3, axis="x")
        name = f"final_accuracy_{protocol}.png"
        fig.tight_layout()
        _save_figure(fig, out, name)
        plt.close(fig)
        files.append(name)
    return files


def _save_figure(fig, out: Path, name: str) -> None:
    """savefig into memory, then the one writer (a link at ``out/name`` is refused, never followed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_bytes_atomic(out / name, buf.getvalue(), root=out)


def plot_names(protocols) -> list[str]:
    return [f"{kind}_{p}.png" for p in protocols for kind in ("accuracy_per_epoch", "final_accuracy")]


REPORT_FILES = ("results.json", "results.md", "evidence.json")


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
