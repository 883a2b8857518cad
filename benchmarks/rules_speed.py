"""Time every rule (opt-in ones included) on the rebuilt well-known models and on
a synthetic deep residual network, to catch rules that scale badly.

    python benchmarks/rules_speed.py [--blocks 500]

Prints, per model, the node count and the slowest rules in milliseconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archlint.frontends.onnx import from_model  # noqa: E402
from archlint.rules import ALL_RULES  # noqa: E402
from archlint.rules.base import RuleContext  # noqa: E402
from fixtures.make_fixtures import Net  # noqa: E402
from fixtures.rules import well_known  # noqa: E402


def deep_residual(blocks: int):
    """conv-BN-ReLU stem, then ``blocks`` residual blocks with dropout (so AL004 walks far)."""
    net = Net(f"residual_{blocks}")
    net.conv(16, bias=False)
    net.bn()
    x = net.relu()
    for _ in range(blocks):
        net.conv(16, bias=False)
        net.bn()
        net.relu()
        net.dropout(0.1)
        net.conv(16, bias=False)
        y = net.bn()
        x = net.relu(net.add(f"{y}:0", f"{x}:0") + ":0")
    net.gap()
    net.flatten()
    net.dense(10)
    return net.model()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=500)
    args = ap.parse_args(argv)
    models = {name: make() for name, make in well_known.ALL.items()}
    models[f"residual_{args.blocks}"] = deep_residual(args.blocks)
    for name, model in models.items():
        graph = from_model(model, name)
        times = []
        for rule_cls in ALL_RULES:
            ctx = RuleContext(options=dict(rule_cls.options))
            t = time.perf_counter()
            list(rule_cls().check(graph, ctx))
            times.append(((time.perf_counter() - t) * 1000, rule_cls.code))
        times.sort(reverse=True)
        total = sum(t for t, _ in times)
        top = ", ".join(f"{c} {t:.1f}" for t, c in times[:3])
        print(f"{name:24s} {len(graph):6d} nodes  all rules {total:8.1f} ms  slowest: {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
