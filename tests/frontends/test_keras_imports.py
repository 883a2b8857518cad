"""Linting .keras and .h5 files must import none of keras, tensorflow, torch (they cost seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.test_imports import probe

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "keras"


@pytest.mark.parametrize("name", ["jansma2018_keras22_dropout05.h5", "article_dropout03_before_act_dense.keras"])
def test_keras_check_imports_no_framework(name: str) -> None:
    out = probe(FIX / name)
    assert "HEAVY []" in out
    assert "EXIT 1" in out  # the probe really linted: findings were found
