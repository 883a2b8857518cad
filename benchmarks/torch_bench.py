"""Whole-process time of `archlint check` on PyTorch factories, beside `python -c "import torch"`.

    OMP_NUM_THREADS=1 python benchmarks/torch_bench.py [--runs 3] [--only resnet50,llama4,llama7b]

Runs each command `--runs` times, interleaved (the machine's load changes; interleaving
spreads it over all commands), and prints per command the median wall time, the median CPU
time (user + system of the child: steadier on a shared machine), the peak RSS and, for the
factories, the ratio to `import torch` (wall and CPU). Targets: ResNet-50 <= 1.5x `import torch`;
the 7B Llama on the meta device < 60 s and < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECK = [sys.executable, "-m", "archlint.cli", "check", "--format", "json"]
COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "resnet50": [*CHECK, "benchmarks/resnet50_factory.py:make_model", "--input-shape", "1x3x224x224"],
    "llama4": [*CHECK, "benchmarks/llama4_factory.py:make_model"],
    "llama7b": [*CHECK, "benchmarks/llama7b_meta_factory.py:make_model"],
}


def run_child(cmd: list[str]) -> tuple[float, float, int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # read the pipes while waiting, then reap with wait4 to get this child's own rusage
    import threading

    bufs: dict[str, str] = {}
    readers = [threading.Thread(target=lambda k=k, s=s: bufs.__setitem__(k, s.read())) for k, s in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    for r in readers:
        r.join()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{bufs.get('err', '')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, bufs.get("out", "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="resnet50,llama4,llama7b", help="factories to time (import torch is always timed)")
    args = ap.parse_args()
    names = ["import torch", *args.only.split(",")]
    res: dict[str, list[tuple[float, float, int]]] = {n: [] for n in names}
    info: dict[str, str] = {}
    for _ in range(args.runs):
        for n in names:
            wall, cpu, rss, out = run_child(COMMANDS[n])
            res[n].append((wall, cpu, rss))
            if n != "import torch" and out.strip():
                f = json.loads(out)["files"][0]
                cov = f.get("coverage") or {}
                info[n] = f"{cov.get('nodes', '?')} nodes, {f.get('findings')} findings, notes: {'; '.join(f.get('notes', [])) or '-'}"
    base_w = statistics.median(w for w, _, _ in res["import torch"])
    base_c = statistics.median(c for _, c, _ in res["import torch"])
    print(f"{'command':14} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10} {'x import torch (wall / CPU)':>28}")
    for n in names:
        w = statistics.median(x[0] for x in res[n])
        c = statistics.median(x[1] for x in res[n])
        rss = max(x[2] for x in res[n])
        ratio = "" if n == "import torch" else f"{w / base_w:.2f} / {c / base_c:.2f}"
        print(f"{n:14} {w:8.2f} {c:8.2f} {rss / 2**20:8.0f} MB {ratio:>28}")
    for n, text in info.items():
        print(f"  {n}: {text}")
    print(f"(median of {args.runs} interleaved runs; load average {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
