"""The precision sweep: lint published architectures far beyond the test suite and grade every
warning and error (true / debatable / false) from a committed triage file.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/precision_sweep.py run [--suite timm] [--only NAME,...]
        [--timeout 120] [--refresh] [--limit N]
    python benchmarks/precision_sweep.py table        # writes docs/precision-sweep.md
    python benchmarks/precision_sweep.py list [--suite S]

Suites (random weights, archlint's own loading path and default inputs):
  torchvision   every classification builder, ``torchvision.models:NAME``
  timm          one model per timm architecture family (module), the smallest-named
  transformers  every model type whose ``AutoModel`` builds from its default config (at most 4 layers)
  keras         every keras.applications model (KERAS_BACKEND=torch, saved to .keras, linted from the file)
  beyond        torchvision segmentation / detection / video / optical flow, segmentation_models_pytorch,
                diffusers UNets and VAEs, MONAI 3-D networks (each library only where it is installed)

Results are cached per model in benchmarks/results/precision_sweep.json (``--refresh`` reruns the
models asked for), so a rerun after a fix costs only what changed. A worker process lints the
models one after another with a per-model alarm; a worker that dies is restarted past the model
that killed it. Triage: benchmarks/precision_triage.json maps ``SUITE/MODEL/CODE`` (or
``*/*/CODE`` patterns, first match wins) to ``[verdict, reason]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / "results" / "precision_sweep.json"
TRIAGE = ROOT / "benchmarks" / "precision_triage.json"
BEFORE = ROOT / "benchmarks" / "results" / "precision_sweep_before.json"
TABLE = ROOT / "docs" / "precision-sweep.md"
SUITES = ("torchvision", "keras", "timm", "beyond", "transformers")
FACTORIES = "benchmarks/_sweep_models.py"


# -- what each suite holds ---------------------------------------------------------------------

def _size_score(name: str) -> tuple[int, int, str]:
    order = ("atto", "femto", "pico", "nano", "xxxs", "xxs", "tiny", "xs", "mini", "small", "_t", "_s", "050", "18", "b0")
    for i, tok in enumerate(order):
        if tok in name:
            return (i, len(name), name)
    return (len(order), len(name), name)


def timm_models() -> list[str]:
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    import timm
    from timm.models import _registry

    by_family: dict[str, list[str]] = {}
    for name in timm.list_models():
        fam = _registry._model_to_module.get(name, "?")
        by_family.setdefault(fam, []).append(name)
    return sorted(min(names, key=_size_score) for names in by_family.values())


#: widely used model types first, so a sweep cut short by time has covered what users run most
POPULAR = ("bert", "gpt2", "llama", "t5", "bart", "roberta", "vit", "whisper", "clip", "xlnet", "wav2vec2", "hubert",
           "mobilevit", "beit", "deit", "swin", "convnext", "distilbert", "electra", "albert", "deberta-v2", "mistral",
           "qwen2", "gemma", "phi", "falcon", "opt", "bloom", "gpt_neox", "mbart", "pegasus", "marian", "longformer",
           "big_bird", "segformer", "dinov2", "convnextv2", "resnet", "efficientnet", "mobilenet_v2", "regnet", "levit",
           "poolformer", "wavlm", "data2vec-audio", "sew", "unispeech", "blenderbot", "m2m_100", "led", "funnel",
           "mpnet", "xlm-roberta", "camembert", "deberta", "gptj", "codegen", "mixtral", "qwen3", "gemma2", "phi3",
           "olmo", "stablelm", "starcoder2", "mamba", "rwkv", "biogpt", "ctrl", "openai-gpt", "transfo-xl", "xglm",
           "nezha", "ernie", "layoutlm", "squeezebert", "mobilebert", "canine", "reformer", "mt5", "umt5", "longt5",
           "switch_transformers", "prophetnet", "fsmt", "plbart", "mvp", "swinv2", "vit_mae", "vit_msn", "dinat",
           "bit", "van", "cvt", "glpn", "dpt", "focalnet", "hiera", "pvt", "pvt_v2", "swiftformer", "efficientformer",
           "mobilevitv2", "mobilenet_v1", "imagegpt", "yolos", "audio-spectrogram-transformer", "speech_to_text",
           "encodec", "mimi", "musicgen", "data2vec-text", "data2vec-vision", "ibert", "rembert", "roformer",
           "megatron-bert", "xmod", "luke", "markuplm", "splinter", "lilt", "esm", "nystromformer", "yoso", "fnet")


def transformers_models() -> list[str]:
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    names = set(MODEL_MAPPING_NAMES)
    first = [n for n in POPULAR if n in names]
    return first + sorted(names - set(first))


def torchvision_models(module: str = "") -> list[str]:
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    import torchvision.models as tvm

    mod = tvm if not module else getattr(tvm, module)
    return sorted(tvm.list_models(module=mod))


def keras_models() -> list[str]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def beyond_models() -> list[str]:
    out = [f"tv.{m}.{n}" for m in ("segmentation", "detection", "video", "optical_flow") for n in torchvision_models(m)]
    try:
        import segmentation_models_pytorch  # noqa: F401

        out += [f"smp.{a}" for a in ("Unet", "UnetPlusPlus", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "Linknet",
                                      "MAnet", "PAN", "UPerNet", "Segformer")]
    except ImportError:
        pass
    try:
        import diffusers  # noqa: F401

        out += [f"diffusers.{c}" for c in ("UNet2DModel", "UNet2DConditionModel", "AutoencoderKL", "VQModel")]
    except ImportError:
        pass
    try:
        import monai  # noqa: F401

        out += [f"monai.{n}" for n in ("UNet", "BasicUNet", "SegResNet", "DynUNet", "UNETR", "SwinUNETR", "DenseNet121",
                                       "AttentionUnet", "VNet", "HighResNet", "ResNet18_3d", "AutoEncoder")]
    except ImportError:
        pass
    return out


def models(suite: str) -> list[str]:
    return {"timm": timm_models, "transformers": transformers_models, "torchvision": torchvision_models,
            "keras": keras_models, "beyond": beyond_models}[suite]()


# -- linting one model -------------------------------------------------------------------------

def _target(suite: str, name: str) -> tuple[str, list[str]]:
    """The spec and --arg values ``archlint check`` would be given."""
    if suite == "torchvision":
        return f"torchvision.models:{name}", []
    if suite == "timm":
        return "timm:create_model", [name]
    if suite == "transformers":
        return f"{FACTORIES}:hf", [name]
    lib, _, rest = name.partition(".")
    if lib == "tv":
        mod, _, builder = rest.partition(".")
        return f"torchvision.models.{mod}:{builder}", []
    if lib == "smp":
        return f"{FACTORIES}:smp", [rest]
    if lib == "diffusers":
        return f"{FACTORIES}:diffusers_model", [rest]
    if lib == "monai":
        return f"{FACTORIES}:monai_net", [rest]
    raise ValueError(name)


def lint_one(suite: str, name: str, tmp: Path) -> dict[str, Any]:
    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.errors import LoadError
    from archlint.frontends import LoadOptions, load_graph

    t0 = time.perf_counter()
    row: dict[str, Any] = {"suite": suite, "model": name}
    try:
        if suite == "keras":
            os.environ.setdefault("KERAS_BACKEND", "torch")
            import keras

            try:
                model = getattr(keras.applications, name)(weights=None)
                path = tmp / f"{name}.keras"
                model.save(path)
                del model
            except Exception as e:  # noqa: BLE001 - the library cannot build it: not archlint's fault
                row.update(status="build-failed", error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
                return row
            target, graph = str(path), load_graph(str(path), LoadOptions(time_budget=None))
            path.unlink()
        else:
            target, args = _target(suite, name)
            graph = load_graph(target, LoadOptions(args=args, time_budget=None))
    except LoadError as e:
        row.update(status="load-failed", error=e.problem[:400])
        return row
    except Exception as e:  # noqa: BLE001
        row.update(status="crashed", error=f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        return row
    _save_graph(suite, name, graph, target)
    found = check_graph(graph, Config(), target)
    row.update(
        status="ok", nodes=len(graph), params=graph.total_params, capture=graph.meta.get("capture"),
        mode=graph.meta.get("capture_mode"), notes=[n[:200] for n in graph.meta.get("notes", [])],
        findings=[{"code": f.code, "severity": f.severity.label, "layer": f.layer, "message": f.message[:300]} for f in found],
    )
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


#: captured graphs, pickled per model (not committed): ``recheck`` reruns the rules on them only
GRAPHS = Path(os.environ.get("ARCHLINT_SWEEP_GRAPHS", "/tmp/archlint-sweep-graphs"))


def _graph_file(suite: str, name: str) -> Path:
    return GRAPHS / suite / f"{name.replace('/', '_')}.pkl"


def _save_graph(suite: str, name: str, graph: Any, target: str) -> None:
    import pickle

    path = _graph_file(suite, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(pickle.dumps((target, graph), protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - an attribute that does not pickle: recheck recaptures it
        path.unlink(missing_ok=True)


def _upgrade(graph: Any) -> None:
    """A graph pickled by an older archlint: plain attribute dicts become the kinds' typed records."""
    from archlint.graph import Graph, Node, Value

    for cls, obj in ((Graph, graph),):
        for f, d in getattr(cls, "__dataclass_fields__", {}).items():
            if f not in obj.__dict__ and d.default_factory is not getattr(d, "MISSING", object()):
                try:
                    setattr(obj, f, d.default_factory())
                except TypeError:
                    setattr(obj, f, d.default)
    for n in graph.nodes:
        if isinstance(n, Node) and hasattr(n, "__post_init__"):
            n.__post_init__()
        for v in n.outputs:
            for f, d in getattr(Value, "__dataclass_fields__", {}).items():
                if f not in v.__dict__:
                    try:
                        setattr(v, f, d.default_factory())
                    except TypeError:
                        setattr(v, f, d.default)


