"""The CLI: exit codes, output formats and bad input, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "onnx"
DROPOUT = FIX / "article_dropout03_before_act_dense.onnx"
CLEAN = FIX / "clean_cnn.onnx"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archlint.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_clean_model_exits_0() -> None:
    r = run("check", CLEAN)
    assert r.returncode == 0, r.stderr
    assert "0 findings in 1 file" in r.stdout


def test_findings_exit_1_and_text_names_layer_and_op() -> None:
    r = run("check", DROPOUT)
    assert r.returncode == 1
    assert "AL001" in r.stdout and "dropout_1" in r.stdout and "(Dropout)" in r.stdout
    assert "fix:" in r.stdout
    assert "16 findings (11 warnings, 5 infos) in 1 file" in r.stdout


def test_fail_on_error_ignores_warnings() -> None:
    assert run("check", DROPOUT, "--fail-on", "error").returncode == 0


def test_fail_on_info_fails_on_advisory() -> None:
    bn = FIX / "article_bn_after_act_gap.onnx"
    assert run("check", bn).returncode == 0  # AL002 is info, default fail level is warning
    assert run("check", bn, "--fail-on", "info").returncode == 1


def test_select_and_ignore() -> None:
    r = run("check", DROPOUT, "--select", "AL003", "--format", "json")
    assert {f["code"] for f in json.loads(r.stdout)["findings"]} == {"AL003"}
    r = run("check", DROPOUT, "--ignore", "AL001,AL003,AL012,AL014,AL016", "--format", "json")
    assert json.loads(r.stdout)["findings"] == []
    assert r.returncode == 0


def test_unknown_code_is_usage_error() -> None:
    r = run("check", DROPOUT, "--select", "XX999")
    assert r.returncode == 2
    assert "unknown rule code 'XX999'" in r.stderr
    assert "Traceback" not in r.stderr


def test_json_schema() -> None:
    r = run("check", DROPOUT, "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["schema"] == "archlint.report" and doc["version"] == 1
    assert doc["summary"]["findings"] == 16
    assert doc["summary"]["by_code"] == {"AL001": 9, "AL003": 1, "AL012": 1, "AL014": 2, "AL016": 3}
    f = next(x for x in doc["findings"] if x["code"] == "AL001")
    assert set(f) >= {"code", "rule", "severity", "message", "fix", "path", "layer", "op_type", "source"}
    assert f["layer"] == "dropout_1" and f["severity"] == "warning"


def test_directory_is_searched() -> None:
    r = run("check", FIX, "--format", "json", "--select", "AL001")
    doc = json.loads(r.stdout)
    assert doc["summary"]["files"] == 32
    assert r.returncode == 1


def test_rules_and_explain() -> None:
    r = run("rules")
    assert r.returncode == 0
    for code in ("AL001", "AL002", "AL003", "AL900"):
        assert code in r.stdout
    r = run("explain", "AL001")
    assert r.returncode == 0
    assert "# AL001 dropout-between-conv" in r.stdout and "## Use instead" in r.stdout
    assert run("explain", "dense-head").returncode == 0
    r = run("explain", "AL777")
    assert r.returncode == 2 and "unknown rule" in r.stderr


# ---- bad input: one clear line naming the file, exit 2, others still linted ----

def _one_error_line(r: subprocess.CompletedProcess, path: Path | str, text: str) -> None:
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and text in lines[0]
    assert "Traceback" not in r.stderr


def test_missing_path(tmp_path: Path) -> None:
    p = tmp_path / "nope.onnx"
    _one_error_line(run("check", p), p, "no such file or folder")


def test_folder_without_models(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    _one_error_line(run("check", tmp_path), tmp_path, "no model files found")


def test_non_model_file(tmp_path: Path) -> None:
    p = tmp_path / "readme.txt"
    p.write_text("hello")
    _one_error_line(run("check", p), p, "unsupported file type '.txt'")


def test_empty_onnx(tmp_path: Path) -> None:
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    _one_error_line(run("check", p), p, "empty file")


def test_truncated_onnx(tmp_path: Path) -> None:
    p = tmp_path / "cut.onnx"
    data = DROPOUT.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    _one_error_line(run("check", p), p, "not a valid ONNX model")


def test_garbage_onnx(tmp_path: Path) -> None:
    p = tmp_path / "garbage.onnx"
    p.write_bytes(b"this is not protobuf at all \xff\xfe" * 10)
    _one_error_line(run("check", p), p, "ONNX")


def test_wrong_extension(tmp_path: Path) -> None:
    p = tmp_path / "model.bin"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    _one_error_line(run("check", p), p, "looks like an HDF5 file")


def test_hdf5_named_onnx(tmp_path: Path) -> None:
    p = tmp_path / "model.onnx"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    r = run("check", p)
    _one_error_line(r, p, "ONNX")


def test_other_files_still_linted(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"")
    r = run("check", bad, DROPOUT, "--format", "json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["summary"]["errors"] == 1
    assert doc["summary"]["findings"] == 16
    assert str(bad) in r.stderr


def test_verbose_shows_traceback_for_unexpected_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a usage error under --verbose prints the traceback too
    r = run("check", DROPOUT, "--select", "XX1", "--verbose")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_bad_format_option() -> None:
    r = run("check", DROPOUT, "--format", "yaml")
    assert r.returncode == 2 and "unknown --format" in r.stderr


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("archlint ")


def test_validate_is_wired_into_archlint(tmp_path: Path) -> None:
    r = run("validate", "--rule", "AL999", "--dataset", "synthetic", "--out", tmp_path)
    assert r.returncode == 2
    assert "AL999" in r.stderr and "Traceback" not in r.stderr
