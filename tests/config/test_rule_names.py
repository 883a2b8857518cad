"""A rule's name (``dropout-between-conv``) works wherever its code (``AL001``)
does: ``select``, ``ignore``, ``per-file-ignores``, ``per-layer-ignores``, the
CLI's ``--select``/``--ignore`` and ``[rules.NAME]``; a name that is not a
rule's is refused with one clear error line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archlint import config as cfg
from archlint.api import lint_paths
from archlint.errors import ConfigError, UsageError
from archlint.findings import Finding, Severity
from archlint.rules import ALL_RULES, get_rule

ROOT = Path(__file__).resolve().parents[2]
DROPOUT = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"  # AL001 x9, AL003 x1
AL001 = get_rule("AL001")
AL003 = get_rule("AL003")


def _project(tmp_path: Path, toml: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "models").mkdir()
    shutil.copy(DROPOUT, tmp_path / "models" / DROPOUT.name)
    return tmp_path / "models" / DROPOUT.name


def _lint(model: Path):
    return lint_paths([str(model)], cfg.resolve_config(None, [str(model)]))


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "archlint.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=env)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_name_selects_and_ignores_exactly_its_rule(rule) -> None:
    assert cfg.Config(select=[rule.name]).enabled_rules() == [rule]
    assert cfg.Config(select=[rule.name.upper()]).enabled_rules() == [rule]  # names are case-insensitive
    everything = [r.code for r in ALL_RULES]
    assert cfg.Config(select=everything, ignore=[rule.name]).enabled_rules() == [r for r in ALL_RULES if r is not rule]
    assert cfg.Config(select=[rule.code]).enabled_rules() == [rule]


def test_opt_in_rule_switched_on_by_its_name_but_not_by_a_prefix() -> None:
    opt_in = next(r for r in ALL_RULES if r.opt_in)
    assert opt_in not in cfg.Config(select=["AL"]).enabled_rules()
    assert opt_in in cfg.Config(select=["AL", opt_in.name]).enabled_rules()


def test_per_layer_ignores_by_name(tmp_path: Path) -> None:
    model = _project(tmp_path, '[tool.archlint]\nselect = ["AL001", "AL003"]\n'
                               '[tool.archlint.per-layer-ignores]\n"dropout_[1-4]" = ["dropout-between-conv"]\n'
                               '"flatten*" = ["Dense-Head"]\n')
    res = _lint(model)
    assert [(f.code, f.layer) for f in res.findings] == [("AL001", f"dropout_{i}") for i in range(5, 10)]
    assert sorted(why for _, why in res.files[0].suppressed) == (
        ["per-layer-ignores['dropout_[1-4]']"] * 4 + ["per-layer-ignores['flatten*']"]
    )
    assert res.unused_suppressions == []


def test_per_file_ignores_by_name(tmp_path: Path) -> None:
    model = _project(tmp_path, '[tool.archlint]\nselect = ["AL001", "AL003"]\n'
                               '[tool.archlint.per-file-ignores]\n"models/*.onnx" = ["dropout-between-conv"]\n')
    res = _lint(model)
    assert [f.code for f in res.findings] == ["AL003"]
    assert len(res.files[0].suppressed) == 9


def test_unused_suppression_by_name_is_reported_by_that_name(tmp_path: Path) -> None:
    model = _project(tmp_path, '[tool.archlint]\nselect = ["AL001", "AL003"]\n'
                               '[tool.archlint.per-layer-ignores]\n"nothing_*" = ["dense-head"]\n')
    assert _lint(model).unused_suppressions == ["per-layer-ignores['nothing_*'] dense-head"]


def test_select_and_ignore_by_name_in_the_config(tmp_path: Path) -> None:
    model = _project(tmp_path, '[tool.archlint]\nselect = ["dropout-between-conv", "dense-head"]\n'
                               'ignore = ["dropout-between-conv"]\n')
    assert {f.code for f in _lint(model).findings} == {"AL003"}


def test_cli_select_and_ignore_by_name(tmp_path: Path) -> None:
    r = _cli("check", DROPOUT, "--select", "dropout-between-conv,dense-head", "--ignore", "dense-head",
             "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert {f["code"] for f in json.loads(r.stdout)["findings"]} == {"AL001"}


def test_rule_options_by_name() -> None:
    conf = cfg.config_from_table({"rules": {"dropout-rate-too-high": {}}})
    assert conf.rule_options == {}
    name, default = next(iter(get_rule("AL006").options.items()))
    conf = cfg.config_from_table({"rules": {"dropout-rate-too-high": {name: default}}})
    assert conf.rule_options == {"AL006": {name: default}}


def test_a_finding_is_matched_by_code_prefix_name_and_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    f = Finding(code="AL001", rule="dropout-between-conv", severity=Severity.WARNING, message="m", fix="f",
                path="m.onnx", layer="dropout_1")
    monkeypatch.setattr(AL001, "aliases", ("AL901",))
    for pattern in ("AL001", "AL0", "al001", "ALL", "dropout-between-conv", "Dropout-Between-Conv", "AL901"):
        assert cfg.Config(per_layer_ignores={"dropout_*": [pattern]}).is_suppressed(f), pattern
    for pattern in ("AL002", "dense-head", "AL9010"):
        assert not cfg.Config(per_layer_ignores={"dropout_*": [pattern]}).is_suppressed(f), pattern


@pytest.mark.parametrize("key", ["select", "ignore", "per-file-ignores", "per-layer-ignores"])
def test_misspelt_name_refused_with_a_suggestion(key: str) -> None:
    value = ["dropout-between-convs"]
    table = {key: {"*": value}} if key.startswith("per-") else {key: value}
    with pytest.raises(ConfigError, match=r"unknown rule code 'dropout-between-convs' \(did you mean 'dropout-between-conv'\?\)"):
        cfg.config_from_table(table, source="pyproject.toml", prefix="tool.archlint")


@pytest.mark.parametrize("bad", ["", "  ", "nonsense"])
def test_empty_or_unknown_entry_refused(bad: str) -> None:
    # an empty entry used to match every code and silence everything
    with pytest.raises(UsageError, match="unknown rule code"):
        cfg.Config(ignore=[bad]).enabled_rules()
    with pytest.raises(ConfigError, match="per-layer-ignores"):
        cfg.config_from_table({"per-layer-ignores": {"*": [bad]}}, prefix="tool.archlint")


def test_cli_misspelt_name_is_one_error_line(tmp_path: Path) -> None:
    r = _cli("check", DROPOUT, "--ignore", "unscaled-atention", cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("archlint: error:") and "did you mean 'unscaled-attention'?" in lines[0], lines[0]
