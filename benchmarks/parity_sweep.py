"""Parity sweep: real models, executed from archlint's graph, against their own framework.

For each model: build it (random weights: no hub access), read it with archlint
(a torch capture, an ONNX export read back, a saved .keras / .h5 file), run
the graph with :func:`archlint.execute.to_module` in eval mode, and compare
with the framework's own eval-mode output: the largest absolute difference
divided by the largest absolute reference value ("rel"). Exact means
rel <= 1e-4. Also checks the graph's parameter total against the model's
``sum(p.numel())`` (torch) or the Keras weight count.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/parity_sweep.py [--only SUBSTR] [--write]

``--write`` rewrites the table in docs/executor.md (between the markers) and
benchmarks/results/parity_sweep.json; ``--write --merge --only X`` reruns some
rows and keeps the others. Each model runs in its own subprocess
(bounded memory; one crash is one row).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "executor.md"
RESULTS = ROOT / "benchmarks" / "results" / "parity_sweep.json"
TOL = 1e-4

TORCHVISION = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16", "squeezenet1_0",
               "regnet_y_400mf", "shufflenet_v2_x0_5", "mnasnet0_5", "googlenet"]
TIMM = ["convnext_atto", "vit_tiny_patch16_224", "deit_tiny_patch16_224", "mobilenetv3_small_050", "regnetx_002",
        "mixer_s16_224"]
KERAS = ["MobileNetV2", "ResNet50", "EfficientNetB0", "VGG16", "MobileNetV3Small", "DenseNet121"]
TRANSFORMERS = ["bert", "distilbert", "gpt2", "llama", "t5", "vit", "clip_vision", "whisper", "rnn"]
ONNX_TV = ["resnet18", "vit_b_16"]
ONNX_HF = ["bert", "gpt2", "t5"]

WORKER = r'''
import json, os, sys, time, warnings, contextlib, io
warnings.filterwarnings("ignore")
sys.path.insert(0, ROOT)
group, name, fmt = sys.argv[1], sys.argv[2], sys.argv[3]
out = {"group": group, "model": name, "format": fmt}
t0 = time.time()

def rel(a, b):
    import numpy as np
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} != {b.shape}")
    return float(np.abs(a - b).max() / (np.abs(a).max() + 1e-30))

def flat(o):
    import torch
    return [o] if isinstance(o, torch.Tensor) else [t for x in o for t in flat(x)]

def nonzero(model):
    import torch
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():  # zero-initialised heads and gammas would make every output 0
            if p.numel() and not p.abs().sum():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model

try:
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    from archlint.frontends import _torchvision_compat
    _torchvision_compat.install()
    from archlint.api import load_graph
    from archlint.execute import to_module
    if group in ("torchvision", "timm"):
        if group == "torchvision":
            import torchvision
            kw = {"image_size": 64} if name.startswith("vit") else {}
            if name == "googlenet":
                kw = {"aux_logits": False, "init_weights": True}
            model = getattr(torchvision.models, name)(**kw)
        else:
            import timm
            kw = {"img_size": 64} if any(k in name for k in ("vit", "deit", "mixer", "cait")) else {}
            if "levit" in name:
                kw = {"img_size": 64}
            model = timm.create_model(name, pretrained=False, **kw)
        model = nonzero(model)
        size = 64
        x = torch.randn(2, 3, size, size)
        model.train()
        with torch.no_grad():
            model(x)  # batch-norm statistics move off the identity
        if fmt == "torch":
            from archlint.frontends.torch import Example, capture
            g = capture(model, Example((x,)), name)
            out["capture"] = g.meta.get("capture")
        else:
            model.eval()
            path = f"{TMP}/{group}_{name}_{fmt}.onnx"
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                torch.onnx.export(model, (x,), path, dynamo=fmt == "onnx-dynamo", **({} if fmt == "onnx-dynamo" else {"opset_version": 17}))
            g = load_graph(path)
        out["params_graph"] = g.total_params
        out["params_model"] = sum(p.numel() for p in model.parameters())
        em = to_module(g)
        model.eval(); em.eval()
        with torch.no_grad():
            a, b = flat(model(x)), flat(em(x))
    elif group == "transformers":
        from tests.transformers._models import build, rnn_model, torch_graph, onnx_graph
        model, inputs = rnn_model() if name == "rnn" else build(name)
        if fmt == "torch":
            g = torch_graph(model, inputs, name)
            out["capture"] = "torch.export"
        else:
            g = onnx_graph(model, inputs, f"{TMP}/hf_{name}_{fmt}.onnx", fmt == "onnx-dynamo", name)
        out["params_graph"] = g.total_params
        out["params_model"] = sum(p.numel() for p in model.parameters())
        em = to_module(g)
        model.eval(); em.eval()
        with torch.no_grad():
            a, b = flat(model(*inputs)), flat(em(*inputs))
    elif group == "keras":
        import numpy as np
        import keras
        size = 75 if name in ("Xception", "InceptionV3") else 64
        kw = {"classifier_activation": None}
        m = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10, **kw)
        path = f"{TMP}/keras_{name}.{fmt}"
        m.save(path)
        x = np.random.RandomState(0).randn(2, size, size, 3).astype("float32")
        a = [np.asarray(m(x, training=False).detach().cpu())]
        g = load_graph(path)
        out["params_graph"] = g.total_params
        out["params_model"] = int(sum(np.prod(w.shape) for w in m.trainable_weights))
        em = to_module(g).eval()
        with torch.no_grad():
            b = [em(torch.from_numpy(x))]
        a = [torch.from_numpy(v) for v in a]
    out["nodes"] = len(g.nodes)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} outputs != {len(b)}")
    out["rel"] = max(rel(x.detach().numpy(), y.detach().numpy()) for x, y in zip(a, b))
    out["scale"] = max(float(x.abs().max()) for x in a)
except Exception as e:
    out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:240] if str(e) else ''}"
out["seconds"] = round(time.time() - t0, 1)
print("RESULT " + json.dumps(out))
'''


def cases() -> list[tuple[str, str, str]]:
    out = [("torchvision", m, "torch") for m in TORCHVISION]
    out += [("timm", m, "torch") for m in TIMM]
    out += [("keras", m, fmt) for m in KERAS for fmt in ("keras", "h5")]
    out += [("transformers", m, "torch") for m in TRANSFORMERS]
    out += [("torchvision", m, fmt) for m in ONNX_TV for fmt in ("onnx-legacy", "onnx-dynamo")]
    out += [("transformers", m, fmt) for m in ONNX_HF for fmt in ("onnx-legacy", "onnx-dynamo")]
    return out


def run(case: tuple[str, str, str], tmp: str) -> dict:
    group, name, fmt = case
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    code = f"ROOT = {str(ROOT)!r}\nTMP = {tmp!r}\n" + WORKER
    try:
        r = subprocess.run([sys.executable, "-c", code, group, name, fmt], capture_output=True, text=True, env=env, timeout=900)
    except subprocess.TimeoutExpired:
        return {"group": group, "model": name, "format": fmt, "error": "timed out (900 s)"}
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"group": group, "model": name, "format": fmt, "error": f"worker died: {r.stderr.strip().splitlines()[-1:] }"}


def status(row: dict) -> str:
    if "error" in row:
        return "not run"
    return "exact" if row["rel"] <= TOL else "differs"


def table(rows: list[dict], reasons: dict[str, str]) -> str:
    lines = ["| source | model | read as | capture | nodes | params (graph / model) | max rel. diff | result |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        key = f"{r['group']}/{r['model']}/{r['format']}"
        res = status(r)
        note = reasons.get(key) or r.get("error", "")
        params = f"{r.get('params_graph', 0):,} / {r.get('params_model', 0):,}" if "params_graph" in r else "-"
        if "params_graph" in r and r["params_graph"] != r["params_model"]:
            params += " (differs)"
        diff = f"{r['rel']:.1e}" if "rel" in r else "-"
        lines.append(f"| {r['group']} | {r['model']} | {r['format']} | {r.get('capture', '-')} | {r.get('nodes', '-')} | "
                     f"{params} | {diff} | {res}{': ' + note if note and res != 'exact' else ''} |")
    return "\n".join(lines)


#: rows that are not exact, and why
REASONS: dict[str, str] = {
    "transformers/gpt2/onnx-legacy": "the legacy exporter of this torch version cannot export GPT-2 (no aten::diff "
                                     "in opset 17, used by transformers' mask code); the dynamo export runs exactly",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated substrings of group/model/format")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--merge", action="store_true", help="with --write: replace only the rows run in the saved results")
    ap.add_argument("--table", action="store_true", help="rewrite the docs table from the saved results, run nothing")
    args = ap.parse_args()
    import tempfile

    if args.table:
        _write_table(json.loads(RESULTS.read_text()))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if args.only and not any(o and o in "/".join(case) for o in args.only.split(",")):
                continue
            t = time.time()
            row = run(case, tmp)
            rows.append(row)
            print(f"{'/'.join(case):45s} {status(row):8s} {row.get('rel', '')!s:24s} {row.get('error', '')[:120]} ({time.time() - t:.0f}s)", flush=True)
    if args.write and args.merge and RESULTS.exists():
        fresh = {(r["group"], r["model"], r["format"]): r for r in rows}
        old = json.loads(RESULTS.read_text())
        rows = [fresh.pop((r["group"], r["model"], r["format"]), r) for r in old] + list(fresh.values())
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
        _write_table(rows)
    exact = sum(1 for r in rows if status(r) == "exact")
    print(f"{exact}/{len(rows)} exact within {TOL:g}")


def _write_table(rows: list[dict]) -> None:
    if True:
        text = DOC.read_text()
        start, end = "<!-- parity-table:start -->", "<!-- parity-table:end -->"
        a, b = text.index(start) + len(start), text.index(end)
        DOC.write_text(text[:a] + "\n" + table(rows, REASONS) + "\n" + text[b:])


if __name__ == "__main__":
    main()
