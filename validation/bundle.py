"""Copy the evidence of finished validation outputs into ``validation/results/``.

    python -m archlint_validation.bundle NAME OUT_DIR [OUT_DIR ...]

Merges the ``evidence.json`` of each output folder into
``validation/results/evidence.json``, keeping what is already bundled: an entry is one
comparison (rule, experiment, protocol, comparison), and a later folder replaces only the
entries it measured again. Also copies each ``results.json`` / ``results.md`` as
``validation/results/NAME[-k].json`` / ``.md``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .evidence import EVIDENCE_FILE, RESULTS_DIR
from .io import write_json_atomic


def _key(entry: dict) -> tuple:
    return (entry.get("experiment"), entry.get("protocol"), entry.get("comparison"))


def merge(into: dict, new: dict) -> dict:
    """Evidence ``{rule: [entry, ...]}``: ``new``'s entries replace those with the same key."""
    out = {rule: list(entries) for rule, entries in into.items()}
    for rule, entries in new.items():
        fresh = {_key(e) for e in entries}
        out[rule] = [e for e in out.get(rule, []) if _key(e) not in fresh] + list(entries)
    return out


def bundle(name: str, outs: list[Path], results_dir: Path | None = None) -> dict:
    """Bundle into ``validation/results/`` (or ``results_dir``: smoke runs keep out of the repository)."""
    results = Path(results_dir) if results_dir is not None else RESULTS_DIR
    evidence_file = results / EVIDENCE_FILE.name
    results.mkdir(parents=True, exist_ok=True)
    merged: dict = json.loads(evidence_file.read_text()) if evidence_file.is_file() else {}
    for k, out in enumerate(outs):
        ev = json.loads((Path(out) / "evidence.json").read_text())
        merged = merge(merged, ev)
        suffix = "" if len(outs) == 1 else f"-{k + 1}"
        shutil.copyfile(Path(out) / "results.md", results / f"{name}{suffix}.md")
        if (Path(out) / "effects.png").is_file():
            shutil.copyfile(Path(out) / "effects.png", results / f"{name}{suffix}-effects.png")
        res = json.loads((Path(out) / "results.json").read_text())
        res["provenance"].pop("run_dir", None)
        write_json_atomic(results / f"{name}{suffix}.json", res)
    write_json_atomic(evidence_file, dict(sorted(merged.items())))
    return merged


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    print(", ".join(sorted(bundle(sys.argv[1], [Path(p) for p in sys.argv[2:]]))))
