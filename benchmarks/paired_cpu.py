"""CPU seconds (user + sys) of two commands run in turn, A B A B ..., and the ratio A/B pair by pair.

    python benchmarks/paired_cpu.py -n 5 \
        --a "new/.venv/bin/python new/benchmarks/big_graph_bench.py --child chain.onnx" \
        --b "old/.venv/bin/python old/benchmarks/big_graph_bench.py --child chain.onnx"

Each run is a whole process, timed by the kernel's own accounting of the
finished child (``os.wait4``), so a busy machine stretches the wall clock more
than the CPU figure; alternating the two keeps a drift in the machine's speed
out of the ratio. One warm-up pair is not counted. Prints the median and the
min-max of each command's CPU seconds and of the pair ratios: run it with the
same command as A and B to see the noise (``benchmarks/results/speed_vs_9c2551f.md``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys


def cpu_seconds(cmd: list[str]) -> float:
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: findings, for ``archlint check``
        raise SystemExit(f"{shlex.join(cmd)} exited with {os.waitstatus_to_exitcode(status)}")
    return usage.ru_utime + usage.ru_stime


def row(name: str, xs: list[float]) -> str:
    return f"{name:6s} median {statistics.median(xs):8.3f}  min {min(xs):8.3f}  max {max(xs):8.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="command A (one string, split as a shell splits words)")
    ap.add_argument("--b", required=True, help="command B, the baseline")
    ap.add_argument("-n", type=int, default=5, help="counted pairs (after one warm-up pair)")
    args = ap.parse_args()
    a, b = shlex.split(args.a), shlex.split(args.b)
    cpu_seconds(a), cpu_seconds(b)
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(args.n):
        ta.append(cpu_seconds(a))
        tb.append(cpu_seconds(b))
    print(row("A s", ta))
    print(row("B s", tb))
    print(row("A/B", [x / y for x, y in zip(ta, tb, strict=True)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
