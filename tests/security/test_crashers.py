"""Every input the fuzzer ever crashed on stays a regression fixture here:
tests/security/crashers/<format>/*. Each must now load cleanly or fail with
one clear error (the fuzzer's oracle, benchmarks/fuzz.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security._util import ROOT, frontend_present, load_module

CRASHERS = ROOT / "tests" / "security" / "crashers"
fuzz = load_module("benchmarks/fuzz.py")
CASES = sorted(p for p in CRASHERS.glob("*/*") if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_crasher_is_fixed(path: Path) -> None:
    fmt = path.parent.name
    if not frontend_present(fuzz.frontend_module(fmt)):
        pytest.skip(f"frontend for {fmt} not present in this branch")
    out = fuzz.run_one(path)
    assert out.kind in ("ok", "error"), out.detail
