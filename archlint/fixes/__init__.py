"""``archlint fix``: apply the rewrites rules declare, and say what they change.

:func:`fix_model` loads a model file into an editable document (the ONNX
protobuf with its initialisers, or a Keras config), then runs rounds: lint the
current model, ask each finding's rule for its rewrite
(:meth:`archlint.rules.base.Rule.fix`), apply the rewrites that touch disjoint
layers, and lint again, until no rewrite is left or :data:`MAX_ROUNDS` have run.
A rewrite is applied whole or not at all. The result lists what was applied,
what was left and why, and the findings before and after; :func:`diff_text`
renders it for ``archlint check --diff``; :meth:`FixOutcome.save` writes it.

Nothing here is imported by ``archlint check`` unless ``--diff`` is given.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.config import Config
from archlint.errors import ArchlintError
from archlint.findings import Finding, Severity
from archlint.fixes.edits import Delete, Insert, Move, Remove, Resize, Rewrite, SetAttrs, SetLoss
from archlint.graph import Graph

#: a fix that still leaves rewritable findings after this many rounds stops there
MAX_ROUNDS = 6


@dataclass
class Skipped:
    code: str
    layer: str | None
    why: str


@dataclass
class FixOutcome:
    """What fixing one model did."""

    path: str
    format: str
    applied: list[Rewrite] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    before: list[Finding] = field(default_factory=list)
    after: list[Finding] = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0
    layers_before: int = 0
    layers_after: int = 0
    notes: list[str] = field(default_factory=list)
    doc: Any = field(default=None, repr=False)

    @staticmethod
    def _key(f: Finding) -> tuple[str, str | None]:
        return f.code, f.layer

    @property
    def fixed(self) -> list[Finding]:
        after = {self._key(f) for f in self.after}
        return [f for f in self.before if self._key(f) not in after]

    @property
    def remaining(self) -> list[Finding]:
        before = {self._key(f) for f in self.before}
        return [f for f in self.after if self._key(f) in before]

    @property
    def new(self) -> list[Finding]:
        """Findings the fixed model has and the original did not (by code and layer)."""
        before = {self._key(f) for f in self.before}
        return [f for f in self.after if self._key(f) not in before]

    def save(self, out: str | Path) -> list[str]:
        """Write the fixed model; returns the paths written."""
        if self.doc is None:
            raise ArchlintError("nothing to write")
        written = self.doc.save(Path(out))
        self.notes = list(self.doc.notes)  # what writing decided (weights kept, drawn or left out)
        return written


def _findings(graph: Graph, config: Config, path: str) -> list[Finding]:
    from archlint.api import check_graph

    return [f for f in check_graph(graph, config, path) if not config.is_suppressed(f)]


def plan(graph: Graph, findings: list[Finding], config: Config) -> tuple[list[Rewrite], list[Skipped]]:
    """The rewrites for ``findings``: one per finding whose rule has one, in an order
    where removals come first; rewrites that touch a layer an earlier one touches
    are left for the next round."""
    from archlint.rules import get_rule

    enabled = {r.code for r in config.enabled_rules()}
    rewrites: list[Rewrite] = []
    skipped: list[Skipped] = []
    seen: set[tuple[str, str | None]] = set()
    for f in findings:
        rule_cls = get_rule(f.code)
        if rule_cls is None or rule_cls.code not in enabled or f.data.get("more"):
            continue
        if not rule_cls.has_fix():
            reason = (rule_cls.autofix or "").removeprefix("none").lstrip(":").strip()
            skipped.append(Skipped(f.code, f.layer, f"no rewrite: {reason}" if reason else "no rewrite"))
            continue
        try:
            rw = rule_cls().fix(graph, f)
        except Exception as e:  # noqa: BLE001 - a broken rewrite must not stop the others
            skipped.append(Skipped(f.code, f.layer, f"rewrite failed: {type(e).__name__}: {e}"))
            continue
        if rw is None:
            skipped.append(Skipped(f.code, f.layer, "no rewrite for this case"))
            continue
        key = (rw.code, rw.summary)
        if key in seen:  # one model-wide rewrite reported at several layers
            continue
        seen.add(key)
        rewrites.append(rw)
    rewrites.sort(key=lambda r: 0 if any(isinstance(e, (Remove, Delete)) for e in r.edits) else 1)
    taken: set[str] = set()
    out: list[Rewrite] = []
    for rw in rewrites:
        nodes = rw.nodes()
        if nodes & taken:
            continue  # next round, on the rewritten graph
        taken |= nodes
        out.append(rw)
    return out, skipped


def open_document(target: str, config: Config | None = None) -> Any:
    """An editable document for a model file; :class:`ArchlintError` for what cannot be fixed."""
    from archlint.frontends import frontend_for

    kind = frontend_for(target)
    if kind == "onnx":
        from archlint.fixes.documents import OnnxDocument

        return OnnxDocument(target)
    if kind == "keras":
        from archlint.fixes.documents import KerasDocument

        return KerasDocument(target)
    if kind == "torch":
        from archlint.fixes.documents import TorchDocument

        return TorchDocument(target, (config or Config()).load)
    raise ArchlintError(f"{target}: archlint fix reads .onnx, .keras and .h5 files, not {kind} models")


def fix_model(target: str, config: Config | None = None, *, rounds: int = MAX_ROUNDS) -> FixOutcome:
    """Apply every rewrite the enabled rules have for ``target``'s findings (in memory)."""
    config = config or Config()
    doc = open_document(target, config)
    graph = doc.graph()
    findings = _findings(graph, config, target)
    out = FixOutcome(path=target, format=graph.format, before=findings, doc=doc,
                     params_before=graph.total_params, layers_before=_layers(graph))
    skipped: dict[tuple[str, str | None], Skipped] = {}
    failed: set[tuple[str, str | None]] = set()
    for _ in range(rounds):
        rewrites, skips = plan(graph, findings, config)
        for s in skips:
            skipped[(s.code, s.layer)] = s
        rewrites = [r for r in rewrites if (r.code, r.summary) not in failed]
        if not rewrites:
            break
        done = 0
        editor = doc.editor()
        for rw in rewrites:
            mark = editor.checkpoint()
            try:
                for e in rw.edits:
                    editor.apply(e)
            except ArchlintError as e:
                editor.restore(mark)
                failed.add((rw.code, rw.summary))
                skipped[(rw.code, _layer_of(graph, rw))] = Skipped(rw.code, _layer_of(graph, rw), f"not applied: {e}")
                continue
            out.applied.append(rw)
            done += 1
        editor.finish()
        graph = doc.graph()
        findings = _findings(graph, config, target)
        if not done:
            break
    out.after = findings
    out.params_after = graph.total_params
    out.layers_after = _layers(graph)
    left = {(f.code, f.layer) for f in findings}
    out.skipped = [s for k, s in skipped.items() if k in left or s.why.startswith("not applied")]
    out.notes = list(doc.notes)
    return out


