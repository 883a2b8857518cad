"""Where packs train: in this process (``local``) or as Ray tasks (``ray``).

A pack is a :class:`PackJob`; :func:`train_pack` turns one into finished run records, wherever it
runs. An executor only schedules: the driver (the process that runs ``archlint validate``) gets
each pack's records back as soon as the pack finishes and writes every run to its own atomic file
(``runner.run``), so both executors share one run folder, a grid started with one resumes with
the other, and a killed worker or driver loses only the packs that were still training.

Ray (``pip install 'archlint[ray]'``): every pack is one task asking for ``num_gpus`` (default 1
when ``--device cuda``; a fraction such as 0.5 puts two packs on one GPU) and ``num_cpus``.
``--ray-address auto`` joins the cluster this machine belongs to (``ray start --head`` on a
multi-GPU node, a Ray cluster, KubeRay on Kubernetes, ``ray start`` inside a Slurm allocation);
no address starts a local Ray instance on this machine, locked down: every Ray process binds
127.0.0.1 only, no dashboard, token authentication on with a fresh random token in a 0600 file
inside a 0700 temporary folder (removed at the end), so no other machine can reach it and another
local user cannot join it. ``--ray-address`` is the explicit way to use a remote cluster: its
security (network exposure, ``RAY_AUTH_MODE=token``, TLS) is the cluster's, and joining it runs
archlint's training code there (docs/security.md). Ray retries a task whose worker process
dies (``--ray-max-retries``, default 3); the retry trains the pack again from its first step,
with the same data order and dropout draws. Progress is counted on the driver: workers report
finished steps to one small actor every second or so, and the driver's bar polls it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .errors import ValidationError
from .train import RunSpec


@dataclass
class PackJob:
    """One pack and everything a worker needs to train it (the data split travels separately)."""

    specs: list[RunSpec]
    trainer: str = "classic"  # classic (train_single / train_packed) | fast (train_union)
    packed: bool = True
    batch_size: int = 80
    steps: int = 1000
    epochs: int = 10
    compile: bool = False
    device: str = "auto"
    threads: int | None = None
    precision: str = "fp32"
    channels_last: bool = True
    cuda_graph: bool = True
    index: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        kinds = sorted({f"{s.variant}@{s.placement}" for s in self.specs})
        protos = sorted({s.protocol for s in self.specs})
        return f"{'+'.join(protos)}: {', '.join(kinds)}"


def train_pack(job: PackJob, split, on_step: Callable[[int], None] | None = None,
               log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Train one pack; returns one JSON-ready record per run (not yet written anywhere).
    ``on_step(k)``: k more optimizer steps of the pack (each step advances all its runs)."""
    import torch

    from .devices import device_data, resolve_device
    from .train import TrainConfig, train_packed, train_single

    if job.threads:
        torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    cfg = TrainConfig(protocol=job.specs[0].protocol, batch_size=job.batch_size, steps_per_epoch=job.steps,
                      epochs=job.epochs, compile=job.compile)
    step = on_step or (lambda k: None)
    m = len(job.specs)
    if job.trainer == "fast":
        from .fast_trainer import FastOptions, train_reference, train_union

        if m == 1 and device.type == "cpu":  # the plain network is the faster path on CPU
            spec = job.specs[0]
            results = [train_reference(spec, device_data(split, spec.protocol, device), cfg, on_step=step)]
        else:
            datas = {p: device_data(split, p, device) for p in sorted({s.protocol for s in job.specs})}
            opts = FastOptions(precision=job.precision, channels_last=job.channels_last, compile=job.compile,
                               cuda_graph=job.cuda_graph)
            results = train_union(job.specs, datas, cfg, options=opts, on_step=step, log=log)
    elif job.trainer == "classic":
        dd = device_data(split, job.specs[0].protocol, device)
        if m == 1 and not job.packed:
            results = [_train_single_with_symptoms(job.specs[0], dd, cfg, step)]
        else:
            results = train_packed(job.specs, dd, cfg, on_step=step)
    else:
        raise ValidationError(f"unknown trainer {job.trainer!r}; use classic or fast")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    records = []
    for r in results:
        rec = dataclasses.asdict(r)
        rec["spec"] = dataclasses.asdict(r.spec)
        rec["key"] = r.spec.key
        rec["device"] = str(device)
        rec["host"] = socket.gethostname()
        rec["trainer"] = job.trainer
        if gpu:
            rec["gpu"] = gpu
        if getattr(r, "symptoms", None) is not None:
            rec["symptoms"] = r.symptoms
        records.append(rec)
    return records


