"""Whole-process wall time of ``archlint check`` on a 300-layer Keras 3 .h5.

    python benchmarks/keras_bench.py [--runs 5] [--blocks 100]

Writes a Keras 3 Sequential model of ``blocks`` conv-BN-relu blocks
(3 layers each) plus a GAP-Dense head as an .h5 (model_config only, as
``model.save`` writes it), then times ``python -m archlint.cli check`` on it in
fresh processes and prints the median wall time (target: under 0.5 s), with
the CPU time (user + sys) of the same runs and of a bare ``python -c pass``,
which say more than wall time on a loaded machine (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.zoo.keras_build import to_keras_config, write_h5  # noqa: E402


def spec(blocks: int) -> list[dict]:
    layers: list[dict] = []
    for i in range(1, blocks + 1):
        layers += [
            dict(name=f"conv{i}", op="conv", filters=32, bias=False),
            dict(name=f"bn{i}", op="bn"),
            dict(name=f"relu{i}", op="relu"),
        ]
    return layers + [dict(name="gap", op="gap"), dict(name="fc", op="dense", units=10)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=100)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_h5(Path(tmp) / "deep.h5", to_keras_config(spec(args.blocks), name="deep"))
        cmd = [sys.executable, "-m", "archlint.cli", "check", str(path)]
        times, cpu = timed(cmd, args.runs)
        if times is None:
            return 2
        size = path.stat().st_size
    _, base_cpu = timed([sys.executable, "-c", "pass"], args.runs)
    med = statistics.median(times)
    print(f"archlint check on a {3 * args.blocks + 2}-layer Keras .h5 ({size:,} bytes): "
          f"median {med:.3f} s wall over {args.runs} runs (min {min(times):.3f}, max {max(times):.3f}); target < 0.5 s")
    print(f"  CPU (user+sys) median {statistics.median(cpu):.3f} s; bare 'python -c pass' "
          f"{statistics.median(base_cpu or [0]):.3f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


def timed(cmd: list[str], runs: int) -> tuple[list[float] | None, list[float]]:
    """Wall and CPU seconds of ``runs`` fresh processes of ``cmd``."""
    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if r.returncode not in (0, 1):
            print(r.stderr, file=sys.stderr)
            return None, cpus
    return walls, cpus


if __name__ == "__main__":
    sys.exit(main())