def _layer_of(graph: Graph, rw: Rewrite) -> str | None:
    for n in graph.nodes:
        if n.name == rw.node:
            return n.layer
    return None


def _layers(graph: Graph) -> int:
    from archlint.graph import OpKind

    return len({n.layer for n in graph.nodes if n.kind not in (OpKind.INPUT, OpKind.OUTPUT)})


def _counts(findings: list[Finding]) -> str:
    c = Counter(f.code for f in findings)
    return ", ".join(f"{code} ({n})" if n > 1 else code for code, n in sorted(c.items())) or "none"


_SIGNS = {Remove: "-", Delete: "-", Insert: "+", Move: "~", SetAttrs: "*", Resize: "*", SetLoss: "*"}


def diff_text(out: FixOutcome) -> str:
    """What the fix changes, as ``archlint check --diff`` prints it."""
    if not out.applied and not out.skipped:
        return f"{out.path}: nothing to fix"
    lines = [f"{out.path}: {len(out.applied)} rewrite{'s' if len(out.applied) != 1 else ''}"]
    kinds = Counter()
    for rw in out.applied:
        signs = [_SIGNS[type(e)] for e in rw.edits]
        kinds.update(signs)
        if len(rw.edits) == 1:
            lines.append(f"  {rw.code} {signs[0]} {rw.edits[0].describe()}")
            continue
        lines.append(f"  {rw.code} {rw.summary}")
        lines += [f"      {sign} {e.describe()}" for sign, e in zip(signs, rw.edits)]
    for s in out.skipped:
        where = f" '{s.layer}'" if s.layer else ""
        lines.append(f"  {s.code}{where}: not fixed: {s.why}")
    lines.append(
        f"  layers: {out.layers_before} -> {out.layers_after} ({kinds['-']} removed, {kinds['+']} added, "
        f"{kinds['~']} moved, {kinds['*']} changed)"
    )
    delta = out.params_after - out.params_before
    lines.append(f"  parameters: {out.params_before:,} -> {out.params_after:,} ({delta:+,})")
    lines.append(f"  findings fixed: {_counts(out.fixed)}; left: {_counts(out.remaining)}; new: {_counts(out.new)}")
    lines += [f"  note: {n}" for n in out.notes]
    return "\n".join(lines)


def worst_new(out: FixOutcome) -> Severity | None:
    return max((f.severity for f in out.new), default=None)
