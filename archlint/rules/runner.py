"""Run rules over one graph: the one place a rule's ``check`` is called.

A rule that raises becomes an internal finding naming the rule; the other
rules still run. The rules' graph walks share memos for the run (linear time
however many nodes a rule asks about: :func:`archlint.rules._match.shared_walks`),
and each rule reports at most :data:`MAX_FINDINGS_PER_RULE` findings per file,
then one "N more".
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from archlint.findings import Finding, Severity
from archlint.graph import Graph
from archlint.rules._match import shared_walks
from archlint.rules.base import Rule, RuleContext

#: the code of a finding that says a rule failed
INTERNAL_CODE = "AL000"
#: the most findings one rule reports for one file; the rest become one "(N more)" finding
MAX_FINDINGS_PER_RULE = 200


def run_rules(graph: Graph, rules: Iterable[tuple[type[Rule], Mapping[str, Any]]], path: str = "") -> list[Finding]:
    """The findings of ``rules`` (each with its options) on ``graph``, sorted."""
    out: list[Finding] = []
    with shared_walks(), _collector_leaves_the_graph():
        for rule_cls, options in rules:
            ctx = RuleContext(path=path, options=dict(options))
            rule = rule_cls()
            try:
                kept: list[Finding] = []
                more = 0
                seen: set[tuple[str | None, str]] = set()
                for f in rule.check(graph, ctx):
                    if f.layer is not None:  # a module run twice (a shared block) gives the same finding twice
                        key = (f.layer, f.message)
                        if key in seen:
                            continue
                        seen.add(key)
                    if len(kept) < MAX_FINDINGS_PER_RULE:
                        kept.append(f)
                    else:
                        more += 1
                out.extend(kept)
                if more:
                    out.append(_more_finding(rule_cls, kept, more, path))
            except Exception as e:  # noqa: BLE001 - a broken rule must not stop the run
                out.append(
                    Finding(
                        code=INTERNAL_CODE,
                        rule="internal-error",
                        severity=Severity.ERROR,
                        message=f"rule {rule_cls.code} ({rule_cls.name}) failed: {type(e).__name__}: {e}",
                        fix="please report this with the model file",
                        path=path,
                    )
                )
    out = _auxiliary_to_info(graph, out)
    out.sort(key=Finding.sort_key)
    return out


@contextmanager
def _collector_leaves_the_graph() -> Iterator[None]:
    """While the rules run, Python's cyclic garbage collector skips the objects that
    exist when they start: the graph, which no rule changes or frees. A full
    collection otherwise walks every node, value, edge list and attribute record
    (about seven objects a node), and the rules' own allocations trigger it again
    and again on a big graph (``benchmarks/big_graph_bench.py``). The objects go
    back to the collector when the rules end. Left alone when the collector is
    off or something else froze objects already (a server's own ``gc.freeze()``)."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _auxiliary_to_info(graph: Graph, found: list[Finding]) -> list[Finding]:
    """Findings on a branch that feeds only a training-only output (an auxiliary classifier, a
    deep-supervision head) drop to info, with a note saying so."""
    import dataclasses

    from archlint.rules._aux import NOTE, auxiliary_nodes

    if not any(f.node and f.severity > Severity.INFO for f in found):
        return found
    aux = auxiliary_nodes(graph)
    if not aux:
        return found
    names = {n.name for n in graph.nodes if id(n) in aux}
    return [
        dataclasses.replace(f, severity=Severity.INFO, message=f"{f.message}; {NOTE}", data={**f.data, "auxiliary": True})
        if f.node in names and f.severity > Severity.INFO else f
        for f in found
    ]


def _more_finding(rule_cls: type[Rule], kept: list[Finding], more: int, path: str) -> Finding:
    """One finding that stands for the ``more`` findings of a rule not reported."""
    return Finding(
        code=rule_cls.code,
        rule=rule_cls.name,
        severity=max(f.severity for f in kept),
        message=f"({more:,} more {rule_cls.code} findings in this file not shown: archlint reports "
        f"the first {MAX_FINDINGS_PER_RULE} of a rule per file)",
        fix="fix the findings shown and lint again",
        path=path,
        data={"more": more},
        order=max(f.order for f in kept) + 1,
    )
