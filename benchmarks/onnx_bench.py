"""Whole-process time of `archlint check` on a ResNet-50-sized ONNX file,
beside the time of just `onnx.load` on it, and their ratio.

    python benchmarks/onnx_bench.py [--runs 5] [--keep PATH]

The model is built with onnx.helper (no torch): ResNet-50 v1.5 topology,
25.6 M parameters stored inline as float32 (about 102 MB).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def resnet50(path: Path, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = {"n": 0}

    def uid(base: str) -> str:
        count["n"] += 1
        return f"{base}_{count['n']}"

    def w(name: str, shape: tuple[int, ...]) -> str:
        inits.append(numpy_helper.from_array(rng.standard_normal(shape, dtype=np.float32) * 0.01, name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, s: int, name: str) -> str:
        out = f"{name}:0"
        nodes.append(helper.make_node("Conv", [x, w(f"{name}.weight", (cout, cin, k, k))], [out], name=name,
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        return out

    def bn(x: str, c: int, name: str) -> str:
        out = f"{name}:0"
        ins = [x] + [w(f"{name}.{p}", (c,)) for p in ("weight", "bias", "running_mean", "running_var")]
        nodes.append(helper.make_node("BatchNormalization", ins, [out], name=name, epsilon=1e-5))
        return out

    def relu(x: str) -> str:
        name = uid("relu")
        nodes.append(helper.make_node("Relu", [x], [f"{name}:0"], name=name))
        return f"{name}:0"

    x = relu(bn(conv("input", 3, 64, 7, 2, "conv1"), 64, "bn1"))
    nodes.append(helper.make_node("MaxPool", [x], ["maxpool:0"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, cin = "maxpool:0", 64
    for li, (blocks, width, stride) in enumerate(((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            s = stride if b == 0 else 1
            y = relu(bn(conv(x, cin, width, 1, 1, f"{p}.conv1"), width, f"{p}.bn1"))
            y = relu(bn(conv(y, width, width, 3, s, f"{p}.conv2"), width, f"{p}.bn2"))
            y = bn(conv(y, width, width * 4, 1, 1, f"{p}.conv3"), width * 4, f"{p}.bn3")
            if b == 0:
                x = bn(conv(x, cin, width * 4, 1, s, f"{p}.downsample.0"), width * 4, f"{p}.downsample.1")
            add = f"{p}.add"
            nodes.append(helper.make_node("Add", [y, x], [f"{add}:0"], name=add))
            x, cin = relu(f"{add}:0"), width * 4
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["avgpool:0"], name="avgpool"))
    nodes.append(helper.make_node("Flatten", ["avgpool:0"], ["flatten:0"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["flatten:0", w("fc.weight", (1000, 2048)), w("fc.bias", (1000,))], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes, "resnet50", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], initializer=inits,
    )
    model = helper.make_model(graph, producer_name="archlint-bench", opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return sum(int(np.prod(t.dims)) for t in inits)


def timed(cmd: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="write the model here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    path = args.keep or tmp / "resnet50.onnx"
    try:
        params = resnet50(path)
        print(f"model: {path} ({path.stat().st_size / 1e6:.1f} MB, {params:,} parameters inline)")
        archlint = shutil.which("archlint")
        check_cmd = [archlint, "check", str(path)] if archlint else [sys.executable, "-m", "archlint.cli", "check", str(path)]
        load_cmd = [sys.executable, "-c", f"import onnx; onnx.load({str(path)!r}, load_external_data=False)"]
        timed(load_cmd, 1)  # warm the page cache
        bt, ot = [], []
        for _ in range(args.runs):  # interleaved, so drifting machine load hits both alike
            bt += timed(load_cmd, 1)[1]
            ot += timed(check_cmd, 1)[1]
        base, ours = statistics.median(bt), statistics.median(ot)
        print(f"onnx.load process:      median {base:.3f} s  min {min(bt):.3f} s  runs {[round(t, 3) for t in bt]}")
        print(f"archlint check process: median {ours:.3f} s  min {min(ot):.3f} s  runs {[round(t, 3) for t in ot]}")
        print(f"ratio of medians: {ours / base:.2f}; ratio of minima: {min(ot) / min(bt):.2f} (target <= 1.5)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
