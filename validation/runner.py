"""Run the experiments: load data, train the pending runs (packed), write each finished run
atomically to its own file, then aggregate everything into the reports.

Resumable: run files live in ``<out>/runs/<settings-hash>/<run-key>.json``; a rerun with the same
arguments skips every run whose file exists and is listed, with an HMAC of its bytes keyed by this
user's secret (``<cache dir>/validate-records.key``), in ``<settings-hash>/records.hmac``: a record
the run did not write itself (forged, or copied in) is ignored and retrained.
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
from .devices import resolve_device
from .errors import ValidationError
from . import safeio
from .io import ensure_writable, json_text, write_json_atomic
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
    trainer: str = "auto"  # auto (fast on cuda, classic on cpu) | classic | fast
    precision: str = "fp32"  # fast trainer only: fp32 | bf16
    executor: str = "local"  # local | ray
    ray_address: str | None = None  # None: start a local Ray instance; "auto" or host:port: join
    ray_gpus_per_pack: float | None = None  # default 1 with --device cuda, else 0
    ray_cpus_per_pack: float = 1.0
    ray_max_retries: int = 3
    extra: dict = field(default_factory=dict)


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def resolve_trainer(name: str, device_type: str) -> str:
    if name == "auto":
        return "fast" if device_type == "cuda" else "classic"
    if name not in ("classic", "fast"):
        raise ValidationError(f"unknown trainer {name!r}; use auto, classic or fast")
    return name


def make_union_packs(specs, pack_size: int, min_packs: int = 1) -> list[list]:
    """The fast trainer packs any runs together: as few packs as ``pack_size`` allows, but at
    least ``min_packs`` (one per GPU the executor can use), of near-equal size, in grid order."""
    if not specs:
        return []
    n_packs = min(len(specs), max(-(-len(specs) // pack_size), min_packs))
    size, extra = divmod(len(specs), n_packs)
    packs, start = [], 0
    for i in range(n_packs):
        end = start + size + (1 if i < extra else 0)
        packs.append(list(specs[start:end]))
        start = end
    return packs


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

    from .provenance import training_code_version

    t_start = time.perf_counter()
    if opts.quick:
        torch.set_num_threads(1)  # tiny batches: thread start-up costs more than it saves
    # 1. every option is checked before anything is created or decoded
    comparisons = exps.select(opts.rules, opts.placements, opts.primary_only)
    if not comparisons:
        raise ValidationError("no comparison matches the selected rules and placements")
    if opts.executor != "ray":
        device = resolve_device(opts.device)
    elif opts.device not in ("auto", "cpu") and not str(opts.device).startswith("cuda"):
        raise ValidationError(f"unknown device {opts.device!r}; use auto, cpu or cuda")
    if opts.precision != "fp32" and opts.trainer == "classic":
        raise ValidationError("--precision bf16 needs the fast trainer (--trainer fast)")
    if opts.val_size is not None and opts.limit is not None and opts.val_size >= opts.limit:
        raise ValidationError(f"--val-size {opts.val_size} must be smaller than --limit {opts.limit}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"output folder {out} is a file")
    from . import report

    # a link planted where the reports, plots or run folders go is refused before any data is read
    safeio.check_writable(out, [*report.REPORT_FILES, *(report.plot_names(opts.protocols) if opts.plots else ()),
                                "runs/settings-hash"])
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
        # what else decides a run's numbers: the training code, torch, the device (set once the
        # executor knows where packs train)
        "training_code": training_code_version(), "torch": torch.__version__,
    }
    executor = _make_executor(opts, log)
    try:
        return _run_with(executor, opts, log, t_start, comparisons, out, ds, split, seeds, specs, settings,
                         device if opts.executor != "ray" else None, dataset_id, test_limit)
    finally:
        executor.close()


def _run_with(executor, opts, log, t_start, comparisons, out, ds, split, seeds, specs, settings, device,
              dataset_id, test_limit) -> dict:
    import torch

    from . import devices, report
    from .executors import PackJob
    from .provenance import code_version, device_kind, library_versions, now

    if device is None:  # Ray: packs train where the scheduler puts them; workers resolve their device
        device = torch.device("cuda" if executor.gpus_per_pack > 0 else "cpu")
        settings["device"] = executor.device_kind()
    else:
        settings["device"] = device_kind(device)
    trainer = resolve_trainer(opts.trainer, device.type)
    if trainer == "fast":
        # other dropout draws (counter-based) and possibly bf16: other runs, another run folder
        settings["trainer"] = {"name": "fast", "dropout_rng": "philox4x32-10", "precision": opts.precision}
    elif opts.precision != "fp32":
        raise ValidationError("--precision bf16 needs the fast trainer (--trainer fast)")
    shash = settings_hash(settings)
    run_dir = out / "runs" / shash
    run_files = RunRecords(out, shash, Path(opts.cache_dir) if opts.cache_dir else data_mod.default_cache_dir())
    pending = [s for s in specs if run_files.get(s.key) is None]
    done_before = len(specs) - len(pending)
    if trainer == "fast":
        # one union pack per GPU slot (48 runs fit an H100 in fp32); one run per pack on CPU
        pack_size = opts.pack_size or (48 if device.type == "cuda" else 1)
        packs = make_union_packs(pending, pack_size, executor.slots()) if opts.packed else [[s] for s in pending]
    else:
        # Packing pays on a launch-bound GPU; on CPU it measured slower than one run at a time
        # (benchmarks/validate_bench.py), so CPU defaults to one run per pack.
        pack_size = opts.pack_size or (16 if device.type == "cuda" else 1)
        packs = make_packs(pending, pack_size, opts.packed)
    def device_data(protocol: str):  # shared with the local executor's packs: one copy on the device
        return devices.device_data(split, protocol, device)

    # 3. the plan, from a short timed warm-up; a long CPU job needs --yes
    steps_per_run = opts.steps * opts.epochs
    step_s = eval_s = math.nan
    if pending and executor.name == "local":
        step_s = warmup_step_seconds(pending[0], device_data(pending[0].protocol), opts.batch_size)
        eval_s = step_s / opts.batch_size / 3.0 * (opts.epochs * len(split.x_val) + len(split.x_test))
    plan = Plan(device_kind(device), len(specs), len(pending), steps_per_run, len(packs), step_s, eval_s,
                pack_size if opts.packed else 1, torch.get_num_threads())
    if executor.name == "local":
        for line in plan.lines():
            log(line)
    else:  # the driver may not even have the workers' device: no warm-up here
        log(f"plan: {len(specs)} runs ({done_before} already finished, {len(pending)} to train) x {steps_per_run} "
            f"steps in {len(packs)} packs as Ray tasks ({executor.gpus_per_pack:g} GPU, "
            f"{executor.cpus_per_pack:g} CPU each; {trainer} trainer)")
    if device.type == "cpu" and math.isfinite(plan.projected_s) and plan.projected_s > CPU_LIMIT_S and not opts.yes:
        raise ValidationError(
            f"projected {fmt_duration(plan.projected_s)} on CPU (more than {fmt_duration(CPU_LIMIT_S)}); "
            "pass --yes to start it anyway, or reduce --seeds / --steps / --epochs, or use --device cuda")

    # 4. only now: the output folder and the runs (every file below ``out`` through the one writer,
    # which never follows a link; a link where a report or plot will go is refused before training)
    out = ensure_writable(out)
    safeio.check_writable(out, [*report.REPORT_FILES, *(report.plot_names(opts.protocols) if opts.plots else ()),
                                f"runs/{shash}/settings.json", f"runs/{shash}/records.hmac",
                                *(f"runs/{shash}/{s.key}.json" for s in pending)])
    ensure_writable(run_dir, root=out)
    write_json_atomic(run_dir / "settings.json", settings, root=out)
    if done_before or run_files.ignored:
        log(f"resuming: {done_before} of {len(specs)} runs already finished in {run_dir} ({done_before} run records "
            f"trusted: their HMAC in records.hmac matches)")
    if run_files.ignored:
        log(f"warning: ignored {len(run_files.ignored)} run files in {run_dir} that this user's archlint did not write "
            f"(no matching HMAC in records.hmac: forged, copied in, or from an older archlint); they are retrained: "
            + ", ".join(sorted(run_files.ignored)[:5]) + (" ..." if len(run_files.ignored) > 5 else ""))
    if pending:
        log(f"training {len(pending)} runs in {len(packs)} packs ({trainer} trainer, {executor.name} executor)")
    jobs = [PackJob(list(pack), trainer=trainer, packed=opts.packed, batch_size=opts.batch_size, steps=opts.steps,
                    epochs=opts.epochs, compile=opts.compile, device=str(device), precision=opts.precision, index=i)
            for i, pack in enumerate(packs)]
    run_devices: set = set()

    def on_done(job, records) -> str:
        for rec in records:  # written by the driver, one atomic file per finished run
            rec["settings_hash"] = shash
            rec["finished"] = now()
            rec["executor"] = executor.name
            run_files.put(rec["key"], rec)
        run_devices.update(rec.get("gpu") or rec["device"] for rec in records)
        return "test accuracy " + ", ".join(f"{rec['test_acc']:.3f}" for rec in records)

    reporter = Reporter(len(pending), steps_per_run, enabled=opts.progress, log=log)
    try:
        executor.run(jobs, split, on_done=on_done, reporter=reporter, log=log)
    finally:
        reporter.close()

    runs = {s.key: run_files.get(s.key) for s in specs}
    provenance = {
        "dataset": {"name": ds.name, "description": ds.identity.get("description", ds.name), **dataset_id, "n_train": settings["n_train"], "n_val": settings["n_val"],
                    "n_test": settings["n_test"], "num_classes": ds.num_classes},
        "code_version": code_version(),
        "settings_hash": shash,
        "seeds": seeds,
        "device": _device_provenance(device, executor.info(), run_devices),
        "executor": executor.info(),
        "trainer": trainer,
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


class RunRecords:
    """The run files of one settings hash, each trusted only when ``records.hmac`` (written by the
    runs of this user) holds the HMAC of its exact bytes; writes go through the one writer."""

    def __init__(self, out: Path, shash: str, key_dir: Path):
        self.out, self.shash, self.rel = Path(out), shash, f"runs/{shash}"
        self.key_dir, self._key = Path(key_dir), None
        self.ignored: set[str] = set()
        self.index: dict = {}
        blob = safeio.read_bytes_nofollow(self.out, f"{self.rel}/records.hmac", 16 << 20)
        try:
            idx = json.loads(blob) if blob else {}
        except ValueError:
            idx = {}
        if isinstance(idx, dict) and isinstance(idx.get("records"), dict):
            self.index = {k: v for k, v in idx["records"].items() if isinstance(k, str) and isinstance(v, str)}

    @property
    def key(self) -> bytes:  # created on first use, so a run refused early creates nothing
        if self._key is None:
            self._key = safeio.user_key(self.key_dir)
        return self._key

    def get(self, key: str) -> dict | None:
        """A finished run under these settings, or None (missing, torn, other settings or untrusted)."""
        name = f"{key}.json"
        blob = safeio.read_bytes_nofollow(self.out, f"{self.rel}/{name}", 16 << 20)
        if blob is None:
            return None
        if not safeio.check_mac(self.key, f"{self.shash}/{name}", blob, self.index.get(key)):
            self.ignored.add(name)
            return None
        try:
            rec = json.loads(blob)
        except ValueError:
            return None
        if not isinstance(rec, dict) or rec.get("settings_hash") != self.shash:
            return None
        self.ignored.discard(name)
        return rec

    def put(self, key: str, rec: dict) -> None:
        name = f"{key}.json"
        blob = json_text(rec).encode("utf-8")
        # the index first: a run file that exists (renamed into place atomically) is always listed,
        # even when the driver is killed between the two writes
        self.index[key] = safeio.record_mac(self.key, f"{self.shash}/{name}", blob)
        safeio.write_bytes(self.out, f"{self.rel}/records.hmac",
                           json_text({"about": "HMAC-SHA256 of each run file, keyed by the writing user's "
                                               "validate-records.key; a file not listed here is not trusted",
                                      "records": self.index}).encode("utf-8"))
        safeio.write_bytes(self.out, f"{self.rel}/{name}", blob)
        self.ignored.discard(name)


def _ray_gpus(opts: Options) -> float | None:
    """GPUs per Ray task: as given, 1 with --device cuda, 0 with --device cpu, None (1 when the
    cluster has GPUs) with auto."""
    if opts.ray_gpus_per_pack is not None:
        return opts.ray_gpus_per_pack
    if str(opts.device).startswith("cuda"):
        return 1.0
    return 0.0 if opts.device == "cpu" else None


def _make_executor(opts: Options, log):
    if opts.executor == "local":
        from .executors import LocalExecutor

        return LocalExecutor()
    if opts.executor == "ray":
        from .executors import RayExecutor

        return RayExecutor(opts.ray_address, gpus_per_pack=_ray_gpus(opts), cpus_per_pack=opts.ray_cpus_per_pack,
                           max_retries=opts.ray_max_retries, log=log)
    raise ValidationError(f"unknown executor {opts.executor!r}; use local or ray")


def _device_provenance(device, executor_info: dict, run_devices: set) -> dict:
    """Where the runs trained: this process's device, or (Ray) what the workers reported."""
    from .provenance import device_info

    if executor_info.get("kind") != "ray":
        return device_info(device)
    devices = sorted(run_devices)  # 'cpu', 'cuda:0' or a GPU name per finished pack
    on_gpu = any(d != "cpu" for d in devices) or device.type == "cuda"
    info = {"device": "cuda" if on_gpu else "cpu", "executor": "ray", "run_devices": devices}
    gpus = [d for d in devices if not d.startswith(("cpu", "cuda"))]
    if gpus:
        info["gpu"] = ", ".join(gpus)
    return info
