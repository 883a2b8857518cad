"""`archlint check` on 200 ONNX/Keras files, serial (`--jobs 1`) against
`--jobs 2`: whole-process times (median of interleaved runs) and their ratio.

    python benchmarks/jobs_bench.py [--files 200] [--runs 3] [--jobs 2]

The files are the bundled fixtures (fixtures/onnx, fixtures/keras: the
article networks and the rule fixtures), copied round-robin into a temporary
folder until there are --files of them. Both runs must print the same JSON
report and exit with the same code; the script checks that before timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def corpus(folder: Path, n: int) -> list[Path]:
    src = sorted(
        p for d in ("onnx", "keras") for p in (ROOT / "fixtures" / d).iterdir() if p.suffix in (".onnx", ".keras", ".h5")
    )
    out = []
    for i in range(n):
        p = src[i % len(src)]
        dst = folder / f"{i:03d}_{p.name}"
        shutil.copy(p, dst)
        out.append(dst)
    return out


def run(folder: Path, jobs: int) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (the process and its workers) and the result."""
    cmd = [sys.executable, "-m", "archlint.cli", "check", str(folder), "--format", "json", "--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = corpus(Path(tmp), a.files)
        kinds = sorted({p.suffix for p in files})
        *_, serial = run(Path(tmp), 1)
        *_, parallel = run(Path(tmp), a.jobs)
        if (serial.returncode, serial.stdout, serial.stderr) != (parallel.returncode, parallel.stdout, parallel.stderr):
            print("serial and parallel reports differ", file=sys.stderr)
            return 1
        times: dict[int, list[float]] = {1: [], a.jobs: []}
        cpu: dict[int, list[float]] = {1: [], a.jobs: []}
        for _ in range(a.runs):  # interleaved, so load on the machine hits both alike
            for jobs in (1, a.jobs):
                wall, c, _ = run(Path(tmp), jobs)
                times[jobs].append(wall)
                cpu[jobs].append(c)
    s, p = statistics.median(times[1]), statistics.median(times[a.jobs])
    print(f"{len(files)} files ({', '.join(kinds)}), exit code {serial.returncode}, same report serial and parallel")
    print(f"CPUs available: {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f} "
          "(a loaded machine cannot show a speed-up)")
    for jobs in (1, a.jobs):
        runs = ", ".join(f"{t:.2f}" for t in times[jobs])
        print(f"--jobs {jobs}: median {statistics.median(times[jobs]):.2f} s wall (runs: {runs}), "
              f"{statistics.median(cpu[jobs]):.2f} s CPU")
    print(f"speed-up serial/parallel: {s / p:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
