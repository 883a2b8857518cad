"""[tool.archlint] configuration: discovery, keys, rule options, suppressions
and their errors, through the API and the CLI on real fixtures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archlint import config as cfg
from archlint.api import lint_paths
from archlint.errors import ConfigError
from archlint.findings import Severity
from archlint.rules import ALL_RULES
from archlint.rules.base import Rule

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "onnx"
DROPOUT = "article_dropout03_before_act_dense.onnx"  # AL001 at dropout_1..9, AL003 at flatten_1
CLEAN = "clean_cnn.onnx"
# the rules these tests count on; other rules may also fire on the fixtures
ONLY = '[tool.archlint]\nselect = ["AL001", "AL002", "AL003"]\n'


def project(tmp_path: Path, toml: str, name: str = "pyproject.toml", models: tuple[str, ...] = (DROPOUT,)) -> Path:
    (tmp_path / name).write_text(toml, encoding="utf-8")
    (tmp_path / "models").mkdir(exist_ok=True)
    for m in models:
        shutil.copy(FIX / m, tmp_path / "models" / m)
    return tmp_path


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=_env())


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")  # this checkout's archlint
    return env


def codes_layers(doc: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["layer"]) for f in doc["findings"]]


# ---- discovery and precedence ----

def test_found_by_walking_up_from_the_model(tmp_path: Path) -> None:
    p = project(tmp_path, '[tool.archlint]\nselect = ["AL003"]\n')
    sub = p / "models" / "deep" / "er"
    sub.mkdir(parents=True)
    shutil.move(p / "models" / DROPOUT, sub / DROPOUT)
    (p / "models" / "deep" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: skipped
    assert cfg.find_config([str(sub / DROPOUT)]) == p / "pyproject.toml"
    r = run("check", sub / DROPOUT, "--format", "json", cwd=ROOT)
    assert codes_layers(json.loads(r.stdout)) == [("AL003", "flatten_1")]


def test_found_from_the_working_directory_for_non_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, '[tool.archlint]\nfail-on = "error"\n')
    assert cfg.find_config(["pkg.mod:factory"], cwd=tmp_path) == tmp_path / "pyproject.toml"
    monkeypatch.chdir(tmp_path)
    conf = cfg.resolve_config(None, ["pkg.mod:factory"])
    assert conf.fail_on is Severity.ERROR and conf.source == str(tmp_path / "pyproject.toml")


def test_archlint_toml_top_level_and_explicit_config(tmp_path: Path) -> None:
    p = project(tmp_path, 'select = ["AL001"]\n[per-layer-ignores]\n"dropout_[2-9]" = ["AL001"]\n', name="archlint.toml")
    r = run("check", "models", "--format", "json", cwd=p)
    assert codes_layers(json.loads(r.stdout)) == [("AL001", "dropout_1")]
    other = tmp_path / "elsewhere.toml"
    other.write_text('select = ["AL003"]\n')
    r = run("check", "models", "--format", "json", "--config", other, cwd=p)
    assert codes_layers(json.loads(r.stdout)) == [("AL003", "flatten_1")]


def test_cli_options_override_the_config(tmp_path: Path) -> None:
    p = project(tmp_path, '[tool.archlint]\nselect = ["AL003"]\nfail-on = "error"\n')
    r = run("check", "models", "--format", "json", cwd=p)
    assert codes_layers(json.loads(r.stdout)) == [("AL003", "flatten_1")]
    assert r.returncode == 0  # a warning under fail-on = "error"
    r = run("check", "models", "--format", "json", "--select", "AL001", "--fail-on", "warning", cwd=p)
    assert {c for c, _ in codes_layers(json.loads(r.stdout))} == {"AL001"}
    assert r.returncode == 1


def test_ignore_from_config(tmp_path: Path) -> None:
    p = project(tmp_path, '[tool.archlint]\nselect = ["AL001", "AL003"]\nignore = ["AL001"]\n')
    doc = json.loads(run("check", "models", "--format", "json", cwd=p).stdout)
    assert codes_layers(doc) == [("AL003", "flatten_1")]


# ---- suppressions ----

def test_per_file_ignores_relative_to_the_config(tmp_path: Path) -> None:
    p = project(tmp_path, ONLY + '[tool.archlint.per-file-ignores]\n"models/article_*.onnx" = ["AL001"]\n',
                models=(DROPOUT, CLEAN))
    doc = json.loads(run("check", p / "models", "--format", "json", cwd=ROOT).stdout)
    assert codes_layers(doc) == [("AL003", "flatten_1")]
    by_file = {Path(f["path"]).name: f for f in doc["files"]}
    assert by_file[DROPOUT]["suppressed"] == 9 and by_file[CLEAN]["suppressed"] == 0
    assert doc["unused_suppressions"] == []


def test_per_layer_ignores(tmp_path: Path) -> None:
    p = project(tmp_path, ONLY + '[tool.archlint.per-layer-ignores]\n"dropout_[1-4]" = ["AL001"]\n"flatten*" = ["AL0"]\n')
    conf = cfg.resolve_config(None, [str(p / "models" / DROPOUT)])
    res = lint_paths([str(p / "models" / DROPOUT)], conf)
    assert [f.layer for f in res.findings] == [f"dropout_{i}" for i in range(5, 10)]
    assert sorted(why for _, why in res.files[0].suppressed) == (
        ["per-layer-ignores['dropout_[1-4]']"] * 4 + ["per-layer-ignores['flatten*']"]
    )
    assert res.unused_suppressions == []


def test_unused_suppressions_are_reported_per_code(tmp_path: Path) -> None:
    p = project(
        tmp_path,
        ONLY + '[tool.archlint.per-layer-ignores]\n"dropout_*" = ["AL001", "AL002"]\n"nothing_*" = ["AL001"]\n'
        '[tool.archlint.per-file-ignores]\n"*.keras" = ["AL003"]\n',
    )
    r = run("check", "models", "--format", "json", cwd=p)
    doc = json.loads(r.stdout)
    assert doc["unused_suppressions"] == [
        "per-file-ignores['*.keras'] AL003",
        "per-layer-ignores['dropout_*'] AL002",
        "per-layer-ignores['nothing_*'] AL001",
    ]
    assert codes_layers(doc) == [("AL003", "flatten_1")]
    text = run("check", "models", cwd=p).stdout
    assert "suppression per-layer-ignores['nothing_*'] AL001 matched no finding" in text
    assert "pyproject.toml: suppression" in text


def test_overlapping_suppressions_both_count_as_used(tmp_path: Path) -> None:
    p = project(tmp_path, ONLY + '[tool.archlint.per-layer-ignores]\n"dropout_*" = ["AL001"]\n"drop*" = ["AL001"]\n')
    res = lint_paths([str(p / "models" / DROPOUT)], cfg.resolve_config(p / "pyproject.toml", []))
    assert res.unused_suppressions == []
    assert len(res.files[0].suppressed) == 9


# ---- rule options ----

class _Probe(Rule):
    """Reports the options it was given.

    ## What it flags
    Nothing real; a test probe.

    ## Why it hurts
    It does not.

    ## Example
    None.

    ## Use instead
    Nothing.

    ## Evidence
    None.
    """

    code = "AL899"
    name = "options-probe"
    severity = Severity.WARNING
    options = {"max_params": 1000, "ratio": 0.5, "strict": False, "kinds": ["Conv"], "label": "x"}

    def check(self, graph, ctx):
        yield self.finding(None, json.dumps({k: ctx.option(k) for k in self.options}), "none", ctx)


@pytest.fixture
def probe_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    import archlint.rules as reg

    monkeypatch.setattr(reg, "ALL_RULES", (*reg.ALL_RULES, _Probe))
    monkeypatch.setitem(reg._BY_CODE, "AL899", _Probe)
    monkeypatch.setitem(reg._BY_NAME, "options-probe", _Probe)


def test_rule_options_reach_the_rule(tmp_path: Path, probe_registered: None) -> None:
    p = project(tmp_path, '[tool.archlint]\nselect = ["AL899"]\n[tool.archlint.rules.AL899]\nmax_params = 5\n'
                'ratio = 2\nkinds = ["Conv", "Gemm"]\n')
    res = lint_paths([str(p / "models" / DROPOUT)], cfg.resolve_config(None, [str(p / "models" / DROPOUT)]))
    assert json.loads(res.findings[0].message) == {
        "max_params": 5, "ratio": 2.0, "strict": False, "kinds": ["Conv", "Gemm"], "label": "x"
    }


@pytest.mark.parametrize(
    "table,key,problem",
    [
        ("max_params = 1.5", "tool.archlint.rules.AL899.max_params", "must be an integer (default 1000), got a number 1.5"),
        ("max_params = true", "tool.archlint.rules.AL899.max_params", "must be an integer"),
        ('strict = "yes"', "tool.archlint.rules.AL899.strict", "must be a boolean"),
        ('ratio = "0.5"', "tool.archlint.rules.AL899.ratio", "must be a number"),
        ('kinds = "Conv"', "tool.archlint.rules.AL899.kinds", "must be a list"),
        ("max_param = 3", "tool.archlint.rules.AL899.max_param", "unknown option for AL899 (did you mean 'max_params'?)"),
    ],
)
def test_rule_option_errors(tmp_path: Path, probe_registered: None, table: str, key: str, problem: str) -> None:
    f = tmp_path / "pyproject.toml"
    f.write_text(f"[tool.archlint.rules.AL899]\n{table}\n")
    with pytest.raises(ConfigError) as e:
        cfg.load_config(f)
    assert str(e.value).startswith(f"{f}: {key}: {problem}")


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.options], ids=lambda r: r.code)
def test_every_registered_option_accepts_its_default_and_rejects_a_wrong_type(tmp_path: Path, rule: type[Rule]) -> None:
    from archlint.docs import _toml

    f = tmp_path / "archlint.toml"
    f.write_text(f"[rules.{rule.code}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in rule.options.items() if v is not None))
    conf = cfg.load_config(f)
    assert set(conf.rule_options.get(rule.code, {})) == {k for k, v in rule.options.items() if v is not None}
    name, default = next((k, v) for k, v in rule.options.items() if v is not None)
    wrong = '"text"' if not isinstance(default, str) else "1"
    f.write_text(f"[rules.{rule.code}]\n{name} = {wrong}\n")
    with pytest.raises(ConfigError, match=f"rules.{rule.code}.{name}"):
        cfg.load_config(f)


# ---- errors: one line naming the file and key, exit 2 ----

@pytest.mark.parametrize(
    "toml,message",
    [
        ('[tool.archlint]\nselekt = ["AL001"]\n', "tool.archlint.selekt: unknown key (did you mean 'select'?)"),
        ('[tool.archlint]\nselect = ["XX123"]\n', "tool.archlint.select: unknown rule code 'XX123'"),
        ("[tool.archlint]\nignore = 3\n", "tool.archlint.ignore: must be a list of rule codes, got an integer"),
        ('[tool.archlint]\nfail-on = "fatal"\n', "tool.archlint.fail-on: unknown severity 'fatal'"),
        ("[tool.archlint]\nfail-on = 2\n", "tool.archlint.fail-on: must be a string"),
        ('[tool.archlint.per-file-ignores]\n"*.onnx" = ["AL1234"]\n',
         "tool.archlint.per-file-ignores.\"*.onnx\": unknown rule code 'AL1234'"),
        ('[tool.archlint]\nper-layer-ignores = ["AL001"]\n', "tool.archlint.per-layer-ignores: must be a table"),
        ("[tool.archlint.rules.AL777]\nx = 1\n", "tool.archlint.rules.AL777: unknown rule code 'AL777'"),
        ("[tool.archlint.rules.AL001]\nthreshold = 1\n", "tool.archlint.rules.AL001.threshold: unknown option for AL001"),
        ("[tool.archlint\nselect = 1\n", "not valid TOML"),
    ],
)
def test_config_errors_exit_2(tmp_path: Path, toml: str, message: str) -> None:
    p = project(tmp_path, toml)
    r = run("check", "models", cwd=p)
    assert r.returncode == 2, r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(f"archlint: error: {p / 'pyproject.toml'}") and message in lines[0], lines[0]


def test_missing_or_tableless_explicit_config(tmp_path: Path) -> None:
    p = project(tmp_path, '[project]\nname = "x"\n')
    r = run("check", "models", "--config", tmp_path / "nope.toml", cwd=p)
    assert r.returncode == 2 and "nope.toml: config file not found" in r.stderr
    r = run("check", "models", "--config", "pyproject.toml", cwd=p)
    assert r.returncode == 2 and "no [tool.archlint] table" in r.stderr
    assert run("check", "models", cwd=p).returncode == 1  # found but empty: the defaults
