"""Run the experiments: load data, train the pending runs (packed), write each finished run
atomically to its own file, then aggregate everything into the reports.

Resumable: run files live in ``<out>/runs/<settings-hash>/<run-key>.json``; a rerun with the same
arguments skips every run whose file exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import data as data_mod
from . import experiments as exps
from .errors import ValidationError
from .io import ensure_writable, read_json, write_json_atomic
from .models import PLACEMENTS


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
    val_size: int = 5000
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
    comparisons = exps.select(opts.rules, opts.placements, opts.primary_only)
    if not comparisons:
        raise ValidationError("no comparison matches the selected rules and placements")
    out = ensure_writable(Path(opts.out))
    device = resolve_device(opts.device)
    cache_dir = opts.cache_dir or (out / "cache")
    test_limit = opts.test_limit
    ds = data_mod.load(opts.dataset, opts.data, limit_train=opts.limit, limit_test=test_limit,
                       cache_dir=cache_dir, verify=opts.verify, warn=lambda m: log(f"warning: {m}"))
    val_size = min(opts.val_size, max(1, len(ds.x_train) // 10)) if opts.limit or ds.synthetic else opts.val_size
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
    run_dir = out / "runs" / settings_hash(settings)
    ensure_writable(run_dir)
    write_json_atomic(run_dir / "settings.json", settings)

    pending = [s for s in specs if not (run_dir / f"{s.key}.json").is_file()]
    done_before = len(specs) - len(pending)
    if done_before:
        log(f"resuming: {done_before} of {len(specs)} runs already finished in {run_dir}")
    # Packing pays on a launch-bound GPU; on CPU it measured slower than one run at a time
    # (benchmarks/validate_bench.py), so CPU defaults to one run per pack.
    pack_size = opts.pack_size or (16 if device.type == "cuda" else 1)
    packs = make_packs(pending, pack_size, opts.packed)
    data_cache: dict[str, DeviceData] = {}

    def device_data(protocol: str) -> DeviceData:
        if protocol not in data_cache:
            data_cache[protocol] = DeviceData(split, protocol, device)
        return data_cache[protocol]

    with _progress(opts.progress) as progress:
        task = progress.add_task("training", total=len(pending) * opts.steps * opts.epochs) if progress else None

        def on_step(k: int) -> None:
            if progress is not None:
                progress.advance(task, k)

        for pack in packs:
            protocol = pack[0].protocol
            cfg = TrainConfig(protocol=protocol, batch_size=opts.batch_size, steps_per_epoch=opts.steps,
                              epochs=opts.epochs, compile=opts.compile)
            if progress is not None:
                progress.update(task, description=f"{protocol}: {', '.join(sorted({s.variant + '@' + s.placement for s in pack}))}")
            dd = device_data(protocol)
            if len(pack) == 1 and not opts.packed:
                results = [train_single(pack[0], dd, cfg, on_step=on_step)]
            else:
                results = train_packed(pack, dd, cfg, on_step=lambda k: on_step(k * len(pack)))
            for r in results:
                rec = dataclasses.asdict(r)
                rec["spec"] = dataclasses.asdict(r.spec)
                rec["key"] = r.spec.key
                rec["device"] = str(device)
                rec["finished"] = now()
                write_json_atomic(run_dir / f"{r.spec.key}.json", rec)

    runs = {s.key: read_json(run_dir / f"{s.key}.json") for s in specs}
    provenance = {
        "dataset": {"name": ds.name, "description": ds.identity.get("description", ds.name), **dataset_id, "n_train": settings["n_train"], "n_val": settings["n_val"],
                    "n_test": settings["n_test"], "num_classes": ds.num_classes},
        "code_version": code_version(),
        "seeds": seeds,
        "device": device_info(device),
        "libraries": library_versions(),
        "wall_time_s": round(time.perf_counter() - t_start, 2),
        "train_wall_time_s_sum": round(sum(r.get("wall_s") or 0.0 for r in runs.values()), 2),
        "runs_resumed": done_before,
        "date": now(),
        "run_dir": str(run_dir),
        "packed": opts.packed,
        "torch_threads": torch.get_num_threads(),
    }
    settings_full = {**settings, "protocols": list(opts.protocols), "placements": list(opts.placements),
                     "rules": opts.rules or sorted(exps.RULES), "quick": opts.quick, "limit": opts.limit,
                     "test_limit": test_limit}
    results = report.build(comparisons, specs, runs, settings_full, provenance, ds)
    report.write_all(results, out, plots=opts.plots, log=log)
    return results


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def _progress(enabled: bool):
    if not enabled:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=False)
