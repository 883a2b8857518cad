"""A rule lives in one place, its file: the registry discovers it, its options' defaults are
declared once, and the pages and tables are generated from it by one command
(``python scripts/gen_docs.py``; ``--check`` says what is stale). A new rule is scaffolded by
``python scripts/new_rule.py``."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archlint import docs
from archlint.rules import ALL_RULES, RULE_MODULE

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted(p for p in (ROOT / "archlint" / "rules").glob("al*.py") if RULE_MODULE.match(p.stem))


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_generated_pages_and_tables_are_current() -> None:
    stale = docs.stale_files(ROOT)
    assert stale == [], "stale generated docs; run: python scripts/gen_docs.py\n" + "\n".join(stale)


def test_the_registry_is_every_rule_file_in_code_order() -> None:
    assert [r.__module__.rsplit(".", 1)[1] for r in ALL_RULES] == [p.stem for p in RULE_FILES]
    assert [r.code for r in ALL_RULES] == sorted(r.code for r in ALL_RULES)
    assert all(r.__module__.rsplit(".", 1)[1].startswith(r.code.lower() + "_") for r in ALL_RULES)


def _option_reads(path: Path) -> tuple[dict[str, object], list[tuple[int, list[ast.expr]]]]:
    """The ``options`` a rule file declares and each ``ctx.option(...)`` call's arguments."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared: dict[str, object] = {}
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "options" for t in node.targets):
            declared = ast.literal_eval(node.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "option"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "ctx"):
            calls.append((node.lineno, [*node.args, *(k.value for k in node.keywords)]))
    return declared, calls


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem[:5].upper())
def test_an_option_default_is_declared_once(path: Path) -> None:
    declared, calls = _option_reads(path)
    read = set()
    for line, args in calls:
        assert len(args) == 1 and isinstance(args[0], ast.Constant), \
            f"{path.name}:{line}: ctx.option(name) takes the name only; the default is the one in `options`"
        assert args[0].value in declared, f"{path.name}:{line}: option {args[0].value!r} is not declared in `options`"
        read.add(args[0].value)
    assert read == set(declared), f"{path.name}: declared options never read: {sorted(set(declared) - read)}"


def test_an_undeclared_option_is_an_error() -> None:
    from archlint.rules.base import RuleContext

    ctx = RuleContext(options={"max_rate": 0.5})
    assert ctx.option("max_rate") == 0.5
    with pytest.raises(KeyError, match="'min_rate' is not declared"):
        ctx.option("min_rate")


def _copy_repo(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.onnx", "*.bin", "*.h5", "*.keras")
    for d in ("archlint", "fixtures", "rules", "scripts", "docs"):
        shutil.copytree(ROOT / d, dst / d, ignore=ignore)
    shutil.copy(ROOT / "README.md", dst / "README.md")
    return dst


def test_check_names_a_hand_edited_table_and_write_restores_it(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    readme = repo / "README.md"
    before = readme.read_text(encoding="utf-8")
    readme.write_text(before.replace("| dropout-between-conv | warning |", "| dropout-between-conv | error |"))
    (repo / "rules" / "AL002.md").unlink()
    r = run("scripts/gen_docs.py", "--check", cwd=repo)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [f"{repo / 'rules' / 'AL002.md'} (missing)", f"{readme} (stale)"]
    assert "run: python scripts/gen_docs.py" in r.stderr
    r = run("scripts/gen_docs.py", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert readme.read_text(encoding="utf-8") == before
    assert run("scripts/gen_docs.py", "--check", cwd=repo).returncode == 0


def test_a_new_rule_is_one_file_plus_fixtures_and_one_command(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    r = run("scripts/new_rule.py", "dropout-before-pooling", "--severity", "info", cwd=repo)
    assert r.returncode == 0, r.stderr
    code = f"AL{max(int(x.code[2:]) for x in ALL_RULES if x.code < 'AL100') + 1:03d}"
    low = code.lower()
    written = sorted(line.split()[1] for line in r.stdout.splitlines() if line.startswith(("wrote", "updated")))
    assert written == sorted([f"archlint/rules/{low}_dropout_before_pooling.py", f"archlint/evidence/{code}.toml",
                              f"fixtures/rules/torch/{low}.py", "fixtures/rules/make_rule_fixtures.py"])
    # discovered without registering it anywhere, with a valid evidence stub and both ONNX builders
    probe = (
        "from archlint.rules import get_rule; from archlint.evidence import for_rule; "
        "from fixtures.rules.make_rule_fixtures import cases; "
        f"r = get_rule('dropout-before-pooling'); print(r.code, r.severity.label, r.__module__, "
        f"for_rule('{code}').grade, '{code}' in cases())"
    )
    r = run("-c", probe, cwd=repo)
    assert r.stdout.split() == [code, "info", f"archlint.rules.{low}_dropout_before_pooling", "convention", "True"], r.stderr
    # the page, the index and both tables are stale until the one command runs
    r = run("scripts/gen_docs.py", "--check", cwd=repo)
    assert r.returncode == 1
    assert {Path(line.split()[0]).relative_to(repo).as_posix() for line in r.stdout.splitlines()} == {
        f"rules/{code}.md", "rules/README.md", "README.md", "docs/rules-catalogue.md"}
    assert run("scripts/gen_docs.py", cwd=repo).returncode == 0
    assert run("scripts/gen_docs.py", "--check", cwd=repo).returncode == 0
    assert f"| [{code}](rules/{code}.md) | dropout-before-pooling | info |" in (repo / "README.md").read_text()
    assert f"| {code} | `dropout-before-pooling` | info |" in (repo / "docs" / "rules-catalogue.md").read_text()
    # a code or a name is never taken twice
    again = run("scripts/new_rule.py", "dropout-before-pooling", cwd=repo)
    assert again.returncode != 0 and "is taken by" in again.stderr
    assert "is taken by al001_" in run("scripts/new_rule.py", "other-name", "--code", "AL001", cwd=repo).stderr


def test_references_are_declared_once() -> None:
    """The page's References come from ``references`` (label + citation); a docstring that
    writes them a second time, or a bare string, is refused when the class is defined."""
    from archlint.findings import Severity
    from archlint.rules.base import Ref, Rule

    doc = "A probe.\n\n## What it flags\nx\n\n## Why it hurts\nx\n\n## Example\nx\n\n## Use instead\nx\n"
    with pytest.raises(TypeError, match="docstring sections"):
        type("Twice", (Rule,), {"__doc__": doc + "\n## References\n- A. Author, 2020.\n", "code": "AL898",
                                "name": "probe", "severity": Severity.INFO})
    with pytest.raises(TypeError, match="Ref"):
        type("Bare", (Rule,), {"__doc__": doc, "code": "AL898", "name": "probe", "severity": Severity.INFO,
                               "references": ("A. Author 2020",)})
    ok = type("Once", (Rule,), {"__doc__": doc, "code": "AL898", "name": "probe", "severity": Severity.INFO,
                                "references": (Ref("Author 2020", 'A. Author, "Title", Venue 2020.'),)})
    page = docs.render_rule(ok)
    assert page.endswith('## References\n\n- A. Author, "Title", Venue 2020.\n')
    for rule in ALL_RULES:
        assert rule.references and all(isinstance(r, Ref) for r in rule.references), rule.code
