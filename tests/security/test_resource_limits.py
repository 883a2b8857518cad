"""Round two, memory bombs and broken reports (issue 11, items 4 and 8): each
file gives one clear line (or correct findings) with bounded memory. The CLI
runs under an address-space limit (``ulimit -v``), so a regression fails
with MemoryError instead of eating the machine."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security import hostile
from tests.security._util import ROOT, assert_one_clear_error

LIMIT = 1536 * 1024 * 1024  # address space for the CLI process (imports included)


def run_limited(*args: object, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, "-m", "archlint.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, preexec_fn=limit)


def test_pt2_json_of_nested_empty_lists_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.pt2"
    p.write_bytes(hostile.deflated_zip("bomb/models/model.json", 100 * 2**20))  # 100 MiB of "[],"
    assert p.stat().st_size < 512 * 1024
    r = run_limited("check", p)
    assert_one_clear_error(r, "JSON lists and objects", "memory bomb")


def test_keras_config_of_nested_empty_lists_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bomb.keras"
    p.write_bytes(hostile.deflated_zip("config.json", 60 * 2**20))
    assert p.stat().st_size < 128 * 1024
    r = run_limited("check", p)
    assert_one_clear_error(r, "JSON lists and objects", "memory bomb")


def test_hdf5_overlapping_continuation_blocks(tmp_path: Path) -> None:
    p = tmp_path / "bomb.h5"
    p.write_bytes(hostile.h5_overlapping_continuations())  # 1.3 MB; 6,000 x 1 MiB of blocks
    r = run_limited("check", p)
    assert_one_clear_error(r, "copy more than 128 MiB", "memory bomb")


def test_h5py_child_has_an_address_space_limit() -> None:
    import os

    from archlint.frontends import keras

    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        keras._limit_address_space(64 * 1024 * 1024)
        try:
            bytearray(512 * 1024 * 1024)
        except MemoryError:
            os._exit(7)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 7


def test_huge_integer_in_a_config_is_one_line(tmp_path: Path) -> None:
    big = 10**2500
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 8, 8, 3]}},
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": [3, 3]}},
        {"class_name": "Flatten", "config": {"name": "f"}},
        {"class_name": "Dense", "config": {"name": "d1", "units": big}},
        {"class_name": "Dense", "config": {"name": "d2", "units": big}},
    ]}}
    p = tmp_path / "big.keras"
    p.write_bytes(hostile.keras_zip(cfg))
    for fmt in ("json", "sarif", "text"):
        r = run_limited("check", p, "--format", fmt)
        assert_one_clear_error(r, "an integer of about 2,501 digits")
        if fmt != "text":
            json.loads(r.stdout)


def test_reports_survive_huge_numbers_in_finding_data() -> None:
    import io

    from archlint.api import FileResult, LintResult
    from archlint.findings import Finding, Severity
    from archlint.reporters import emit

    f = Finding(code="AL018", rule="dominant-dense-layer", severity=Severity.INFO, message="m", fix="x",
                path="m.onnx", layer="d", data={"params": 10**5000, "share": float("nan"), "list": [-(10**400)]})
    result = LintResult(files=[FileResult(path="m.onnx", findings=[f], format="onnx", nodes=3)])
    for fmt in ("json", "sarif"):
        buf = io.StringIO()
        emit(fmt, result, buf)
        doc = json.loads(buf.getvalue())  # complete and valid (NaN is not JSON)
        text = json.dumps(doc)
        assert "integer of about 5001 digits" in text and "-<integer of about 401 digits>" in text


def test_metadata_notes_of_the_wrong_type_lose_nothing(tmp_path: Path) -> None:
    seed = ROOT / "tests" / "security" / "seeds" / "keras" / "sequential_cnn.keras"
    import zipfile

    with zipfile.ZipFile(seed) as z:
        config = json.loads(z.read("config.json"))
    bad = tmp_path / "a_bad.keras"
    bad.write_bytes(hostile.keras_zip(config, {"keras_version": "3.5.0", "notes": 5, "backend": ["x"]}))
    good = tmp_path / "b_good.keras"
    good.write_bytes(seed.read_bytes())
    r = run_limited("check", tmp_path, "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert [f["error"] for f in doc["files"]] == [None, None]
    by_file = {Path(f["path"]).name for f in doc["findings"]}
    assert by_file == {"a_bad.keras", "b_good.keras"}


def test_deeply_nested_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.archlint]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    model = tmp_path / "m.onnx"
    model.write_bytes((ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx").read_bytes())
    r = run_limited("check", model, cwd=tmp_path)
    assert_one_clear_error(r, "nested too deeply")


def test_per_file_time_budget(tmp_path: Path) -> None:
    model = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"
    r = run_limited("check", model, "--timeout", "0.001")
    assert_one_clear_error(r, "did not finish in 0.001 s")
    r = run_limited("check", model, "--timeout", "0")  # no limit
    assert r.returncode == 1, r.stderr
