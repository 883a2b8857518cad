"""`archlint check` on a transformers factory with integer token ids: coverage
printed (one line, kinds with --verbose, JSON), and the graph core does not import
the shape/layout module back."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archlint.cli import app

FACTORY = '''
from tests.transformers._models import shim_torchvision
shim_torchvision()
from transformers import LlamaConfig, LlamaForCausalLM
def llama():
    return LlamaForCausalLM(LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=2, intermediate_size=128, vocab_size=1000))
'''


def test_coverage_in_text_and_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    f = tmp_path / "llama_small.py"
    f.write_text(FACTORY)
    spec = f"{f}:llama"
    r = CliRunner().invoke(app, ["check", spec, "--input", "input_ids=2x16:int64", "--verbose"])
    assert r.exit_code == 0, r.output
    assert "coverage: 100% of 97 nodes understood" in r.output
    assert "rms_norm 5" in r.output and "attention 2" in r.output and "embedding 1" in r.output
    assert r.output.rstrip().endswith("0 findings in 1 file; 100% of 97 nodes understood")
    r = CliRunner().invoke(app, ["check", spec, "--input", "input_ids=2x16:int64", "--format", "json"])
    cov = json.loads(r.stdout)["files"][0]["coverage"]
    assert (cov["nodes"], cov["share"], cov["unknown"]) == (97, 1.0, {})
    assert cov["by_kind"]["rms_norm"] == 5


def test_graph_does_not_import_shapes() -> None:
    """Shape and layout propagation live in archlint.graph.shapes (and the pattern
    and pass modules); the graph core imports none of them, at module level or
    inside a function: only the kinds and the attribute records."""
    import ast

    import archlint.graph.core

    tree = ast.parse(Path(archlint.graph.core.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"archlint.graph.shapes", "archlint.graph.patterns", "archlint.graph.passes"}
    assert {m for m in imported if m.split(".")[0] == "archlint"} == {"archlint.graph.attrs", "archlint.graph.kinds"}
