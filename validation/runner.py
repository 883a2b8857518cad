"""Run the experiments: load data, train the pending runs (packed), write each finished run
atomically to its own file, then aggregate everything into the reports.

Resumable: run files live in ``<out>/runs/<settings-hash>/<run-key>.json``; a rerun with the same
arguments skips every run whose file exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import data as data_mod
from . import experiments as exps
from .errors import ValidationError
from .io import ensure_writable, read_json, write_json_atomic
from .models import PLACEMENTS
from .progress import CPU_LIMIT_S, Plan, Reporter, fmt_duration, warmup_step_seconds

DEFAULT_VAL_SIZE = 5000


@dataclass
class Options:
    dataset: str | None = None
    data: str | None = None
    rules: list[str] | None = None
    protocols: tuple[str, ...] = ("faithful",)
    placements: tuple[str, ...] = PLACEMENTS
    seeds: int = 3
    steps: int = 1000
    epochs: int = 10
    batch_size: int = 80
    val_size: int | None = None  # None: 5000, or a tenth of a smaller training set
    limit: int | None = None
    test_limit: int | None = None
    device: str = "auto"
    out: Path = Path("archlint-validate")
    packed: bool = True
    pack_size: int | None = None
    compile: bool = False
    verify: bool = True
    cache_dir: Path | None = None
    plots: bool = True
    progress: bool = True
    quick: bool = False
    primary_only: bool = False
    yes: bool = False  # start a CPU job projected to take more than an hour
    extra: dict = field(default_factory=dict)


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValidationError("--device cuda requested but CUDA is not available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValidationError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def make_packs(specs, pack_size: int, packed: bool) -> list[list]:
    """Group runs whose networks differ at most in dropout rates; a shared control joins the first
    dropout pack of its protocol and head."""
    from .train import pack_signature

    if not packed or pack_size == 1:
        return [[s] for s in specs]  # in spec order: seed by seed
    groups: dict[tuple, list] = {}
    for s in specs:
        groups.setdefault(pack_signature(s), []).append(s)
    # move control runs into a dropout group of the same protocol/head when one exists
    for sig in [g for g in groups if g[3] == "*"]:
        target = next((g for g in groups if g[:3] == sig[:3] and g[3] != "*"), None)
        if target is not None:
            groups[target] = groups.pop(sig) + groups[target]
    packs = []
    for members in groups.values():
        for i in range(0, len(members), pack_size):
            packs.append(members[i:i + pack_size])
    return packs


def run(opts: Options, *, log: Callable[[str], None] = lambda s: None) -> dict:
    """Run (or resume) the validation and write the reports; returns the results dict."""
    import torch

    from . import report
    from .provenance import code_version, device_info, device_kind, library_versions, now, training_code_version
    from .train import DeviceData, TrainConfig, train_packed, train_single

    t_start = time.perf_counter()
    if opts.quick:
        torch.set_num_threads(1)  # tiny batches: thread start-up costs more than it saves
    # 1. every option is checked before anything is created or decoded
    comparisons = exps.select(opts.rules, opts.placements, opts.primary_only)
    if not comparisons:
        raise ValidationError("no comparison matches the selected rules and placements")
    device = resolve_device(opts.device)
    if opts.val_size is not None and opts.limit is not None and opts.val_size >= opts.limit:
        raise ValidationError(f"--val-size {opts.val_size} must be smaller than --limit {opts.limit}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"output folder {out} is a file")
    # 2. the data (decoded image folders go to one shared cache, keyed by the file's content)
    cache_dir = Path(opts.cache_dir) if opts.cache_dir else data_mod.default_cache_dir()
    test_limit = opts.test_limit
    ds = data_mod.load(opts.dataset, opts.data, limit_train=opts.limit, limit_test=test_limit,
                       cache_dir=cache_dir, verify=opts.verify, warn=lambda m: log(f"warning: {m}"))
    val_size = opts.val_size
    if val_size is None:
        val_size = DEFAULT_VAL_SIZE
        if len(ds.x_train) < 10 * DEFAULT_VAL_SIZE:  # a subset or a small set: hold out a tenth instead
            val_size = max(1, len(ds.x_train) // 10)
            log(f"note: {len(ds.x_train)} training images: holding out {val_size} (a tenth) for validation "
                f"instead of {DEFAULT_VAL_SIZE}; pass --val-size to choose")
    split = data_mod.split_validation(ds, val_size)
    seeds = list(range(opts.seeds))
    specs = exps.run_specs(comparisons, opts.protocols, seeds)

    dataset_id = {k: v for k, v in ds.identity.items() if k not in ("cache",)}
    settings = {
        "dataset": ds.name, "dataset_id": {k: dataset_id.get(k) for k in ("sha256", "md5", "sha256_of_pickles", "synthetic", "seed")},
        "n_train": int(len(split.x_train)), "n_val": int(len(split.x_val)), "n_test": int(len(split.x_test)),
        "steps_per_epoch": opts.steps, "epochs": opts.epochs, "batch_size": opts.batch_size,
        # what else decides a run's numbers: the training code, torch, the device
        "training_code": training_code_version(), "torch": torch.__version__, "device": device_kind(device),
    }
    shash = settings_hash(settings)
    run_dir = out / "runs" / shash
    pending = [s for s in specs if _finished(run_dir / f"{s.key}.json", shash) is None]
    done_before = len(specs) - len(pending)
    # Packing pays on a launch-bound GPU; on CPU it measured slower than one run at a time
    # (benchmarks/validate_bench.py), so CPU defaults to one run per pack.
    pack_size = opts.pack_size or (16 if device.type == "cuda" else 1)
    packs = make_packs(pending, pack_size, opts.packed)
    data_cache: dict[str, DeviceData] = {}

    def device_data(protocol: str) -> DeviceData:
        if protocol not in data_cache:
            data_cache[protocol] = DeviceData(split, protocol, device)
        return data_cache[protocol]

    # 3. the plan, from a short timed warm-up; a long CPU job needs --yes
    steps_per_run = opts.steps * opts.epochs
    step_s = eval_s = math.nan
    if pending:
        step_s = warmup_step_seconds(pending[0], device_data(pending[0].protocol), opts.batch_size)
        eval_s = step_s / opts.batch_size / 3.0 * (opts.epochs * len(split.x_val) + len(split.x_test))
    plan = Plan(device_kind(device), len(specs), len(pending), steps_per_run, len(packs), step_s, eval_s,
                pack_size if opts.packed else 1, torch.get_num_threads())
    for line in plan.lines():
        log(line)
    if device.type == "cpu" and plan.projected_s > CPU_LIMIT_S and not opts.yes:
        raise ValidationError(
            f"projected {fmt_duration(plan.projected_s)} on CPU (more than {fmt_duration(CPU_LIMIT_S)}); "
            "pass --yes to start it anyway, or reduce --seeds / --steps / --epochs, or use --device cuda")

    # 4. only now: the output folder and the runs
    out = ensure_writable(out)
    ensure_writable(run_dir)
    write_json_atomic(run_dir / "settings.json", settings)
    if done_before:
        log(f"resuming: {done_before} of {len(specs)} runs already finished in {run_dir}")
    reporter = Reporter(len(pending), steps_per_run, enabled=opts.progress, log=log)
    try:
        for pack in packs:
            protocol = pack[0].protocol
            cfg = TrainConfig(protocol=protocol, batch_size=opts.batch_size, steps_per_epoch=opts.steps,
                              epochs=opts.epochs, compile=opts.compile)
            reporter.start(f"{protocol} " + ", ".join(f"{s.variant}@{s.placement} s{s.seed}" for s in pack), len(pack))
            dd = device_data(protocol)
            if len(pack) == 1 and not opts.packed:
                results = [train_single(pack[0], dd, cfg, on_step=reporter.advance)]
            else:
                results = train_packed(pack, dd, cfg, on_step=reporter.advance)
            for r in results:
                rec = dataclasses.asdict(r)
                rec["spec"] = dataclasses.asdict(r.spec)
                rec["key"] = r.spec.key
                rec["device"] = str(device)
                rec["settings_hash"] = shash
                rec["finished"] = now()
                write_json_atomic(run_dir / f"{r.spec.key}.json", rec)
            reporter.finish("test accuracy " + ", ".join(f"{r.test_acc:.3f}" for r in results))
    finally:
        reporter.close()

    runs = {s.key: _finished(run_dir / f"{s.key}.json", shash) for s in specs}
    provenance = {
        "dataset": {"name": ds.name, "description": ds.identity.get("description", ds.name), **dataset_id, "n_train": settings["n_train"], "n_val": settings["n_val"],
                    "n_test": settings["n_test"], "num_classes": ds.num_classes},
        "code_version": code_version(),
        "settings_hash": shash,
        "seeds": seeds,
        "device": device_info(device),
        "libraries": library_versions(),
        "wall_time_s": round(time.perf_counter() - t_start, 2),
        # a pack's wall time is shared by its runs: each run counts its share once
        "train_wall_time_s": round(sum(train_seconds(r) for r in runs.values()), 2),
        "runs_resumed": done_before,
        "date": now(),
        "run_dir": str(run_dir),
        "packed": opts.packed,
        "torch_threads": torch.get_num_threads(),
        "plan": {"projected_s": plan.projected_s, "warmup_step_s": plan.step_s},
    }
    settings_full = {**settings, "protocols": list(opts.protocols), "placements": list(opts.placements),
                     "rules": opts.rules or sorted(exps.RULES), "quick": opts.quick, "limit": opts.limit,
                     "test_limit": test_limit, "primary_only": opts.primary_only}
    results = report.build(comparisons, specs, runs, settings_full, provenance, ds)
    report.write_all(results, out, plots=opts.plots, log=log)
    return results


def train_seconds(rec: dict) -> float:
    """A run's share of its pack's training time (a pack of M runs took ``wall_s`` for all M)."""
    return float(rec.get("wall_s") or 0.0) / max(1, int(rec.get("pack_size") or 1))


def _finished(path: Path, shash: str) -> dict | None:
    """A finished run file made under these settings, or None (missing, torn or other settings)."""
    if not path.is_file():
        return None
    try:
        rec = read_json(path)
    except (OSError, ValueError):
        return None
    if rec.get("settings_hash", shash) != shash:  # files from before the hash was recorded are trusted
        return None
    return rec
