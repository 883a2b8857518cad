"""Scaffold a new rule (ruff's ``scripts/add_rule.py`` idea): the files a rule needs, with TODOs.

    python scripts/new_rule.py dropout-before-pooling [--code AL033] [--severity warning]

writes
  archlint/rules/al033_dropout_before_pooling.py   the rule: metadata, documentation, check()
  archlint/evidence/AL033.toml                     what backs it (grade "convention" until measured)
  fixtures/rules/torch/al033.py                    a failing and a near-miss PyTorch module
and adds ``al033_bad`` / ``al033_ok`` to fixtures/rules/make_rule_fixtures.py (the ONNX pair).

The registry finds the rule by its file name; nothing else is edited by hand. Then: fill in the
TODOs, run ``python fixtures/rules/make_rule_fixtures.py`` (the ONNX fixtures) and
``python scripts/gen_docs.py`` (the rule page, rules/README.md, the README and catalogue
tables), and the fixture tests (tests/rules/test_rule_fixtures.py) say when the rule works.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CODE = re.compile(r"^AL\d{3}$")
SEVERITIES = ("error", "warning", "info")

RULE = '''from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind
from archlint.rules.base import Ref, Rule, RuleContext


class {cls}(Rule):
    """TODO: one line saying what is wrong, e.g. "Dropout feeds a pooling layer."

    ## What it flags
    TODO: the pattern exactly as `check` matches it, and what it leaves alone.

    ## Why it hurts
    TODO: the mechanism, with the source that shows it.

    ## Example
    ```python
    TODO: the smallest model that shows it
    ```

    ## Use instead
    TODO: the remedy.
    """

    code = "{code}"
    name = "{name}"
    severity = Severity.{severity}
    references = (
        Ref("TODO: short label, e.g. Srivastava et al. 2014, JMLR",
            'TODO: the full citation, e.g. N. Srivastava et al., "Dropout: ...", JMLR 2014.'),
    )
    #: option name -> default, configurable in [tool.archlint.rules.{code}]; read with ctx.option(name)
    options = {{}}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.UNKNOWN):  # TODO: the kind this rule starts from
            if True:  # TODO: the condition; leave the near misses alone
                continue
            yield self.finding(
                node,
                "TODO: the problem, naming the layers involved",
                "TODO: the fix",
                ctx,
            )
'''

EVIDENCE = '''# Evidence for {code}. Format: archlint/evidence/README.md
schema = 1
rule = "{code}"
grade = "convention"
summary = "TODO: one line; what backs the rule (a validate run, a paper's numbers, or a convention and why)."
notes = "TODO: grade 'convention' until a [[published]] or [[measured]] entry backs it."
'''

TORCH = '''"""{code} {name}. Module attribute names are the expected layer names."""

from collections import OrderedDict

from torch import nn

#: the layers the failing module must be flagged at, with only {code} enabled
BAD_FINDINGS: list[str] = []  # TODO


def make_bad() -> nn.Module:
    """TODO: the smallest module with the anti-pattern."""
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 8, 3), relu=nn.ReLU()))


def make_ok() -> nn.Module:
    """TODO: the nearest module that is right (a near miss the rule must leave alone)."""
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 8, 3), relu=nn.ReLU()))
'''

ONNX = '''def {low}_bad() -> tuple[Net, list[str]]:
    """TODO: the anti-pattern; return the layers {code} must flag."""
    net = Net("{low}_bad")
    _cbr(net, 8)
    _head(net)
    return net, []  # TODO: the expected layers


def {low}_ok() -> Net:
    """TODO: the near miss {code} must leave alone."""
    net = Net("{low}_ok")
    _cbr(net, 8)
    _head(net)
    return net


'''


def next_code(root: Path) -> str:
    """The code after the highest architecture rule (AL001-AL099)."""
    taken = [int(p.name[2:5]) for p in (root / "archlint" / "rules").glob("al[0-9][0-9][0-9]_*.py")]
    low = [n for n in taken if n < 100]
    return f"AL{max(low, default=0) + 1:03d}"


def plan(root: Path, name: str, code: str, severity: str) -> dict[Path, str]:
    """``{path: new text}`` for every file the new rule needs."""
    if not NAME.match(name):
        raise SystemExit(f"name {name!r}: use kebab-case naming the anti-pattern (dropout-before-pooling)")
    if not CODE.match(code):
        raise SystemExit(f"code {code!r}: use ALNNN")
    if severity not in SEVERITIES:
        raise SystemExit(f"severity {severity!r}: use {', '.join(SEVERITIES)}")
    low = code.lower()
    rules = root / "archlint" / "rules"
    taken = {p.name[:5]: p for p in rules.glob("al[0-9][0-9][0-9]_*.py")}
    if low in taken:
        raise SystemExit(f"{code} is taken by {taken[low].name} (codes are never reused)")
    for p in rules.glob("al[0-9][0-9][0-9]_*.py"):
        if re.search(rf'^\s*name = "{re.escape(name)}"$', p.read_text(encoding="utf-8"), re.M):
            raise SystemExit(f"name {name!r} is taken by {p.name}")
    cls = "".join(part.capitalize() for part in name.split("-"))
    fmt = {"code": code, "name": name, "cls": cls, "severity": severity.upper(), "low": low}
    builders = root / "fixtures" / "rules" / "make_rule_fixtures.py"
    text = builders.read_text(encoding="utf-8")
    anchor = "def cases() ->"
    if anchor not in text:
        raise SystemExit(f"{builders}: no '{anchor}' to add the ONNX fixture builders before")
    return {
        rules / f"{low}_{name.replace('-', '_')}.py": RULE.format(**fmt),
        root / "archlint" / "evidence" / f"{code}.toml": EVIDENCE.format(**fmt),
        root / "fixtures" / "rules" / "torch" / f"{low}.py": TORCH.format(**fmt),
        builders: text.replace(anchor, ONNX.format(**fmt) + anchor, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/new_rule.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="kebab-case name of the anti-pattern, e.g. dropout-before-pooling")
    ap.add_argument("--code", help="ALNNN (default: the next free architecture code)")
    ap.add_argument("--severity", default="warning", choices=SEVERITIES)
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    a = ap.parse_args(argv)
    code = (a.code or next_code(a.root)).upper()
    files = plan(a.root, a.name, code, a.severity)
    for path, text in files.items():
        if path.exists() and path.name != "make_rule_fixtures.py":
            raise SystemExit(f"{path} exists")
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(("updated " if path.name == "make_rule_fixtures.py" else "wrote   ") + str(path.relative_to(a.root)))
    print("next: fill in the TODOs, then python fixtures/rules/make_rule_fixtures.py && python scripts/gen_docs.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
