"""Helpers for the security tests: run the CLI as a user would, load the fuzzer."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: object, timeout: float = 120, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m archlint.cli ...`` in a subprocess (cwd = repo root, so this worktree's archlint runs)."""
    return subprocess.run(
        [sys.executable, "-m", "archlint.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def assert_one_clear_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one ``archlint: error:`` line per bad file, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("archlint: error: ") for ln in lines), r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def load_module(rel: str) -> ModuleType:
    path = ROOT / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def frontend_present(module: str) -> bool:
    return importlib.util.find_spec(f"archlint.frontends.{module}") is not None
