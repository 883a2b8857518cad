"""Time and memory of archlint on huge linear ONNX graphs.

    python benchmarks/big_graph_bench.py                      # 250k, 500k, 1M Relu nodes
    python benchmarks/big_graph_bench.py --sizes 100000 --op Dropout

Each size runs in a fresh subprocess, so peak RSS (``ru_maxrss``) is that
size's own. A ``Dropout`` chain sits between two convolutions, so AL001 walks
the whole chain for every dropout (the memoised walk keeps this linear).
Prints nodes, build time, lint time, microseconds per node and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chain_model(n: int, op: str = "Relu") -> bytes:
    """A serialised ONNX model: x -> [Conv] -> n ``op`` nodes -> [Conv] -> y.

    Built with repeated-field ``add()`` (no per-node helper calls), ~2 s per
    million nodes."""
    import onnx
    from onnx import TensorProto, helper

    g = onnx.GraphProto(name=f"chain_{op.lower()}_{n}")
    g.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]))
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 3, 3], [0.0] * 144)
    g.initializer.append(w)
    conv = g.node.add(op_type="Conv", name="conv_in")
    conv.input.extend(["x", "w"])
    conv.output.append("v0")
    conv.attribute.append(helper.make_attribute("pads", [1, 1, 1, 1]))
    nodes = g.node
    for i in range(n):
        nd = nodes.add()
        nd.op_type = op
        nd.name = f"{op.lower()}_{i}"
        nd.input.append(f"v{i}")
        nd.output.append(f"v{i + 1}")
    last = g.node.add(op_type="Conv", name="conv_out")
    last.input.extend([f"v{n}", "w"])
    last.output.append("y")
    last.attribute.append(helper.make_attribute("pads", [1, 1, 1, 1]))
    g.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8]))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return m.SerializeToString()


def _measure(path: str) -> None:
    """Child process: lint one file, print a JSON line of figures."""
    import resource

    sys.path.insert(0, str(ROOT))
    from archlint.api import lint_paths
    from archlint.config import Config

    import onnx  # noqa: F401 - import time is not lint time

    t0 = time.perf_counter()
    config = Config()
    config.load.time_budget = None  # measure the whole run, not the CLI's 60 s per-file budget
    r = lint_paths([path], config)
    dt = time.perf_counter() - t0
    fr = r.files[0]
    print(json.dumps({
        "seconds": dt,
        "nodes": fr.nodes,
        "error": fr.error,
        "findings": len(fr.findings),
        "codes": sorted({f.code for f in fr.findings}),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[250_000, 500_000, 1_000_000])
    ap.add_argument("--op", default="Relu", help="the chained op (Relu, Dropout, Identity, ...)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _measure(args.child)
        return 0
    print(f"{'nodes':>10} {'file MB':>8} {'build s':>8} {'lint s':>8} {'us/node':>8} {'peak RSS MiB':>13}  findings")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t0 = time.perf_counter()
            data = chain_model(n, args.op)
            build = time.perf_counter() - t0
            path = Path(tmp) / f"chain_{n}.onnx"
            path.write_bytes(data)
            del data
            out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True,
                                 check=False)
            if out.returncode != 0:
                print(f"{n:>10} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{res['nodes']:>10,} {path.stat().st_size / 1e6:>8.1f} {build:>8.1f} {res['seconds']:>8.1f} "
                  f"{1e6 * res['seconds'] / max(res['nodes'], 1):>8.1f} {res['peak_rss_mib']:>13.0f}  "
                  f"{res['findings']} {','.join(res['codes'])}{' ERROR ' + res['error'] if res['error'] else ''}")
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
