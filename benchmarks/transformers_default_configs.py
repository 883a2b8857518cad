"""Lint `transformers` models built from their DEFAULT configs (random weights,
or no weights at all on the meta device) and print findings, coverage and time.

    OMP_NUM_THREADS=1 python benchmarks/transformers_default_configs.py [--meta] [--onnx] [NAME ...]

Default configs: BertConfig() (bert-base), DistilBertConfig(), GPT2Config()
(gpt2 small), T5Config() (t5-small), LlamaConfig() (7B: only with --meta),
ViTConfig() (ViT-B/16), CLIPVisionConfig() (ViT-B/32), WhisperConfig()
(whisper-tiny-sized defaults). --onnx also exports each model (dynamo exporter)
and lints the file. Prints one line per model: warnings-or-worse, all findings,
coverage, seconds, peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def configs() -> dict[str, tuple[Any, str]]:
    import transformers as T

    return {
        "bert": (lambda: T.BertModel(T.BertConfig()), "ids"),
        "distilbert": (lambda: T.DistilBertModel(T.DistilBertConfig()), "ids"),
        "gpt2": (lambda: T.GPT2LMHeadModel(T.GPT2Config(use_cache=False)), "ids"),
        "t5": (lambda: T.T5Model(T.T5Config(use_cache=False)), "seq2seq"),
        "llama-7b": (lambda: T.LlamaForCausalLM(T.LlamaConfig(use_cache=False)), "ids"),
        "vit": (lambda: T.ViTModel(T.ViTConfig()), "pixels224"),
        "clip_vision": (lambda: T.CLIPVisionModel(T.CLIPVisionConfig()), "pixels224"),
        "whisper": (lambda: T.WhisperModel(T.WhisperConfig(use_cache=False)), "speech"),
    }


def inputs(kind: str, device: str) -> tuple[Any, ...]:
    import torch

    ids = torch.randint(0, 100, (1, 16), device=device)
    if kind == "ids":
        return (ids,)
    if kind == "seq2seq":
        return (ids, torch.randint(0, 100, (1, 8), device=device))
    if kind == "pixels224":
        return (torch.randn(1, 3, 224, 224, device=device),)
    return (torch.randn(1, 80, 3000, device=device), torch.randint(0, 100, (1, 8), device=device))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--meta", action="store_true", help="build on the meta device (no weights allocated)")
    ap.add_argument("--onnx", action="store_true", help="also export with the dynamo exporter and lint the file")
    a = ap.parse_args(argv)
    import torch

    from archlint.api import check_graph
    from archlint.findings import Severity
    from tests.transformers._models import _wrap, onnx_graph, shim_torchvision, torch_graph

    torch.set_num_threads(1)
    shim_torchvision()
    tmp = tempfile.mkdtemp()
    for name, (make, kind) in configs().items():
        if a.names and name not in a.names:
            continue
        if name == "llama-7b" and not a.meta:
            print(f"{name:12s} skipped (7B parameters: run with --meta)")
            continue
        wkind = {"pixels224": "pixels"}.get(kind, kind)
        device = "meta" if a.meta else "cpu"
        t0 = time.perf_counter()
        with torch.device(device) if a.meta else contextlib.nullcontext():
            model = _wrap(make(), wkind).train()
        x = inputs(kind, device)
        try:
            g = torch_graph(model, x, name)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{name:12s} torch capture failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
            continue
        rows = [("torch", g)]
        if a.onnx and not a.meta:
            try:
                rows.append(("onnx", onnx_graph(model, x, f"{tmp}/{name}.onnx", True, name)))
            except Exception as e:  # noqa: BLE001
                print(f"{name:12s} onnx export failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
        for fmt, graph in rows:
            fs = check_graph(graph)
            warn = [f for f in fs if f.severity >= Severity.WARNING]
            cov = graph.coverage()
            codes = sorted({f.code for f in fs})
            secs = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{name:12s} {fmt:5s} params={graph.total_params / 1e6:8.1f}M warnings+={len(warn)} "
                f"findings={len(fs)} {codes} coverage={cov['share']:.1%} of {cov['nodes']} "
                f"unknown={dict(list(cov['unknown'].items())[:4])} {secs:.1f}s peak_rss={rss:.0f}MiB",
                flush=True,
            )
            for f in warn:
                print(f"    {f.code} {f.severity.label} {f.layer}: {f.message[:120]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
