"""Whole-process time of linting a ResNet-50 factory spec (median of 3 runs).

    python benchmarks/torch_bench.py [--runs 3]

Target: under 10 s on a 2-core CPU machine. Prints wall and CPU time per run
(CPU time is steadier on a shared machine), then the medians, the node count and the parameter count archlint saw.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEC = "benchmarks/resnet50_factory.py:make_model"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "archlint.cli", "check", SPEC, "--input-shape", "1x3x224x224", "--format", "json"]
    times = []
    out = ""
    cpu = []
    for i in range(args.runs):
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime)
        if r.returncode not in (0, 1):
            print(r.stderr, file=sys.stderr)
            return 2
        times.append(dt)
        out = r.stdout
        print(f"run {i + 1}: {dt:.2f} s wall, {cpu[-1]:.2f} s CPU")
    findings = json.loads(out)["findings"] if out.strip() else []
    print(f"median: {statistics.median(times):.2f} s wall, {statistics.median(cpu):.2f} s CPU  ({SPEC}, 1x3x224x224, {len(findings)} findings)")
    from archlint.frontends import LoadOptions, load_graph

    g = load_graph(SPEC, LoadOptions(input_shape=(1, 3, 224, 224)))
    print(f"graph: {len(g)} nodes, {g.total_params:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
