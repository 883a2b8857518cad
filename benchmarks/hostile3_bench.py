"""Time and peak memory of each attack of issue 17 (round three), one fresh process each.

    python benchmarks/hostile3_bench.py            # prints one row per case (a Markdown table)

Each case builds its input in a temporary folder (``tests/security/hostile3.py``), runs
``archlint check``/``show`` (console script, as a user would) or ``archlint validate`` under GNU
``/usr/bin/time`` and prints the exit code, wall time, peak RSS, the number of ``error:`` lines
and whether anything outside the requested output was written or any payload ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security import hostile, hostile3  # noqa: E402

FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"
ARCHLINT = [str(Path(sys.executable).with_name("archlint"))]


def run_measured(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, int, str, int, float]:
    """Wall seconds, peak RSS MiB (GNU time's %M), exit code, first error line, error lines, CPU
    seconds (user + system: what the wall time is on an idle machine, for single-threaded work)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with tempfile.NamedTemporaryFile(suffix=".txt") as rss:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-o", rss.name, "-f", "%M %U %S", *args], cwd=cwd, env=env,
                           capture_output=True, timeout=900)
        wall = time.perf_counter() - t0
        kb, user, sys_s = Path(rss.name).read_text().split()[-3:]
        kb, cpu = int(kb), float(user) + float(sys_s)
    err = p.stderr.decode(errors="replace").splitlines()
    errors = [ln for ln in err if "error:" in ln]
    return wall, kb / 1024, p.returncode, (errors or [""])[0][:120], len(errors), cpu


