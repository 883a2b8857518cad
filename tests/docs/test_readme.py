"""The README matches the code: every rule is in its table, its config example is valid,
and the Quick start test command is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from archlint.config import resolve_config
from archlint.rules import ALL_RULES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_rule_is_in_the_readme_table() -> None:
    rows = dict(re.findall(r"^\| \[(AL\d{3})\]\(rules/AL\d{3}\.md\) \| ([a-z0-9-]+) \|", README, re.M))
    assert rows == {r.code: r.name for r in ALL_RULES}


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    toml = re.search(r"```toml\n(.*?)```", README, re.S).group(1)
    (tmp_path / "pyproject.toml").write_text(toml)
    conf = resolve_config(tmp_path / "pyproject.toml", [])
    assert conf.ignore == ["AL016"]
    assert conf.rule_options["AL013"]["max_depth"] == 30


def test_ci_runs_the_quick_start_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(blocks) >= 2
    test_cmd = blocks[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
