"""The import graph of ``archlint/`` and ``validation/``, read from the source with :mod:`ast`
(every import, top-level or inside a function): no cycles, and no private name or private module
reached from outside the module or package that owns it.

A private module (``rules/_match.py``) may be imported by the modules of its own package
(``archlint.rules.*``) only; a private name (``_device_data``) by no other module. The same check
reads ``python tests/core/test_layering.py``, which prints every cycle and climb it finds.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: import name -> folder
PACKAGES = {"archlint": ROOT / "archlint", "archlint_validation": ROOT / "validation"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def modules() -> dict[str, Path]:
    out = {}
    for pkg, base in PACKAGES.items():
        for f in sorted(base.rglob("*.py")):
            parts = [pkg, *f.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def imports(mods: dict[str, Path]) -> list[tuple[str, str, str | None]]:
    """``(importer, module, name)`` for every import of a module of ours; ``name`` is the
    imported name of a ``from M import name`` that is not itself a module, else None."""
    out = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                out += [(mod, a.name, None) for a in node.names if a.name in mods]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".")[: None if is_pkg else -1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target not in mods:
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    out.append((mod, sub, None) if sub in mods else (mod, target, a.name))
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def climbs(mods: dict[str, Path], found: list[tuple[str, str, str | None]]) -> list[str]:
    """Imports of a private name from another module, or of a private module from outside
    the package that holds it."""
    out = []
    for importer, target, name in found:
        if name is not None and _is_private(name) and target != importer:
            out.append(f"{importer} imports {target}.{name}")
        parts = target.split(".")
        for i, part in enumerate(parts):
            if _is_private(part):
                owner = ".".join(parts[:i])  # the package the private module belongs to
                if importer != owner and not importer.startswith(owner + "."):
                    out.append(f"{importer} imports {target} (private to {owner})")
                break
    return sorted(set(out))


def graph() -> tuple[dict[str, Path], list[tuple[str, str, str | None]], dict[str, set[str]]]:
    mods = modules()
    found = imports(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for importer, target, _ in found:
        if target != importer:
            edges[importer].add(target)
    return mods, found, edges


def test_the_import_graph_has_no_cycle() -> None:
    _, _, edges = graph()
    assert cycles(edges) == []


def test_no_private_name_is_imported_across_modules() -> None:
    mods, found, _ = graph()
    assert climbs(mods, found) == []


def test_the_cli_reaches_models_only_through_the_api() -> None:
    """cli.py parses options and picks a reporter; loading and checking are the API's."""
    _, _, edges = graph()
    around = sorted(m for m in edges["archlint.cli"]
                    if m.startswith(("archlint.frontends", "archlint.graph", "archlint.rules.runner")))
    assert around == []
    assert "archlint.api" in edges["archlint.cli"]


def test_the_check_sees_what_it_claims_to() -> None:
    mods, found, edges = graph()
    assert len(mods) > 100 and len(found) > 300  # the whole tree is read, lazy imports included
    assert "archlint.frontends.onnx" in edges["archlint.api"]  # a lazy import inside a function
    assert "archlint_validation.errors" in edges["archlint_validation.runner"]  # a relative import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    fake = {"p": Path(), "p.q": Path(), "p._r": Path(), "p.s._t": Path()}
    assert climbs(fake, [("p.q", "p._r", None), ("p.q", "p.s._t", None), ("p.q", "p._r", "_x"),
                         ("p._r", "p.q", "helper")]) == [
        "p.q imports p._r._x",
        "p.q imports p.s._t (private to p.s)",
    ]


if __name__ == "__main__":
    mods, found, edges = graph()
    print(f"{len(mods)} modules, {len(found)} imports")
    for c in cycles(edges):
        print("cycle:", " <-> ".join(c))
    for c in climbs(mods, found):
        print("climb:", c)
