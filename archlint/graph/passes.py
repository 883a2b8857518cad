"""The passes that finish a graph a frontend built, and the one pipeline that runs them.

A frontend only builds: nodes, edges, the attributes and shapes its file
states. :func:`archlint.frontends.load_graph` then runs :data:`PIPELINE`, in
this order:

1. ``tie-weights``: a dense layer that reads an embedding's table is tied to
   it, and a table used twice is counted once (:class:`TieWeights`);
2. ``shapes``: missing output shapes from each kind's attributes (:class:`InferShapes`);
3. ``patterns``: written-out GELU, RMSNorm, LayerNorm and attention fused into
   one node each (:class:`FusePatterns`);
4. the frontend's own relabels, which need shapes and fused kinds (the ONNX
   frontend's Reshape-to-Flatten and its notes on layers an export hides):
   each frontend module lists them as ``RELABELS``;
5. ``layouts``: what each value's axes mean (:class:`InferLayouts`);
6. ``weights``: on a torch capture, each node's parameter count from the
   weights it reads (free parameters and constant-index gathers included),
   and the random masks of a training capture (:class:`ExecutableWeights`).

Each pass is a small object with a ``name`` that does one thing and says
whether it changed the graph (:class:`PassResult`), after onnx-ir's
``PassBase`` / ``PassResult`` / ``PassManager``. The names of the passes run
are kept on ``Graph.passes``, so :func:`finish` never runs a pass twice on one
graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from archlint.graph.core import Graph, GraphBuilder
from archlint.graph.kinds import OpKind


@dataclass(frozen=True)
class PassResult:
    """What a pass did: the graph (passes work in place) and whether it changed."""

    graph: Graph
    modified: bool


class Pass:
    """One step over a graph, in place. Subclasses set ``name`` and write :meth:`call`."""

    name: str = ""

    def call(self, graph: Graph) -> bool:
        """Do the work; return whether the graph changed."""
        raise NotImplementedError

    def __call__(self, graph: Graph) -> PassResult:
        modified = bool(self.call(graph))
        graph.passes.append(self.name)
        return PassResult(graph, modified)

    def __repr__(self) -> str:
        return f"<pass {self.name}>"


class FunctionPass(Pass):
    """A pass made from a function ``graph -> bool | None`` (a frontend's relabel)."""

    def __init__(self, name: str, fn: Callable[[Graph], Any]) -> None:
        self.name = name
        self._fn = fn

    def call(self, graph: Graph) -> bool:
        return bool(self._fn(graph))


class TieWeights(Pass):
    """Mark a dense layer that reads an embedding's weight table (a tied output
    projection) and count the shared table once; a table looked up twice (T5's
    encoder and decoder) is counted once too. Reads ``attrs["weight"]``, the
    tensor name frontends record on EMBEDDING and DENSE nodes."""

    name = "tie-weights"

    def call(self, graph: Graph) -> bool:
        tables: dict[str, Any] = {}
        modified = False
        for n in graph.of_kind(OpKind.EMBEDDING):
            w = n.attrs.get("weight")
            if not w:
                continue
            if w in tables:  # one table looked up twice (T5's encoder and decoder share it): count it once
                n.attrs["shared"] = tables[w].layer
                n.attrs["params"] = 0
                modified = True
            else:
                tables[w] = n
        if not tables:
            return modified
        for n in graph.of_kind(OpKind.DENSE):
            emb = tables.get(n.attrs.get("weight", ""))
            if emb is None:
                continue
            n.attrs["tied"] = emb.layer
            emb.attrs["tied"] = n.layer
            shared = int(emb.attrs.get("params", 0))
            n.attrs["params"] = max(int(n.attrs.get("params", 0)) - shared, 0)
            modified = True
        return modified


class InferShapes(Pass):
    """Fill missing output shapes in topological order (:func:`archlint.graph.shapes.infer_shapes`)."""

    name = "shapes"

    def call(self, graph: Graph) -> bool:
        from archlint.graph.shapes import infer_shapes

        return infer_shapes(graph) > 0


class FusePatterns(Pass):
    """Fuse written-out GELU, RMSNorm, LayerNorm and attention (:mod:`archlint.graph.patterns`)."""

    name = "patterns"

    def call(self, graph: Graph) -> bool:
        from archlint.graph.patterns import fuse_patterns

        before = len(graph.nodes)
        fuse_patterns(graph)
        return len(graph.nodes) != before


class InferLayouts(Pass):
    """Fill ``Value.layout`` (:func:`archlint.graph.shapes.infer_layouts`)."""

    name = "layouts"

    def call(self, graph: Graph) -> bool:
        from archlint.graph.shapes import infer_layouts

        return infer_layouts(graph)


class ExecutableWeights(Pass):
    """Parameter counts from the weights each node reads, after fusion
    (:func:`archlint.execute.records.finish_weights`; graphs of a torch module only)."""

    name = "weights"

    def call(self, graph: Graph) -> bool:
        from archlint.execute.records import finish_weights

        return finish_weights(graph)


#: where the frontend's relabels go in :data:`PIPELINE`
RELABELS = "relabels"
#: the declared order; the frontend's relabels replace the :data:`RELABELS` slot
PIPELINE: tuple[Pass | str, ...] = (TieWeights(), InferShapes(), FusePatterns(), RELABELS, InferLayouts(),
                                    ExecutableWeights())


class PassManager:
    """Run passes in order on one graph, skipping those it has already had."""

    def __init__(self, passes: Iterable[Pass]) -> None:
        self.passes = list(passes)
        names = [p.name for p in self.passes]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"pass names must be set and unique: {names}")

    def __call__(self, graph: Graph) -> PassResult:
        modified = False
        for p in self.passes:
            if p.name in graph.passes:
                continue
            modified |= p(graph).modified
        return PassResult(graph, modified)


def pipeline(relabels: Sequence[Pass] = ()) -> PassManager:
    """:data:`PIPELINE` with a frontend's relabels in their slot."""
    out: list[Pass] = []
    for p in PIPELINE:
        if p == RELABELS:
            out.extend(relabels)
        else:
            out.append(p)  # type: ignore[arg-type]
    return PassManager(out)


def finish(graph: Graph | GraphBuilder, relabels: Sequence[Pass] = ()) -> Graph:
    """Run the pipeline on a built graph (a no-op for the passes it already had)."""
    if isinstance(graph, GraphBuilder):
        graph = graph.graph
    return pipeline(relabels)(graph).graph
