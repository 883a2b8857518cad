"""docs/graph-contract.md is generated from the graph package and kept fresh."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import graph_contract  # noqa: E402


def test_the_contract_page_is_fresh() -> None:
    assert graph_contract.main(["--check"]) == 0, "run: python scripts/graph_contract.py"


def test_the_page_states_the_contract_and_every_kind() -> None:
    text = graph_contract.render()
    for section in ("**Structure.**", "**Canonical axis order.**", "**Weights and tied weights.**", "**Passes.**"):
        assert section in text
    assert "| dropout | `rate` | number |" in text and "| (any) | `params` | int | `0` |" in text
    assert "``" not in text and ":class:" not in text  # Markdown, not reStructuredText
