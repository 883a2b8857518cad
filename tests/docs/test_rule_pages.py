"""The rule pages in rules/ are generated from the rules and kept current;
``archlint explain`` prints the same text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlint import docs
from archlint.cli import app
from archlint.rules import ALL_RULES

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "rules"


def test_committed_pages_are_current() -> None:
    stale = docs.stale_pages(PAGES)
    assert stale == [], "stale rule pages; run: python scripts/gen_docs.py\n" + "\n".join(stale)


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_explain_prints_the_page(rule: type) -> None:
    r = CliRunner().invoke(app, ["explain", rule.code])
    assert r.exit_code == 0
    assert r.stdout == (PAGES / f"{rule.code}.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_page_has_metadata_and_every_section(rule: type) -> None:
    page = docs.render_rule(rule)
    assert page.startswith(f"# {rule.code} {rule.name}\n\n{rule.summary}\n")
    assert f"- Severity: {rule.severity.label}\n" in page
    heads = [ln[3:] for ln in page.splitlines() if ln.startswith("## ")]
    assert heads == ["What it flags", "Why it hurts", "Example", "Use instead", "Automatic fix", "Evidence", "Options",
                     "References"]
    assert ("`archlint fix` leaves this finding alone" in page) != rule.has_fix()
    for name, default in rule.options.items():
        assert f"| `{name}` | `{docs._fmt_default(default)}` |" in page
    for alias in rule.aliases:
        assert f"`{alias}`" in page
    assert f"[{rule.code}]({rule.code}.md)" in (PAGES / "README.md").read_text(encoding="utf-8")


def test_options_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = ALL_RULES[0]
    monkeypatch.setattr(rule, "options", {"max_rate": 0.2, "strict": True, "kinds": ("Conv", "Gemm")})
    monkeypatch.setattr(rule, "aliases", ("AL0X1",))
    page = docs.render_rule(rule)
    assert "| `max_rate` | `0.2` |" in page and "| `strict` | `true` |" in page
    assert '| `kinds` | `["Conv", "Gemm"]` |' in page
    assert f"[tool.archlint.rules.{rule.code}]\nmax_rate = 0.2\nstrict = true\nkinds = [\"Conv\", \"Gemm\"]" in page
    assert "- Aliases: `AL0X1`" in page


def test_check_lists_stale_missing_and_orphan_pages(tmp_path: Path) -> None:
    def cli(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "archlint.docs", *a], capture_output=True, text=True,
                              cwd=ROOT, timeout=60)

    out = tmp_path / "rules"
    assert cli("--write", str(out)).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{r.code}.md" for r in ALL_RULES] + ["README.md"])
    assert cli("--check", str(out)).returncode == 0
    first, second = ALL_RULES[0].code, ALL_RULES[1].code
    (out / f"{first}.md").write_text("edited by hand\n")
    (out / f"{second}.md").unlink()
    (out / "AL998.md").write_text("gone\n")
    r = cli("--check", str(out))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [f"{out / first}.md (stale)", f"{out / second}.md (missing)", f"{out / 'AL998.md'} (no such rule)"]


def test_docs_never_import_torch() -> None:
    code = "import sys, archlint.docs as d; d.generate(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_rules_json_lists_options_and_aliases() -> None:
    import json

    r = CliRunner().invoke(app, ["rules", "--format", "json"])
    assert r.exit_code == 0
    listed = {x["code"]: x for x in json.loads(r.stdout)}
    assert list(listed) == [rule.code for rule in ALL_RULES]
    for rule in ALL_RULES:
        assert listed[rule.code]["aliases"] == list(rule.aliases)
        assert set(listed[rule.code]["options"]) == set(rule.options)
