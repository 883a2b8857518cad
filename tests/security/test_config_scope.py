"""Round two, config scope (issue 11, item 7): each file uses the config
nearest to it; a contributor's nested ``.archlint.toml`` with
``ignore = ["ALL"]`` silences only the files below it, whatever the order of
the paths; the walk up stops at the repository root."""

from __future__ import annotations

import json
from pathlib import Path

from tests.security._util import ROOT, run_cli

FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[tool.archlint]\nfail-on = "warning"\n')
    (repo / "models" / "contrib").mkdir(parents=True)
    (repo / "models" / "good.onnx").write_bytes(FIXTURE.read_bytes())
    (repo / "models" / "contrib" / "evil.onnx").write_bytes(FIXTURE.read_bytes())
    (repo / "models" / "contrib" / ".archlint.toml").write_text('ignore = ["ALL"]\n')
    return repo


def _counts(stdout: str) -> dict[str, int]:
    doc = json.loads(stdout)
    out = {Path(f["path"]).name: 0 for f in doc["files"]}
    for f in doc["findings"]:
        out[Path(f["path"]).name] += 1
    return out


def test_nested_config_silences_only_its_folder(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    baseline = _counts(run_cli("check", "models/good.onnx", "--format", "json", cwd=repo).stdout)["good.onnx"]
    assert baseline > 0
    for order in (["models/contrib/evil.onnx", "models/good.onnx"], ["models/good.onnx", "models/contrib/evil.onnx"], ["."]):
        r = run_cli("check", *order, "--format", "json", cwd=repo)
        assert r.returncode == 1, (order, r.stderr)  # good.onnx still fails the run
        counts = _counts(r.stdout)
        assert counts == {"good.onnx": baseline, "evil.onnx": 0}, order


def test_command_line_options_apply_to_every_files_config(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = run_cli("check", "models/contrib/evil.onnx", "models/good.onnx", "--select", "AL001", "--format", "json", cwd=repo)
    counts = _counts(r.stdout)
    assert counts["evil.onnx"] == 0 and counts["good.onnx"] > 0
    assert {f["code"] for f in json.loads(r.stdout)["findings"]} == {"AL001"}


def test_explicit_config_governs_every_file(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    r = run_cli("check", ".", "--config", "pyproject.toml", "--format", "json", cwd=repo)
    counts = _counts(r.stdout)
    assert counts["evil.onnx"] == counts["good.onnx"] > 0


def test_config_above_the_repository_root_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "archlint.toml").write_text('ignore = ["ALL"]\n')
    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / "m.onnx").write_bytes(FIXTURE.read_bytes())
    r = run_cli("check", "m.onnx", "--format", "json", cwd=repo)
    assert r.returncode == 1 and _counts(r.stdout)["m.onnx"] > 0
