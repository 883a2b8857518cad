"""The GPU evidence run, in one command: the seed experiment's grid (both protocols) and every
rule's reference experiment at full length, then the bundle.

    python scripts/gpu_evidence.py --data cifar10-jpeg.tar.gz --out OUT            # on one GPU
    python scripts/gpu_evidence.py --tiny --out OUT                                 # CPU smoke run

Steps (each resumes where it stopped when rerun with the same --out):
1. ``python -m archlint_validation --protocol both --device cuda --trainer fast`` on the CIFAR-10
   JPEG set (the CIFAR-100 of the 2018 protocol is not obtainable here): 1000 steps x 10 epochs,
   3 seeds, 66 runs in union packs.
2. ``python -m archlint_validation.reference --scale gpu --device cuda --workers W --gpu-only``:
   34 training pairs x 10 seeds at 2,000-3,000 steps, and the tensor-core throughput pairs (AL020,
   AL104, AL105) that only a GPU tests, W processes sharing the GPU (small networks are
   launch-bound, so several at once fill it).
3. ``archlint_validation.bundle``: ``gpu-grid-cifar10`` and ``gpu-reference`` into
   ``validation/results/`` (``--tiny`` bundles into OUT/bundle instead and never touches the
   repository's results).

The budget is 10 minutes on one H100; no GPU has run this yet, so the split (``--grid-seeds``,
``--workers``) is an estimate: the plan lines of each step print the projected time first.
``--tiny`` runs the same three steps on CPU at smoke size (2 steps, 2 seeds, the synthetic grid
and the shipped CIFAR-10 subset): the test suite runs it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], log) -> None:
    log("$ " + " ".join(cmd))
    t = time.perf_counter()
    r = subprocess.run(cmd)
    log(f"  ({time.perf_counter() - t:.0f} s, exit {r.returncode})")
    if r.returncode != 0:
        raise SystemExit(f"gpu_evidence: error: step failed: {' '.join(cmd[:4])} ... (exit {r.returncode})")


def commands(a: argparse.Namespace) -> list[list[str]]:
    py = sys.executable
    out = Path(a.out)
    if a.tiny:
        grid = [py, "-m", "archlint_validation", "--dataset", "synthetic", "--quick", "--protocol", "both",
                "--device", "cpu", "--no-plots", "--out", str(out / "grid"), "--yes"]
        ref = [py, "-m", "archlint_validation.reference", "--scale", "tiny", "--device", "cpu", "--gpu-only",
               "--workers", str(a.workers), "--out", str(out / "reference"), "--no-lint", "--yes"]
    else:
        grid = [py, "-m", "archlint_validation", "--data", a.data, "--protocol", "both", "--device", a.device,
                "--trainer", "fast", "--seeds", str(a.grid_seeds), "--out", str(out / "grid"), "--yes"]
        ref = [py, "-m", "archlint_validation.reference", "--scale", "gpu", "--device", a.device, "--gpu-only",
               "--workers", str(a.workers), "--data", a.data, "--out", str(out / "reference"), "--yes"]
    return [grid, ref]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="the CIFAR-10 JPEG set (cifar10-jpeg.tar.gz)")
    ap.add_argument("--out", default="gpu-evidence")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--grid-seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="reference-experiment processes (default 8 on GPU, 2 tiny)")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run at tiny size (the test suite)")
    ap.add_argument("--skip-grid", action="store_true")
    a = ap.parse_args(argv)
    a.workers = a.workers or (2 if a.tiny else 8)
    if not a.tiny and not a.data:
        print("gpu_evidence: error: --data PATH (the CIFAR-10 JPEG set) is required unless --tiny", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    grid, ref = commands(a)
    if not a.skip_grid:
        _run(grid, log)
    _run(ref, log)
    from archlint_validation import bundle as b

    dest = Path(a.out) / "bundle" if a.tiny else None
    names = []
    if not a.skip_grid:
        names.append(("gpu-grid-cifar10" if not a.tiny else "tiny-grid", Path(a.out) / "grid"))
    names.append(("gpu-reference" if not a.tiny else "tiny-reference", Path(a.out) / "reference"))
    for name, folder in names:
        b.bundle(name, [folder], results_dir=dest)
    log(f"gpu_evidence: done in {time.perf_counter() - t0:.0f} s; bundled {', '.join(n for n, _ in names)} into "
        f"{dest or 'validation/results/'}")
    if a.tiny and dest is not None and not (dest / "evidence.json").is_file():
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
