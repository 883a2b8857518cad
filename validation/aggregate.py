"""Rebuild the reports from finished run folders, without training (and without torch).

    python -m archlint_validation.aggregate --out OUT RUN_DIR [RUN_DIR ...]
        [--rule AL001] [--primary-only] [--placement before] [--num-classes 10] [--code-version TEXT]

Each RUN_DIR is a ``runs/<settings-hash>`` folder of ``archlint validate``. The folders must hold the
same settings (one ``settings.json``, one hash: a report never mixes runs made under different
settings); their runs are pooled, so a grid split over several machines or processes (each with
its own ``--out``) can be reported as one. The comparisons are those the options select, over the
seeds for which every configuration finished. The analysis is the current one
(``report.build``); the training provenance (training-code hash, torch, device) is the runs' own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import experiments as exps
from . import report
from .data import KNOWN_SHA256
from .errors import ValidationError
from .models import PLACEMENTS
from .provenance import code_version, library_versions, now


def load_runs(run_dirs: list[Path]) -> tuple[dict, dict[str, dict]]:
    """(settings, {run key: record}) pooled over folders that share one settings.json."""
    settings = None
    runs: dict[str, dict] = {}
    for d in run_dirs:
        f = Path(d) / "settings.json"
        if not f.is_file():
            raise ValidationError(f"{d}: no settings.json (not a runs/<settings-hash> folder of archlint validate)")
        s = json.loads(f.read_text(encoding="utf-8"))
        if settings is None:
            settings = s
        elif s != settings:
            diff = sorted(k for k in set(s) | set(settings) if s.get(k) != settings.get(k))
            raise ValidationError(f"{d}: settings differ from {run_dirs[0]} ({', '.join(diff)}); a report never mixes them")
        for p in sorted(Path(d).glob("*.json")):
            if p.name == "settings.json":
                continue
            rec = json.loads(p.read_text(encoding="utf-8"))
            if rec.get("settings_hash") not in (None, Path(d).name):
                raise ValidationError(f"{p}: made under settings {rec['settings_hash']}, not {Path(d).name}")
            key = rec["key"]
            if key in runs and runs[key].get("test_acc") != rec.get("test_acc"):
                raise ValidationError(f"run {key} appears twice with different results")
            runs[key] = rec
    if settings is None:
        raise ValidationError("no run folder given")
    return settings, runs


def aggregate(run_dirs: list[Path], out: Path, *, rules=None, placements=PLACEMENTS, primary_only=False,
              protocols=None, num_classes: int | None = None, code: str | None = None, plots: bool = True) -> dict:
    settings, runs = load_runs(run_dirs)
    comparisons = exps.select(rules, placements, primary_only)
    protocols = protocols or sorted({r["spec"]["protocol"] for r in runs.values()})
    configs = exps.configs_of(comparisons)
    seeds = sorted({r["spec"]["seed"] for r in runs.values()})
    complete = [s for s in seeds if all(cfg.spec(p, s).key in runs for p in protocols for cfg in configs)]
    if len(complete) < 2:
        raise ValidationError(f"fewer than two seeds have every configuration finished (complete: {complete})")
    specs = exps.run_specs(comparisons, protocols, complete)
    used = {s.key: runs[s.key] for s in specs}
    sha = settings["dataset_id"].get("sha256")
    if num_classes is None:
        raise ValidationError("--num-classes is needed (run folders do not record it)")
    devices = sorted({r.get("device", "?") for r in used.values()})
    provenance = {
        "dataset": {"name": settings["dataset"], "description": KNOWN_SHA256.get(sha, settings["dataset"]),
                    **settings["dataset_id"], "n_train": settings["n_train"], "n_val": settings["n_val"],
                    "n_test": settings["n_test"], "num_classes": num_classes},
        "code_version": code or code_version(),
        "training_code": settings.get("training_code"),
        "settings_hash": Path(run_dirs[0]).name,
        "seeds": complete,
        "device": {"device": devices[0] if len(devices) == 1 else ", ".join(devices)},
        "libraries": {**library_versions(), "torch (runs)": settings.get("torch")},
        "wall_time_s": None,
        "train_wall_time_s": round(sum(float(r.get("wall_s") or 0) / max(1, int(r.get("pack_size") or 1))
                                       for r in used.values()), 2),
        "runs_resumed": len(used),
        "date": max(r.get("finished", "") for r in used.values()) or now(),
        "aggregated_from": ["/".join(Path(d).resolve().parts[-3:]) for d in run_dirs],  # OUT/runs/HASH
        "aggregated": now(),
    }
    settings_full = {**settings, "protocols": list(protocols), "placements": list(placements),
                     "rules": rules or sorted(exps.RULES), "quick": False, "limit": None,
                     "test_limit": settings["n_test"] if settings["n_test"] != 10000 else None,
                     "primary_only": primary_only}
    results = report.build(comparisons, specs, used, settings_full, provenance)
    Path(out).mkdir(parents=True, exist_ok=True)
    report.write_all(results, Path(out), plots=plots)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m archlint_validation.aggregate", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dirs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rule", action="append")
    ap.add_argument("--placement", action="append", choices=PLACEMENTS)
    ap.add_argument("--primary-only", action="store_true")
    ap.add_argument("--num-classes", type=int)
    ap.add_argument("--code-version", help="the code version that trained the runs (default: this checkout's)")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = aggregate(a.run_dirs, a.out, rules=a.rule, placements=tuple(a.placement or PLACEMENTS),
                        primary_only=a.primary_only, num_classes=a.num_classes, code=a.code_version,
                        plots=not a.no_plots)
    except (ValidationError, ValueError, OSError) as e:
        print(f"archlint: error: {e}", file=sys.stderr)
        return 2
    for code, per in res["verdicts"].items():
        for proto, v in per.items():
            print(f"{code} [{proto}]: {v['verdict']} (seeds {res['provenance']['seeds']})")
    print(f"results: {Path(a.out) / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