def _train_single_with_symptoms(spec, dd, cfg, step):
    """``train_single`` with the symptom probes of ``symptoms.py`` at initialisation and at the end.
    The probes run in eval mode (no dropout draw, no batch-norm statistics update), so the run's
    numbers are the same as without them."""
    from torch.nn import functional as F

    from . import symptoms as sym
    from .train import init_single, train_single

    model = init_single(spec, dd.num_classes, dd.device)
    idx = slice(0, min(80, len(dd.y["train"])))
    x, y = dd.images("train", idx), dd.y["train"][idx]

    def probe():
        model.eval()
        try:
            return sym.probe(model, lambda: F.cross_entropy(model(x), y))
        finally:
            model.train()

    first = probe()
    losses: list[float] = []
    res = train_single(spec, dd, cfg, model=model, on_step=step, record_losses=losses)
    res.symptoms = sym.diagnose([first, probe()], losses)
    return res


class LocalExecutor:
    """Packs one after another, in this process."""

    name = "local"
    gpus_per_pack = 0.0

    def slots(self) -> int:
        return 1

    def run(self, jobs: Sequence[PackJob], split, *, on_done: Callable[[PackJob, list], str], reporter,
            log: Callable[[str], None] = lambda s: None) -> None:
        for job in jobs:
            reporter.start(f"{job.specs[0].protocol} " + ", ".join(f"{s.variant}@{s.placement} s{s.seed}"
                                                                   for s in job.specs), len(job.specs))
            reporter.finish(on_done(job, train_pack(job, split, reporter.advance, log)))

    def info(self) -> dict:
        return {"kind": "local"}

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# Ray


def _ray():
    try:
        import ray
    except ImportError:
        raise ValidationError("--executor ray needs Ray: pip install 'archlint[ray]'") from None
    return ray


_LOCAL_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")


class LocalRay:
    """Start a local Ray instance reachable only from this machine and only with its token.

    * Ray resolves ``127.0.0.1`` to the machine's network address on Linux clusters; with
      ``ENABLE_RAY_CLUSTER`` off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, what Ray does on macOS and
      Windows) the node address is the loopback one, and the GCS, raylet, object manager and workers
      bind it instead of ``*``.
    * ``RAY_AUTH_MODE=token`` with ``RAY_AUTH_TOKEN_PATH`` pointing at a fresh 0600 file: Ray never
      writes its default ``~/.ray/auth_token`` (which it creates with the umask's mode).
    """

    def __init__(self, num_cpus: int | None = None, **kwargs):
        import secrets
        import tempfile

        ray = _ray()
        self.ray = ray
        self.saved_env = {k: os.environ.get(k) for k in _LOCAL_ENV}
        self.token_dir = tempfile.mkdtemp(prefix="archlint-ray-")  # 0700
        self.token_path = os.path.join(self.token_dir, "auth_token")
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=self.token_path,
                          RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
        try:
            from ray._private import ray_constants

            self.saved_cluster = ray_constants.ENABLE_RAY_CLUSTER
            ray_constants.ENABLE_RAY_CLUSTER = False  # read at call time: the node address is loopback
            try:
                from ray._raylet import Config

                Config.initialize("")  # ray may be imported already: make it read RAY_AUTH_MODE again
            except Exception:  # noqa: BLE001 - an older Ray without token auth is refused below
                pass
            self.context = ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", include_dashboard=False,
                                    **kwargs)
            if not self.token_auth_on():
                ray.shutdown()
                raise ValidationError(f"Ray {ray.__version__} cannot start a cluster with token authentication; "
                                      "archlint needs ray>=2.59 (pip install -U 'archlint[ray]')")
        except BaseException:
            self._restore()
            raise

    def token_auth_on(self) -> bool:
        try:
            from ray._raylet import AuthenticationMode, get_authentication_mode

            return get_authentication_mode() == AuthenticationMode.TOKEN
        except ImportError:
            return False

    @property
    def gcs_address(self) -> str:
        return self.context.address_info["gcs_address"]

    def _restore(self) -> None:
        import shutil

        for k, v in self.saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        try:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = getattr(self, "saved_cluster", ray_constants.ENABLE_RAY_CLUSTER)
        except ImportError:
            pass
        shutil.rmtree(self.token_dir, ignore_errors=True)

    def shutdown(self) -> None:
        self.ray.shutdown()
        self._restore()


