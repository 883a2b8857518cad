"""Regenerate everything written from the rule files: the rule pages (rules/ALNNN.md and
rules/README.md), the README's rule table and the table of docs/rules-catalogue.md.

    python scripts/gen_docs.py           # write what is stale
    python scripts/gen_docs.py --check   # exit 1 listing what is stale (tests/docs/test_generated.py runs it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's archlint, installed or not

from archlint import docs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python scripts/gen_docs.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a generated file is stale")
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository to (re)generate (default: this one)")
    a = ap.parse_args(argv)
    if a.check:
        stale = docs.stale_files(a.root)
        for s in stale:
            print(s)
        if stale:
            print("run: python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    changed = docs.write_all(a.root)
    print(f"{len(changed)} file(s) rewritten" + "".join(f"\n  {f}" for f in changed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