def cases(d: Path) -> list[tuple[str, list[str], Path, dict, callable]]:
    out = []
    marker = d / "PWNED"
    # baselines under the same load: validate's time is mostly importing torch
    out.append(("baseline: python -c 'import torch'", [sys.executable, "-c", "import torch"], d, {}, lambda: ""))
    out.append(("baseline: archlint check of a clean .onnx", [*ARCHLINT, "check", str(FIXTURE)], d, {}, lambda: ""))

    def nothing_ran() -> str:
        return "payload ran!" if marker.exists() else "no payload ran"

    # -- validate: datasets are data
    (d / "any-name.tar.gz").write_bytes(hostile3.cifar10_tarball(hostile3.evil_cifar_batch(marker)))
    out.append(("validate: CIFAR batch payload, tarball of any name", [*ARCHLINT, "validate", "--data", "any-name.tar.gz",
                "--quick", "--no-plots", "--out", "o1", "--cache-dir", "c"], d, {}, nothing_ran))
    folder = d / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / n).write_bytes(hostile3.evil_cifar_batch(marker, where="batch"))
    out.append(("validate: CIFAR batch payload, folder", [*ARCHLINT, "validate", "--data", "cifar", "--quick",
                "--no-plots", "--out", "o2", "--cache-dir", "c"], d, {}, nothing_ran))
    (d / "bomb.tar.gz").write_bytes(hostile3.imagefolder_tarball(hostile3.solid_png(9000, 9000), n_bad=6))
    out.append(("validate: 6 solid 9000x9000 PNGs (tarball %d KB)" % ((d / "bomb.tar.gz").stat().st_size // 1024),
                [*ARCHLINT, "validate", "--data", "bomb.tar.gz", "--quick", "--no-plots", "--out", "o3", "--cache-dir",
                 "c"], d, {}, lambda: ""))
    (d / "hdr.tar.gz").write_bytes(hostile3.imagefolder_tarball(hostile3.png_header_only(40_000, 40_000)))
    out.append(("validate: PNG header claiming 40000x40000", [*ARCHLINT, "validate", "--data", "hdr.tar.gz", "--quick",
                "--no-plots", "--out", "o4", "--cache-dir", "c"], d, {}, lambda: ""))
    repo = d / "repo"
    (repo / "archlint-validate").mkdir(parents=True)
    victim = d / "victim.png"
    victim.write_bytes(b"precious")
    (repo / "archlint-validate" / "final_accuracy_faithful.png").symlink_to("../../victim.png")
    out.append(("validate: plot path is a planted link (default --out)", [*ARCHLINT, "validate", "--dataset", "synthetic",
                "--quick", "--rule", "AL001", "--placement", "before", "--cache-dir", str(d / "c")], repo, {},
                lambda: "victim untouched" if victim.read_bytes() == b"precious" else "VICTIM WRITTEN"))
    # -- check: report-time budgets
    (d / "deep.onnx").write_bytes(hostile3.onnx_deep_names())
    out.append(("check --format html: 6 names of 20,000 dotted parts (240 KB .onnx)", [*ARCHLINT, "check", "deep.onnx",
                "--format", "html", "-o", "deep.html"], d, {}, lambda: ""))
    (d / "dense.onnx").write_bytes(hostile3.onnx_dense_views(views=12, width=60))
    out.append(("check --format html: 12 dense 120-node views", [*ARCHLINT, "check", "dense.onnx", "--format", "html",
                "-o", "dense.html"], d, {}, lambda: ""))
    (d / "memo.pt").write_bytes(hostile3.memoize_pt())
    out.append(("check: .pt of 40 M MEMOIZE opcodes (%d KB)" % ((d / "memo.pt").stat().st_size // 1024),
                [*ARCHLINT, "check", "memo.pt"], d, {}, lambda: ""))
    from archlint.frontends._limits import MAX_JSON_CONTAINERS

    (d / "tc.h5").write_bytes(hostile3.h5_with_training_config("[" + "[]," * (MAX_JSON_CONTAINERS + 10) + "[]]"))
    out.append(("check: .h5 training_config of 2 M empty lists", [*ARCHLINT, "check", "tc.h5"], d, {}, lambda: ""))
    for i in range(3):
        with open(d / f"sparse{i}.onnx", "wb") as f:
            f.truncate(1200 << 20)
    out.append(("check: three sparse 1.2 GB .onnx", [*ARCHLINT, "check", "sparse0.onnx", "sparse1.onnx", "sparse2.onnx"],
                d, {}, lambda: ""))
    (d / "m[").mkdir()
    shutil.copy(FIXTURE, d / "m[" / "].onnx")
    out.append(("show m[/].onnx", [*ARCHLINT, "show", "m[/].onnx"], d, {}, lambda: ""))
    site = d / "site"
    (site / "installedpkg").mkdir(parents=True)
    (site / "installedpkg" / "__init__.py").write_text("")
    (site / "installedpkg" / "mod.py").write_text(
        "import colorsys\nimport torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Linear(4, 2))\n")
    spec_cwd = d / "speccwd"
    spec_cwd.mkdir()
    (spec_cwd / "colorsys.py").write_text(f"open({str(marker)!r}, 'w')\n")
    out.append(("check installedpkg.mod:make with a colorsys.py in the cwd", [*ARCHLINT, "check", "installedpkg.mod:make",
                "--input-shape", "1x4"], spec_cwd, {"PYTHONPATH": str(site)}, nothing_ran))
    jobs = d / "jobs"
    (jobs / "models").mkdir(parents=True)
    for i in range(12):
        shutil.copy(FIXTURE, jobs / "models" / f"m{i}.onnx")
    (jobs / "killer.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nnet = None\n")
    out.append(("check --jobs 2: 12 models + a spec that kills its worker", [*ARCHLINT, "check", "models", "killer.py:net",
                "--jobs", "2"], jobs, {}, lambda: ""))
    sel = d / "sel"
    (sel / "models").mkdir(parents=True)
    for i in range(10):
        shutil.copy(FIXTURE, sel / "models" / f"m{i}.onnx")
    (sel / "archlint.toml").write_text("select = [" + ", ".join(['"AL001"'] * 200_000) + "]\n")
    out.append(("check: 200,000-entry select list, 10 files", [*ARCHLINT, "check", "models", "--config", "archlint.toml"],
                sel, {}, lambda: ""))
    import onnx

    m = onnx.load(str(FIXTURE))
    for n in m.graph.node:
        n.name = n.name + "\u202e\x9b31m"
    onnx.save(m, str(d / "bidi.onnx"))
    out.append(("check --format netron: C1 and bidi in names", [*ARCHLINT, "check", "bidi.onnx", "--format", "netron",
                "-o", "bidi.json"], d, {},
                lambda: "raw controls in output" if any(c in (d / "bidi.json").read_text() for c in "\u202e\x9b")
                else "escaped"))
    cfg = {"class_name": "Functional", "config": {"name": "f", "layers": [
        {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 4], "name": "x"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": ["d"], "config": {"name": "d", "units": 3}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [[["d"], 0, 0]]}}
    (d / "idx.keras").write_bytes(hostile.keras_zip(cfg))
    out.append(("check: Keras config that raised IndexError", [*ARCHLINT, "check", "idx.keras"], d, {}, lambda: ""))
    return out


def forged_records(d: Path) -> tuple[float, float, int, str, int, float, str]:
    """Train the quick grid once, forge one record (test_acc 0.999), time the resume."""
    out, cache = d / "forge-out", d / "forge-cache"
    args = [*ARCHLINT, "validate", "--dataset", "synthetic", "--quick", "--rule", "AL001", "--placement", "before",
            "--no-plots", "--out", str(out), "--cache-dir", str(cache)]
    subprocess.run(args, cwd=d, capture_output=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    rec = sorted(p for p in out.glob("runs/*/*.json") if p.name != "settings.json")[0]
    doc = json.loads(rec.read_text())
    doc["test_acc"] = 0.999
    rec.write_text(json.dumps(doc))
    wall, rss, rc, first, n, cpu = run_measured(args, d)
    res = json.loads((out / "results.json").read_text())
    accs = [a for v in res["variants"] for a in v["test_acc"]]
    return wall, rss, rc, first, n, cpu, ("forged value absent" if 0.999 not in accs else "FORGED VALUE REPORTED")


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| case | exit | wall | CPU (user+sys) | peak RSS | error lines | other checks |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, args, cwd, env, check in cases(d):
            wall, rss, rc, first, n, cpu = run_measured(args, cwd, env)
            print(f"| {name} | {rc} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MiB | {n} | {check()} |  <!-- {first} -->",
                  flush=True)
        wall, rss, rc, first, n, cpu, note = forged_records(d)
        print(f"| validate: resume with a forged run record (retrains that one run) | {rc} | {wall:.2f} s | {cpu:.2f} s "
              f"| {rss:.0f} MiB | {n} | {note} |", flush=True)


if __name__ == "__main__":
    main()
