"""Packaging: the top-level validation/ folder installs as ``archlint_validation`` (a name no other
project owns), every package folder is listed in pyproject.toml, and a built wheel holds them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _package_folders(root: Path, name: str) -> set[str]:
    return {name + "".join("." + p for p in init.parent.relative_to(root).parts)
            for init in root.rglob("__init__.py") if "__pycache__" not in init.parts}


def test_every_package_folder_is_listed() -> None:
    cfg = _setuptools()
    assert cfg["package-dir"] == {"archlint": "archlint", "archlint_validation": "validation"}
    found = _package_folders(ROOT / "archlint", "archlint") | _package_folders(ROOT / "validation", "archlint_validation")
    assert found == set(cfg["packages"]), "list new package folders under [tool.setuptools] packages"


def test_import_name_is_archlint_validation() -> None:
    import archlint_validation
    from archlint_validation import evidence

    assert Path(archlint_validation.__file__).resolve().parent == (ROOT / "validation").resolve()
    assert evidence.EVIDENCE_FILE.is_file()
    r = subprocess.run([sys.executable, "-m", "archlint_validation", "--help"], capture_output=True, text=True,
                       cwd=ROOT.parent, timeout=120)
    assert r.returncode == 0 and "python -m archlint_validation" in r.stdout


def test_wheel_holds_both_packages_and_the_bundled_results(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {r.stderr.strip().splitlines()[-1:]}")
    names = zipfile.ZipFile(next(tmp_path.glob("archlint-*.whl"))).namelist()
    assert "archlint_validation/__init__.py" in names and "archlint_validation/stats.py" in names
    assert "archlint_validation/results/evidence.json" in names
    assert not any(n.startswith("validation/") for n in names)
    assert "archlint/cli.py" in names
