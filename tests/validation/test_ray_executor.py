"""``--executor ray`` on a local 2-worker Ray cluster (CPU): the synthetic quick grid, a worker
killed mid-grid, a driver killed mid-grid, and resume across executors.

One cluster serves the module (starting Ray costs ~10 s on a 2-core machine); a second driver
joins it by address, as ``--ray-address`` does on a real cluster.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")
psutil = pytest.importorskip("psutil")

from archlint_validation import runner as R  # noqa: E402
from archlint_validation.executors import RayExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMALL = {"rules": ["AL001"], "placements": ("before",)}  # control + 3 dropout rates, 2 seeds = 8 runs


@pytest.fixture(scope="module")
def local_ray():
    """The cluster archlint starts (loopback only, token auth), shared by the module."""
    from archlint_validation.executors import LocalRay

    local = LocalRay(num_cpus=2, log_to_driver=False, logging_level="ERROR")
    yield local
    local.shutdown()


@pytest.fixture(scope="module")
def cluster(local_ray):
    return local_ray.gcs_address


def _ray_processes() -> list:
    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def test_local_cluster_listens_on_loopback_only_with_token_auth(local_ray):
    """Every socket a Ray process of the local cluster listens on is bound to 127.0.0.1 (never ``*``
    or the machine's address), a connection to those ports through a non-loopback address is
    refused, token auth is on and the token file is private; a driver without the token cannot join."""
    import ipaddress
    import socket

    pids = {p.pid for p in _ray_processes()}
    listening = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 3  # gcs, raylet, a worker at least
    for c in listening:
        ip = ipaddress.ip_address(c.laddr.ip)
        ip = getattr(ip, "ipv4_mapped", None) or ip
        assert ip.is_loopback, (c.laddr, psutil.Process(c.pid).name())
    outside = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
               if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback]
    for addr in outside[:1]:
        for c in listening:
            with pytest.raises(OSError):
                socket.create_connection((addr, c.laddr.port), timeout=2).close()
    assert local_ray.token_auth_on()
    assert os.stat(local_ray.token_path).st_mode & 0o777 == 0o600
    assert os.stat(local_ray.token_dir).st_mode & 0o777 == 0o700
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    probe = ("import ray, sys\n"
             "try:\n    ray.init(address=sys.argv[1], logging_level='ERROR')\n"
             "    print('JOINED', ray.cluster_resources())\n"
             "except Exception as e:\n    print('REFUSED', type(e).__name__)\n")
    r = subprocess.run([sys.executable, "-c", probe, local_ray.gcs_address], env=env, capture_output=True, text=True,
                       timeout=120)
    assert "JOINED" not in r.stdout and "REFUSED" in r.stdout, r.stdout + r.stderr
    assert "Authentication token is missing or incorrect" in r.stdout + r.stderr


def _opts(out, **kw):
    base = dict(dataset="synthetic", quick=True, steps=2, epochs=2, seeds=2, batch_size=8, limit=200, test_limit=50,
                val_size=20, out=out, plots=False, progress=False)
    base.update(kw)
    return R.Options(**base)


def _run_files(out: Path) -> dict:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("runs/*/*.json")) if p.name != "settings.json"}


def _metrics(rec: dict) -> tuple:
    return rec["first_loss"], rec["train_loss"], rec["val_acc"], rec["val_loss"], rec["test_acc"], rec["test_loss"]


@pytest.fixture(scope="module")
def quick_grid(cluster, tmp_path_factory):
    """The synthetic quick grid (22 runs) trained through Ray."""
    out = tmp_path_factory.mktemp("ray-quick") / "out"
    logs = []
    every = RayExecutor.LOG_EVERY_S
    RayExecutor.LOG_EVERY_S = 0.0  # a progress line at every poll, so the test sees them
    try:
        res = R.run(_opts(out, executor="ray", progress=True), log=logs.append)
    finally:
        RayExecutor.LOG_EVERY_S = every
    return out, res, logs


def test_quick_grid_through_ray(quick_grid):
    out, res, logs = quick_grid
    files = _run_files(out)
    assert len(files) == 22 == len(res["runs"])  # the whole synthetic quick grid (11 configurations x 2 seeds), each run once
    assert {rec["executor"] for rec in files.values()} == {"ray"}
    assert len({rec["host"] for rec in files.values()}) == 1 and {rec["device"] for rec in files.values()} == {"cpu"}
    prov = res["provenance"]
    assert prov["executor"]["kind"] == "ray" and prov["executor"]["cluster_resources"]["CPU"] == 2
    assert prov["device"]["device"] == "cpu" and set(res["verdicts"]) == {"AL001", "AL002", "AL003"}
    assert any("training 22 runs in 22 packs (classic trainer, ray executor)" in m for m in logs)
    # progress is reported by the driver: every finished pack, and the run-steps done so far
    done_lines = [m for m in logs if m.startswith("ray: pack ")]
    assert len(done_lines) == 22 and "22 of 22 runs finished" in done_lines[-1]
    assert all("test accuracy" in m for m in done_lines)
    assert any(m.startswith("ray: ") and "of 88 run-steps" in m for m in logs)  # 22 runs x 2 x 2 steps


def _kill_first_task_worker(stop: threading.Event, killed: list) -> None:
    """SIGKILL the first worker process seen training a pack (Ray titles it ray::_ray_train_pack)."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "_ray_train_pack" in cmd and proc.info["pid"] != os.getpid():
                try:
                    os.kill(proc.info["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(proc.info["pid"])
                return
        time.sleep(0.02)


def test_worker_killed_mid_grid_loses_nothing_and_resume_crosses_executors(quick_grid, tmp_path):
    out = tmp_path / "mixed"
    # the quick grid's settings (steps, sizes, data) are these, so its run files are the reference
    reference = {n: r for n, r in _run_files(quick_grid[0]).items()
                 if r["spec"]["head"] == "dense1000" and r["spec"]["variant"] != "bn"
                 and r["spec"]["placement"] in ("none", "before")}
    assert len(reference) == 8
    # half the grid finished locally ...
    R.run(_opts(out, **SMALL, seeds=1))
    kept = {name: (out / "runs").glob(f"*/{name}") for name in _run_files(out)}
    kept = {name: next(paths).read_bytes() for name, paths in kept.items()}
    assert len(kept) == 4
    # ... the rest through Ray, with one worker killed while it trains a pack
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_task_worker, args=(stop, killed), daemon=True)
    killer.start()
    logs = []
    try:
        res = R.run(_opts(out, **SMALL, executor="ray"), log=logs.append)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught training"
    files = _run_files(out)
    assert sorted(files) == sorted(reference)  # every run once: the killed pack was retried
    assert any("resuming: 4 of 8" in m for m in logs) and res["provenance"]["runs_resumed"] == 4
    for name, blob in kept.items():  # runs finished by the local executor were not redone
        assert next((out / "runs").glob(f"*/{name}")).read_bytes() == blob
    for name, rec in files.items():  # same seeds, same maths: neither executor nor retry changes a run
        assert _metrics(rec) == _metrics(reference[name]), name
    assert {files[n]["executor"] for n in files if n not in kept} == {"ray"}


def test_driver_killed_mid_grid_then_resumed_locally(cluster, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    base = [sys.executable, "-m", "archlint_validation", "--dataset", "synthetic", "--quick", "--rule", "AL001",
            "--placement", "before", "--no-plots", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(base + ["--executor", "ray", "--ray-address", cluster], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not _run_files(out):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no run finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_bytes() for p in out.glob("runs/*/*.json") if p.name != "settings.json"}
    assert 1 <= len(before) < 8  # control + 3 dropout rates, 2 seeds = 8 runs
    done = subprocess.run(base + ["--executor", "local"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.read_bytes() for p in out.glob("runs/*/*.json") if p.name != "settings.json"}
    assert len(after) == 8
    assert all(after[name] == blob for name, blob in before.items())  # finished runs were not redone
    assert f"resuming: {len(before)} of 8" in done.stderr


def test_ray_errors_are_one_line(cluster, tmp_path):
    ex = RayExecutor(gpus_per_pack=None)  # auto: the CPU cluster has no GPU, so packs ask for none
    assert ex.gpus_per_pack == 0 and ex.slots() == 2 and not ex.started_here
    with pytest.raises(R.ValidationError, match="has 0 GPUs"):
        RayExecutor(gpus_per_pack=1)


def test_a_failing_pack_fails_alone(cluster):
    """A pack that raises (not a dead worker: no retry) is reported; the other packs still land."""
    from archlint_validation import data as D
    from archlint_validation.executors import PackJob
    from archlint_validation.train import RunSpec

    split = D.split_validation(D.load_synthetic(40, 10), 4)
    spec = RunSpec("faithful", "control", "none", "gap", 0)
    jobs = [PackJob([spec], trainer="bogus", steps=1, epochs=1, batch_size=4, index=0),
            PackJob([spec], trainer="classic", steps=1, epochs=1, batch_size=4, index=1)]
    landed = []
    with pytest.raises(R.ValidationError, match=r"1 of 2 packs failed .*pack 0 .*unknown trainer 'bogus'"):
        RayExecutor(gpus_per_pack=0).run(jobs, split, on_done=lambda job, recs: landed.append((job.index, recs)) or "ok")
    assert [i for i, _ in landed] == [1] and landed[0][1][0]["key"] == spec.key


def test_validate_model_runs_as_ray_tasks_and_resumes_locally(local_ray, tmp_path):
    """``validate MODEL --executor ray``: every (variant, seed) run is a Ray task built from the
    model file's graph on the worker; the driver writes the run files, so a local rerun resumes."""
    pytest.importorskip("archlint.execute")
    pytest.importorskip("archlint.fixes")
    from archlint_validation.usermodel import validate_model

    model = str(REPO / "fixtures" / "faults" / "onnx" / "softmax_single_unit.onnx")
    lines: list[str] = []
    res = validate_model(model, steps=3, seeds=2, out=tmp_path, executor="ray", log=lines.append)
    assert any(ln == "plan: 4 runs as Ray tasks (2 at a time)" for ln in lines), lines
    assert sum(ln.startswith("[") for ln in lines) == 4 and any(ln.startswith("[4/4]") for ln in lines)
    assert sorted((r["variant"], r["seed"]) for r in res["runs"]) == [
        ("fix-AL026", 0), ("fix-AL026", 1), ("original", 0), ("original", 1)]
    (c,) = res["comparisons"]
    assert c["code"] == "AL026" and c["n"] == 2
    # the original cannot learn (one-unit categorical loss): exactly 0 on the worker as in-process
    assert all(r["test_loss"] == 0.0 for r in res["runs"] if r["variant"] == "original")
    again: list[str] = []
    res2 = validate_model(model, steps=3, seeds=2, out=tmp_path, executor="local", log=again.append)
    assert any("(4 already finished)" in ln for ln in again) and not any(ln.startswith("[") for ln in again)
    assert [r["accuracy"] for r in res2["runs"]] == [r["accuracy"] for r in res["runs"]]