def recheck(args: argparse.Namespace) -> int:
    """Rerun the current rules on every cached graph (no capture): cheap after a rule fix."""
    import pickle
    import sys as _sys

    _sys.setrecursionlimit(100_000)
    from archlint.api import check_graph
    from archlint.config import Config

    cache = load_cache()
    n = 0
    for key, row in cache.items():
        suite, name = key.split("/", 1)
        if args.suite and suite not in args.suite or row.get("status") != "ok":
            continue
        path = _graph_file(suite, name)
        if not path.exists():
            continue
        target, graph = pickle.loads(path.read_bytes())
        _upgrade(graph)
        found = check_graph(graph, Config(), target)
        row["findings"] = [{"code": f.code, "severity": f.severity.label, "layer": f.layer, "message": f.message[:300]}
                           for f in found]
        n += 1
    save_cache(cache)
    print(f"rechecked {n} cached graphs")
    return 0


class _Alarm(BaseException):
    pass


def worker(suite: str, names: list[str], timeout: int, progress: Path) -> int:
    """Lint ``names`` one after another, appending each row (JSON line) to ``progress``."""
    import torch

    sys.setrecursionlimit(100_000)  # pickling a deep graph
    torch.set_num_threads(1)

    def on_alarm(*_: Any) -> None:
        raise _Alarm()

    signal.signal(signal.SIGALRM, on_alarm)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            with progress.open("a") as fh:
                fh.write(json.dumps({"started": name}) + "\n")
            t0 = time.perf_counter()
            signal.alarm(timeout)
            try:
                row = lint_one(suite, name, Path(tmp))
            except _Alarm:
                row = {"suite": suite, "model": name, "status": "timeout", "error": f"over {timeout} s"}
            finally:
                signal.alarm(0)
            row.setdefault("seconds", round(time.perf_counter() - t0, 1))
            with progress.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            cache = load_cache()  # saved as it goes: a sweep cut short keeps what it did
            cache[f"{suite}/{name}"] = row
            save_cache(cache)
            print(f"{suite}/{name}: {row['status']} {len([f for f in row.get('findings', []) if f['severity'] != 'info'])}"
                  f" warn+ {row['seconds']} s", flush=True)
    return 0


