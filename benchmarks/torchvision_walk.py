"""Every torchvision classification builder, linted as `archlint check torchvision.models:NAME`
with no options, in one process (random weights): a table and the totals.

    OMP_NUM_THREADS=1 python benchmarks/torchvision_walk.py [--only resnet50,vit_b_16] [--json out.json]

Prints, per builder: the input archlint assumed, the capture used (fx, export) and the mode
(train, or eval where training mode cannot run), nodes, parameters, findings by severity and
the seconds it took; then the failures (none expected) and the whole walk's time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def builders() -> list[str]:
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated builder names")
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    args = ap.parse_args()
    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.errors import LoadError
    from archlint.frontends import LoadOptions, load_graph

    t_all = time.perf_counter()
    names = args.only.split(",") if args.only else builders()
    rows, failures = [], []
    print(f"{'builder':28} {'input':>14} {'capture':>12} {'mode':>5} {'nodes':>6} {'params':>12} {'warn+':>5} {'info':>4} {'s':>6}")
    for name in names:
        t0 = time.perf_counter()
        try:
            g = load_graph(f"torchvision.models:{name}", LoadOptions())
        except LoadError as e:
            failures.append((name, e.problem))
            print(f"{name:28} FAILED: {e.problem[:150]}")
            continue
        dt = time.perf_counter() - t0
        found = check_graph(g, Config())
        warn = sum(f.severity.label in ("warning", "error") for f in found)
        info = len(found) - warn
        note = next((n for n in g.meta.get("notes", []) if n.startswith("assumed input")), "")
        shape = note.split(" ")[3] if note.startswith("assumed input shape") else "?"
        row = {"builder": name, "input": shape, "capture": g.meta.get("capture"), "mode": g.meta.get("capture_mode"),
               "nodes": len(g), "params": g.total_params, "warnings": warn, "infos": info, "seconds": round(dt, 2)}
        rows.append(row)
        print(f"{name:28} {shape:>14} {row['capture']:>12} {row['mode']:>5} {len(g):>6} {g.total_params:>12,} {warn:>5} {info:>4} {dt:>6.2f}")
    total = time.perf_counter() - t_all
    modes = {m: sum(r["mode"] == m for r in rows) for m in ("train", "eval")}
    caps = {c: sum(r["capture"] == c for r in rows) for c in sorted({r["capture"] for r in rows})}
    print(f"\n{len(rows)} of {len(names)} builders loaded, {len(failures)} failed; modes {modes}; captures {caps}; "
          f"whole walk {total:.1f} s (one process, including imports)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "failures": failures, "seconds": round(total, 1)}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