def _task_error(e: BaseException) -> str:
    """'Type: first line' of a failed task's own exception (not Ray's wrapper around it)."""
    cause = getattr(e, "cause", None) or e
    text = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {text}"


class RayExecutor:
    """Packs as Ray tasks; the driver writes the results as tasks finish."""

    name = "ray"
    REPORT_EVERY_S = 1.0  # workers -> progress actor
    LOG_EVERY_S = 10.0  # driver -> log

    def __init__(self, address: str | None = None, *, gpus_per_pack: float | None = 0.0, cpus_per_pack: float = 1.0,
                 max_retries: int = 3, num_cpus: int | None = None, log: Callable[[str], None] = lambda s: None):
        ray = _ray()
        self.ray = ray
        self.cpus_per_pack, self.max_retries = cpus_per_pack, max_retries
        self.started_here = False
        self.local: LocalRay | None = None
        if not ray.is_initialized():
            quiet = dict(log_to_driver=False, logging_level="ERROR", configure_logging=True)
            try:
                if address:  # the user's explicit choice: that cluster's own security applies
                    ray.init(address=address, include_dashboard=False, **quiet)
                else:
                    self.local = LocalRay(num_cpus=num_cpus, **quiet)
            except ConnectionError as e:
                raise ValidationError(f"cannot join the Ray cluster at {address!r}: {e}") from None
            self.started_here = True
        self.resources = ray.cluster_resources()
        if gpus_per_pack is None:  # --device auto: one GPU per pack when the cluster has any
            gpus_per_pack = 1.0 if self.resources.get("GPU", 0) >= 1 else 0.0
        self.gpus_per_pack = gpus_per_pack
        log(f"ray: {'joined ' + address if address else 'local instance'}; "
            f"{int(self.resources.get('CPU', 0))} CPUs, {int(self.resources.get('GPU', 0))} GPUs")
        if gpus_per_pack > 0 and self.resources.get("GPU", 0) < gpus_per_pack:
            raise ValidationError(f"the Ray cluster has {self.resources.get('GPU', 0):g} GPUs; a pack asks for "
                                  f"{gpus_per_pack:g} (use --device cpu or --ray-gpus-per-pack)")

    def device_kind(self) -> str:
        """'cpu', or 'cuda:<GPU name>' as a worker with a GPU sees it (settings keep hardware apart)."""
        if self.gpus_per_pack <= 0:
            return "cpu"
        from .provenance import device_kind

        probe = self.ray.remote(num_gpus=min(self.gpus_per_pack, 1.0), num_cpus=0)(lambda: device_kind("cuda"))
        return self.ray.get(probe.remote())

    def slots(self) -> int:
        """How many packs the cluster can train at once (used to split the grid into packs)."""
        if self.gpus_per_pack > 0:
            return max(1, int(self.resources.get("GPU", 0) / self.gpus_per_pack))
        return max(1, int(self.resources.get("CPU", 1) / max(self.cpus_per_pack, 1e-9)))

    def info(self) -> dict:
        return {"kind": "ray", "ray": self.ray.__version__, "gpus_per_pack": self.gpus_per_pack,
                "cpus_per_pack": self.cpus_per_pack, "cluster_resources": {k: v for k, v in self.resources.items()
                                                                           if k in ("CPU", "GPU")}}

    def run(self, jobs: Sequence[PackJob], split, *, on_done: Callable[[PackJob, list], str], reporter=None,
            log: Callable[[str], None] = lambda s: None) -> None:
        """Submit every pack, then collect them as they finish. Progress lines come from the driver:
        one per finished pack, and the steps done so far (all packs) every ``LOG_EVERY_S``."""
        ray = self.ray
        if not jobs:
            return
        progress = ray.remote(num_cpus=0)(_Progress).remote()
        split_ref = ray.put(split)
        task = ray.remote(_ray_train_pack).options(
            num_gpus=self.gpus_per_pack, num_cpus=self.cpus_per_pack, max_retries=self.max_retries,
            retry_exceptions=False)
        threads = max(1, int(self.cpus_per_pack))
        refs = {}
        for job in jobs:
            job = dataclasses.replace(job, device="cuda" if self.gpus_per_pack > 0 else "cpu",
                                      threads=job.threads or threads)
            refs[task.remote(job, split_ref, progress, self.REPORT_EVERY_S)] = job
        total_steps = sum(len(j.specs) * j.steps * j.epochs for j in jobs)
        total_runs = sum(len(j.specs) for j in jobs)
        failures, runs_done = [], 0
        t0 = last_log = time.monotonic()
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                job = refs[ref]
                try:
                    records = ray.get(ref)
                except (ray.exceptions.RayError, ValidationError) as e:
                    failures.append(f"pack {job.index} ({job.label}): {_task_error(e)}")
                    continue
                summary = on_done(job, records)
                runs_done += len(records)
                log(f"ray: pack {job.index + 1} of {len(jobs)} done ({len(records)} runs; {summary}); "
                    f"{runs_done} of {total_runs} runs finished")
            if reporter is None or getattr(reporter, "enabled", True):
                now = time.monotonic()
                if pending and now - last_log >= self.LOG_EVERY_S:
                    last_log = now
                    done = ray.get(progress.total.remote())
                    frac = done / total_steps if total_steps else 0.0
                    eta = (now - t0) / frac * (1 - frac) if frac > 0 else float("nan")
                    log(f"ray: {done} of {total_steps} run-steps ({frac:.0%}), {len(pending)} packs left"
                        + (f", about {eta:.0f} s to go" if eta == eta else ""))
        ray.kill(progress)
        if failures:
            raise ValidationError(f"{len(failures)} of {len(jobs)} packs failed (finished runs are kept; rerun to "
                                  f"resume): " + "; ".join(failures))

    def map(self, fn: Callable, items: Sequence, *, on_done: Callable[[object, object], None],
            log: Callable[[str], None] = lambda s: None, shared=None) -> None:
        """Run ``fn(shared, item)`` for every item as Ray tasks (one CPU each, or ``gpus_per_pack``
        GPUs) and call ``on_done(item, result)`` on the driver as each finishes; ``shared`` (the
        data) is put in the object store once. Failed tasks are collected and raised together after
        the others finished, so every finished result has been handed to ``on_done``."""
        ray = self.ray
        if not items:
            return
        shared_ref = ray.put(shared)
        task = ray.remote(fn).options(num_gpus=self.gpus_per_pack, num_cpus=self.cpus_per_pack,
                                      max_retries=self.max_retries, retry_exceptions=False)
        refs = {task.remote(shared_ref, item): item for item in items}
        failures = []
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayError, ValidationError) as e:
                    failures.append(f"{refs[ref]}: {_task_error(e)}")
                    continue
                on_done(refs[ref], result)
        if failures:
            raise ValidationError(f"{len(failures)} of {len(items)} Ray tasks failed (finished runs are kept; rerun "
                                  f"to resume): " + "; ".join(failures))

    def close(self) -> None:
        if self.local is not None:
            self.local.shutdown()
        elif self.started_here:
            self.ray.shutdown()


class _Progress:
    """Steps finished per pack, counting only each pack's latest attempt (a retried pack starts over)."""

    def __init__(self):
        self.steps: dict = {}

    def add(self, pack: int, attempt: str, k: int) -> None:
        prev_attempt, n = self.steps.get(pack, (attempt, 0))
        self.steps[pack] = (attempt, (n if prev_attempt == attempt else 0) + k)

    def total(self) -> int:
        return sum(n for _a, n in self.steps.values())


def _ray_train_pack(job: PackJob, split, progress, every_s: float) -> list[dict]:
    attempt = f"{os.getpid()}-{time.monotonic_ns()}"
    pending = [0, time.monotonic()]

    m = len(job.specs)

    def on_step(k: int) -> None:  # k steps of the pack = k * m run-steps
        pending[0] += k * m
        now = time.monotonic()
        if now - pending[1] >= every_s:
            progress.add.remote(job.index, attempt, pending[0])
            pending[0], pending[1] = 0, now

    records = train_pack(job, split, on_step)
    if pending[0]:
        progress.add.remote(job.index, attempt, pending[0])
    return records
