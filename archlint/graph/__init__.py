"""The common graph every frontend produces and every rule reads, and its contract.

``from archlint.graph import Graph, Node, Value, OpKind, GraphBuilder, ...``
is the public surface; the modules of the package are

- :mod:`~archlint.graph.kinds`: the closed :class:`OpKind` set and its families;
- :mod:`~archlint.graph.core`: :class:`Graph`, :class:`Node`, :class:`Value`,
  :class:`GraphBuilder` (the only code that makes edges);
- :mod:`~archlint.graph.attrs`: one typed attribute record per kind;
- :mod:`~archlint.graph.names`: the activation, dropout and normalisation
  names of every framework, in one table;
- :mod:`~archlint.graph.shapes`, :mod:`~archlint.graph.patterns`: shape and
  layout inference, written-out pattern fusion;
- :mod:`~archlint.graph.passes`: the passes and the one pipeline ``load_graph`` runs.

CONTRACT
========

What a frontend must produce (``Graph.lint()`` checks the structural part;
tests run it on every frontend's output):

Structure
    Nodes in topological order, ``Node.index`` their position. Every edge is a
    :class:`Value` with one producer and its consumers, made only by
    :class:`GraphBuilder` (``add``, ``add_input``, ``mark_output``). Graph
    inputs are INPUT nodes, graph outputs OUTPUT nodes. Weights, constants and
    buffers are not values: an input name that names no value is dropped, and
    the weight's size goes into ``attrs["params"]``.

Kinds
    ``Node.kind`` is one :class:`OpKind`, chosen once in the frontend (use the
    shared tables of :mod:`archlint.graph.names`); ``op_type`` keeps the
    framework's own op name, ``layer`` the user-facing layer name or module
    path, ``source`` the ``file:line`` where known. An op archlint does not
    understand is UNKNOWN, never guessed.

Canonical axis order
    Feature maps are ``(N, C, *spatial)``, channel first, whatever the
    framework's layout (a Keras NHWC model is transposed on reading); unknown
    dimensions are ``None``. A sequence of feature vectors is ``(N, L, D)``
    (layout ``"NLD"``; the Keras frontend stores it ``(N, D, L)``, layout
    ``"NDL"``), token ids ``(N, L)`` (``"NL"``), vectors ``(N, D)`` (``"ND"``).
    Window attributes (``kernel``, ``stride``, ``dilation``) list the spatial
    axes in that order; explicit ``padding`` is ONNX's: all begins, then all
    ends. ``axis`` attributes are canonical axes. Frontends set the shapes
    their file states; the ``shapes`` and ``layouts`` passes fill the rest.

Attributes
    ``Node.attrs`` is the kind's record (:mod:`archlint.graph.attrs`), a dict
    whose declared keys are type-checked when the node is built and when set
    later (a wrong type is a :class:`GraphError`; ``None`` means unknown);
    undeclared keys are kept. Read ``node.attrs.rate`` for the value or the
    declared default, ``node.attrs.get("rate")`` to learn whether the file
    gave one. The declared fields, per kind, are :func:`attrs.contract_table`
    (rendered in ``docs/graph-contract.md``).

Weights and tied weights
    Every node that owns trainable parameters says how many in
    ``attrs["params"]`` (weight and bias, or scale and shift), so
    ``Graph.total_params`` is the model's size. An EMBEDDING and a DENSE
    that read a weight tensor name it in ``attrs["weight"]``; the
    ``tie-weights`` pass then marks a dense projection that reuses an
    embedding's table (``attrs["tied"]`` on both, naming the other's layer)
    and counts the table once (the projection's ``params`` drop by the
    table's size), and marks a second lookup in the same table
    (``attrs["shared"]``, ``params`` 0).

Passes
    A frontend only builds. ``load_graph`` runs :data:`passes.PIPELINE`
    (tie weights, shapes, pattern fusion, the frontend's relabels, layouts);
    ``Graph.passes`` names the passes run. Rules never change a graph.
"""

from __future__ import annotations

from archlint.graph.attrs import ATTRS, Attrs, attrs_for
from archlint.graph.core import (
    Deferred,
    ExportNote,
    Graph,
    GraphBuilder,
    Node,
    SourceLocation,
    Value,
)
from archlint.graph.kinds import (
    MERGE_KINDS,
    NORM_KINDS,
    SPATIAL_LAYOUTS,
    WEIGHT_KINDS,
    GraphError,
    OpKind,
)

__all__ = [
    "ATTRS",
    "MERGE_KINDS",
    "NORM_KINDS",
    "SPATIAL_LAYOUTS",
    "WEIGHT_KINDS",
    "Attrs",
    "Deferred",
    "ExportNote",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "Node",
    "OpKind",
    "SourceLocation",
    "Value",
    "attrs_for",
]