def load_cache() -> dict[str, Any]:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def save_cache(cache: dict[str, Any]) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(dict(sorted(cache.items())), indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    suites = args.suite or list(SUITES)
    for suite in suites:
        names = args.only.split(",") if args.only else models(suite)
        cache = load_cache()
        todo = [n for n in names if args.refresh or f"{suite}/{n}" not in cache]
        if args.limit:
            todo = todo[: args.limit]
        print(f"{suite}: {len(names)} models, {len(todo)} to lint", flush=True)
        while todo:
            progress = Path(tempfile.mkstemp(suffix=".jsonl")[1])
            cmd = [sys.executable, __file__, "worker", suite, "--timeout", str(args.timeout), "--progress", str(progress), *todo]
            proc = subprocess.run(cmd, check=False)
            rows = [json.loads(line) for line in progress.read_text().splitlines() if line.strip()]
            progress.unlink()
            done = {r["model"]: r for r in rows if "status" in r}
            started = [r["started"] for r in rows if "started" in r]
            cache = load_cache()
            for n, r in done.items():
                cache[f"{suite}/{n}"] = r
            if proc.returncode != 0 and started and started[-1] not in done:
                dead = started[-1]
                cache[f"{suite}/{dead}"] = {"suite": suite, "model": dead, "status": "crashed",
                                            "error": f"worker died (exit {proc.returncode})"}
                done[dead] = cache[f"{suite}/{dead}"]
            save_cache(cache)
            todo = [n for n in todo if n not in done]
            if proc.returncode != 0 and not started:
                print(f"{suite}: worker failed to start (exit {proc.returncode})", flush=True)
                break
    return 0


# -- the table ---------------------------------------------------------------------------------

def load_triage() -> dict[str, list[str]]:
    return json.loads(TRIAGE.read_text()) if TRIAGE.exists() else {}


def verdict(triage: dict[str, list[str]], suite: str, model: str, f: dict[str, Any]) -> tuple[str, str]:
    key = f"{suite}/{model}/{f['code']}"
    for pat, (v, why) in triage.items():
        p, _, layer = pat.partition("@")
        if fnmatch.fnmatchcase(key, p) and (not layer or fnmatch.fnmatchcase(f.get("layer") or "", layer)):
            return v, why
    return "untriaged", ""


_HEADER = [
    "| suite | models | loaded | failed (archlint) | failed (model/library) | timed out | warn+err | true | debatable | false | untriaged | precision |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def summarise(cache: dict[str, Any], triage: dict[str, list[str]]) -> tuple[list[str], list[str], list[str]]:
    """Per suite: one summary row; every warning/error with its verdict; every model not loaded."""
    summary: list[str] = []
    detail: list[str] = []
    fails: list[str] = []
    for suite in SUITES:
        rows = [r for k, r in cache.items() if k.startswith(suite + "/")]
        if not rows:
            continue
        ok = [r for r in rows if r["status"] == "ok"]
        counts = {"true": 0, "debatable": 0, "false": 0, "untriaged": 0}
        ours = theirs = slow = 0
        for r in sorted(rows, key=lambda r: r["model"]):
            if r["status"] == "timeout":
                slow += 1
                fails.append(f"| {suite} | {r['model']} | timeout | not judged | {r.get('error', '')} on the shared 2-core machine |")
                continue
            if r["status"] != "ok":
                v, why = verdict(triage, suite, r["model"], {"code": "LOAD"})
                fault = "model" if v == "model" else "archlint"
                ours += fault == "archlint"
                theirs += fault == "model"
                reason = why if v != "untriaged" else r.get("error", "")
                fails.append(f"| {suite} | {r['model']} | {r['status']} | {fault} | {reason[:200].replace('|', '/')} |")
                continue
            for f in r["findings"]:
                if f["severity"] == "info":
                    continue
                v, why = verdict(triage, suite, r["model"], f)
                counts[v] += 1
                detail.append(f"| {suite} | {r['model']} | {f['code']} {f['severity']} | {f['layer'] or ''} | {v} | {why.replace('|', '/')} |")
        judged = counts["true"] + counts["false"]
        prec = f"{100 * counts['true'] / judged:.0f} %" if judged else "n/a (none judged)"
        warn = sum(counts.values())
        summary.append(f"| {suite} | {len(rows)} | {len(ok)} | {ours} | {theirs} | {slow} | {warn} | {counts['true']} | "
                       f"{counts['debatable']} | {counts['false']} | {counts['untriaged']} | {prec} |")
    return summary, detail, fails


def table(args: argparse.Namespace) -> int:
    cache, triage = load_cache(), load_triage()
    summary, detail, fails = summarise(cache, triage)
    lines = [
        "# Precision sweep",
        "",
        "Generated by `python benchmarks/precision_sweep.py table` from the cached run",
        "(`benchmarks/results/precision_sweep.json`) and the triage (`benchmarks/precision_triage.json`).",
        "Random weights, archlint's own loading path and default inputs (transformers: default config,",
        "at most 4 layers), every default rule. Precision counts warnings and errors by finding:",
        "true / (true + false); debatable findings are left out of both. Load failures are split",
        "into archlint's fault and the model's (a library or config that cannot build or run it here);",
        "models that ran past the per-model limit on the shared machine are listed, not judged.",
        "",
        "## After (this branch's rules)",
        "",
        *_HEADER,
        *summary,
    ]
    before = BEFORE if BEFORE.exists() else None
    if before is not None:
        b_summary, _, _ = summarise(json.loads(before.read_text()), triage)
        lines += ["", "## Before (main's rules on the same captured graphs; loads as main did them)", "", *_HEADER, *b_summary]
    if args.notes and Path(args.notes).exists():
        lines += ["", Path(args.notes).read_text().strip()]
    lines += ["", "## Every warning and error (after)", "", "| suite | model | finding | layer | verdict | reason |",
              "| --- | --- | --- | --- | --- | --- |", *detail]
    lines += ["", "## Models that did not load (after)", "", "| suite | model | status | fault | reason |",
              "| --- | --- | --- | --- | --- |", *fails]
    TABLE.write_text("\n".join(lines) + "\n")
    print("\n".join(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--suite", action="append", choices=SUITES)
    r.add_argument("--only")
    r.add_argument("--timeout", type=int, default=180)
    r.add_argument("--refresh", action="store_true")
    r.add_argument("--limit", type=int)
    w = sub.add_parser("worker")
    w.add_argument("suite")
    w.add_argument("names", nargs="+")
    w.add_argument("--timeout", type=int, default=180)
    w.add_argument("--progress", type=Path, required=True)
    rc = sub.add_parser("recheck")
    rc.add_argument("--suite", action="append", choices=SUITES)
    t = sub.add_parser("table")
    t.add_argument("--notes", help="a Markdown file whose text goes under the tables")
    ls = sub.add_parser("list")
    ls.add_argument("--suite", action="append", choices=SUITES)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        return run(a)
    if a.cmd == "worker":
        return worker(a.suite, a.names, a.timeout, a.progress)
    if a.cmd == "recheck":
        return recheck(a)
    if a.cmd == "table":
        return table(a)
    for suite in a.suite or SUITES:
        names = models(suite)
        print(f"{suite} ({len(names)}): {' '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
