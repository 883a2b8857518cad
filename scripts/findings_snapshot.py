"""Record (or compare) the findings archlint gives on every fixture and a few zoo models.

Every rule is enabled (the opt-in ones too), as ``archlint check --select <all>
--format json`` would run them; each finding is kept as ``(file, code, layer,
node, message)`` and each file that fails to load as its error line. Groups:

- ``fixtures``: every ``.onnx`` / ``.keras`` / ``.h5`` under ``fixtures/`` (onnx,
  keras, faults, rules) and the well-known ONNX rebuilds of
  ``fixtures/rules/well_known.py`` (no torch needed);
- ``torch``: the PyTorch rule fixtures (``fixtures/rules/torch/*.py``, both
  factories) and a few zoo models (torchvision ResNet-18 and MobileNet V3
  small, tiny BERT and GPT-2 from ``tests/transformers/_models.py``).

``python scripts/findings_snapshot.py`` rewrites ``tests/data/findings_snapshot.json``
(do this only when findings change on purpose, and say so in the commit);
``--check`` compares instead and prints what differs (exit 1);
``--group fixtures`` limits either to one group. ``tests/core/test_findings_snapshot.py``
runs the comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "findings_snapshot.json"
MODEL_EXTS = {".onnx", ".keras", ".h5"}
GROUPS = ("fixtures", "torch")
ZOO_TORCHVISION = ("resnet18", "mobilenet_v3_small")
ZOO_TRANSFORMERS = ("bert", "gpt2")


def _config(input_shape: tuple[int, ...] | None = None) -> Any:
    from archlint.config import Config
    from archlint.frontends import LoadOptions
    from archlint.rules import ALL_RULES

    load = LoadOptions(input_shape=input_shape, time_budget=None)
    return Config(select=[r.code for r in ALL_RULES], load=load)


def _record(findings: list[Any]) -> list[dict[str, Any]]:
    return [{"code": f.code, "layer": f.layer, "node": f.node, "message": f.message} for f in findings]


def _lint_target(target: str, config: Any) -> dict[str, Any]:
    from archlint.api import lint_one

    fr, _ = lint_one(target, config)
    if fr.error:
        return {"error": fr.error}
    return {"findings": _record(fr.findings)}


def _graph_entry(graph_fn: Callable[[], Any], label: str) -> dict[str, Any]:
    from archlint.api import check_graph

    return {"findings": _record(check_graph(graph_fn(), _config(), label))}


def fixture_entries() -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    files = sorted(p for p in (ROOT / "fixtures").rglob("*") if p.suffix.lower() in MODEL_EXTS and p.is_file())
    for p in files:
        rel = p.relative_to(ROOT).as_posix()
        yield rel, lambda rel=rel: _lint_target(rel, _config())
    from fixtures.rules import well_known

    for name, make in well_known.ALL.items():

        def run(make: Callable[[], Any] = make, name: str = name) -> dict[str, Any]:
            import onnx

            with tempfile.TemporaryDirectory() as d:
                path = Path(d) / f"{name}.onnx"
                onnx.save(make(), str(path))
                out = _lint_target(str(path), _config())
            for f in out.get("findings", []):
                f["message"] = f["message"].replace(str(path), f"{name}.onnx")
            return out

        yield f"well_known:{name}", run


def torch_entries() -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for path in sorted((ROOT / "fixtures" / "rules" / "torch").glob("al*.py")):
        spec = importlib.util.spec_from_file_location(f"snapshot_{path.stem}", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        shapes = getattr(mod, "INPUT_SHAPE", {})
        rel = path.relative_to(ROOT).as_posix()
        for factory in ("make_bad", "make_ok"):
            shape = shapes.get(factory, (1, 3, 32, 32))
            yield f"{rel}:{factory}", lambda t=f"{rel}:{factory}", s=shape: _lint_target(t, _config(s))
    from tests.zoo.good_models import torchvision_graph

    for name in ZOO_TORCHVISION:
        yield f"torchvision:{name}", lambda name=name: _graph_entry(lambda: torchvision_graph(name), f"torchvision:{name}")
    from tests.transformers import _models

    for name in ZOO_TRANSFORMERS:

        def graph(name: str = name) -> Any:
            model, inputs = _models.build(name)
            return _models.torch_graph(model, inputs, name)

        yield f"transformers:{name}", lambda name=name, graph=graph: _graph_entry(graph, f"transformers:{name}")


def collect(groups: tuple[str, ...] = GROUPS, progress: bool = False) -> dict[str, dict[str, Any]]:
    """``{group: {file: {"findings": [...]} | {"error": text}}}``."""
    makers = {"fixtures": fixture_entries, "torch": torch_entries}
    out: dict[str, dict[str, Any]] = {}
    for g in groups:
        out[g] = {}
        for label, run in makers[g]():
            out[g][label] = run()
            if progress:
                print(f"  {g}: {label}: {len(out[g][label].get('findings', []))} findings", file=sys.stderr)
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two snapshots (one group each)."""
    lines = []
    for label in sorted(set(old) | set(new)):
        a, b = old.get(label), new.get(label)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{label}: {'new file' if a is None else 'file gone'}")
            continue
        if a.get("error") != b.get("error"):
            lines.append(f"{label}: error {a.get('error')!r} -> {b.get('error')!r}")
        fa = [json.dumps(f, sort_keys=True) for f in a.get("findings", [])]
        fb = [json.dumps(f, sort_keys=True) for f in b.get("findings", [])]
        lines += [f"{label}: - {x}" for x in fa if x not in fb]
        lines += [f"{label}: + {x}" for x in fb if x not in fa]
        if sorted(fa) == sorted(fb) and fa != fb:
            lines.append(f"{label}: same findings in another order")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the recorded snapshot instead of writing it")
    ap.add_argument("--group", choices=GROUPS, action="append", help="only this group (repeatable)")
    ap.add_argument("--out", type=Path, default=SNAPSHOT)
    args = ap.parse_args(argv)
    groups = tuple(args.group or GROUPS)
    current = collect(groups, progress=True)
    if args.check:
        recorded = json.loads(args.out.read_text())
        lines = [line for g in groups for line in diff(recorded.get(g, {}), current[g])]
        print("\n".join(lines) if lines else "findings identical to the snapshot")
        return 1 if lines else 0
    recorded = json.loads(args.out.read_text()) if args.out.exists() else {}
    recorded.update(current)
    args.out.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
