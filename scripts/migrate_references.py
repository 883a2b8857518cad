"""Convert rule files written before references were declared once: the docstring's
``## References`` items (full citations) and the ``references = ("label", ...)`` tuple become
``references = (Ref(label, citation), ...)``, paired in order. For branches that still edit the
old form (resolve a merge by taking their rule file, then run this on it). Files already
converted are left alone.

    python scripts/migrate_references.py archlint/rules/al030_kernel_grows_with_depth.py
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path


def _quote(s: str) -> str:
    if '"' not in s:
        return '"' + s.replace("\\", "\\\\") + '"'
    if "'" not in s:
        return "'" + s.replace("\\", "\\\\") + "'"
    return repr(s)


def convert(path: Path) -> bool:
    """Rewrite one rule file; False when there is nothing to convert."""
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef)
               and any(isinstance(b, ast.Name) and b.id == "Rule" for b in n.bases))
    doc = cls.body[0]
    assign = next((n for n in cls.body if isinstance(n, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "references" for t in n.targets)), None)
    if assign is None or not isinstance(assign.value, ast.Tuple):
        return False
    if any(isinstance(e, ast.Call) for e in assign.value.elts):
        return False  # converted already
    labels = [ast.literal_eval(e) for e in assign.value.elts]
    lines = src.splitlines(keepends=True)
    first, last = doc.lineno - 1, doc.end_lineno - 1  # the docstring; its closing quotes on the last line
    heading = next(i for i in range(first, last + 1) if lines[i].strip() == "## References")
    if lines[last].strip() != '"""':
        raise SystemExit(f"{path}: the docstring's closing quotes must be on a line of their own")
    items: list[str] = []
    for line in lines[heading + 1:last]:
        text = line.strip()
        if text.startswith("- "):
            items.append(text[2:].strip())
        elif text:
            items[-1] += " " + text
    if len(items) != len(labels):
        raise SystemExit(f"{path}: {len(items)} References items but {len(labels)} labels; pair them by hand")
    start = heading
    while lines[start - 1].strip() == "":
        start -= 1
    indent = re.match(r"\s*", lines[assign.lineno - 1]).group(0)
    entries = "".join(f"{indent}    Ref({_quote(label)},\n{indent}        {_quote(cite)}),\n"
                      for label, cite in zip(labels, items))
    out = "".join(lines[:start] + lines[last:assign.lineno - 1]
                  + [f"{indent}references = (\n{entries}{indent})\n"] + lines[assign.end_lineno:])
    out = out.replace("from archlint.rules.base import Rule, RuleContext\n",
                      "from archlint.rules.base import Ref, Rule, RuleContext\n")
    path.write_text(out, encoding="utf-8")
    return True


if __name__ == "__main__":
    done = [p for p in sys.argv[1:] if convert(Path(p))]
    print(f"{len(done)} converted" + "".join(f"\n  {p}" for p in done))
