"""A short fuzz run per format (the long one: python benchmarks/fuzz.py --per-format 10000)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security._util import load_module

fuzz = load_module("benchmarks/fuzz.py")
PER_FORMAT = 300


@pytest.mark.parametrize("fmt", list(fuzz.FORMATS))
def test_short_fuzz_finds_no_crash_or_hang(fmt: str, tmp_path: Path) -> None:
    if not fuzz.frontend_available(fmt):
        pytest.skip(f"frontend {fuzz.frontend_module(fmt)} not present in this branch")
    assert fuzz.seed_files(fmt), f"no seeds for {fmt}"
    st = fuzz.fuzz_format(fmt, PER_FORMAT, seed=1234, crash_dir=None, work=tmp_path, log=lambda _m: None)
    assert st.tried == PER_FORMAT
    assert not st.crashes, st.crashes[:5]
    assert not st.hangs, st.hangs[:5]
    if fmt == "pt":  # a .pt is never unpickled without --trust: every input is refused in one line
        assert st.errors == PER_FORMAT, (st.ok, st.errors)
        return
    # the mutations reach both outcomes: some inputs still load, some are refused
    assert st.ok > 0 and st.errors > 0, (st.ok, st.errors)


def test_oracle_calls_an_escaping_exception_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import archlint.frontends.onnx as onnx_frontend

    def boom(*_a: object, **_k: object) -> None:
        raise TypeError("unexpected")

    monkeypatch.setattr(onnx_frontend, "build_model", boom)
    src = fuzz.ROOT / "fixtures" / "onnx" / "clean_cnn.onnx"
    out = fuzz.run_one(src)
    assert out.kind == "crash" and "TypeError" in out.detail


def test_cifar_oracle_calls_a_payload_that_ran_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The restricted unpickler swapped for plain pickle: the hostile batch's payload runs and the
    oracle says so (so a fuzz run with 0 crashes means no payload ran)."""
    import pickle

    from archlint_validation import safeio
    from tests.security import hostile3

    monkeypatch.setattr(safeio, "CifarUnpickler", pickle.Unpickler)
    p = tmp_path / "b.cifar"
    p.write_bytes(hostile3.evil_cifar_batch(fuzz._MARKER))
    out = fuzz.run_one(p)
    assert out.kind == "crash" and "payload ran" in out.detail and not fuzz._MARKER.exists()
