"""Layered (Sugiyama) layout of small DAGs for the HTML report.

Graphviz ``dot`` does the work when its binary is on PATH: it is the
reference implementation of layered drawing (network-simplex ranking,
crossing reduction, spline routing) and is packaged everywhere
(``apt-get install graphviz``). Only numbers and generated ids go into dot,
never a name from the model file. Without dot, a small fallback ranks nodes
by longest path, orders each rank by the barycentre of its parents and draws
straight edges: readable for the chains and skip connections of neural
networks, never as tidy as dot.

``layout(graphs)`` lays out many graphs: the sparse ones (the chains and
skips of neural networks) with one dot process, each dense one (more than
:data:`DENSE_EDGES_PER_NODE` edges a node) in its own. dot has a small fixed
budget: :data:`DOT_VIEW_S` seconds a view and :data:`DOT_TOTAL_S` for all the
views of one model; a view whose dot run does not finish in time (a dense
60-node view can take minutes) gets the fallback layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field

#: node box size in pixels
NODE_W, NODE_H = 190, 54
_GAP_X, _GAP_Y = 30, 36
_DPI = 72.0
#: seconds of dot per view, and for all the views of one model; then the fallback layout
DOT_VIEW_S = 1.0
DOT_TOTAL_S = 4.0
#: a view with more edges than this per node is laid out by dot on its own
DENSE_EDGES_PER_NODE = 2.5
#: sparse views are laid out together, up to this many nodes a dot run
DOT_RUN_NODES = 400


@dataclass
class Layout:
    width: float
    height: float
    pos: dict[int, tuple[float, float]]  # node -> centre
    edges: list[tuple[int, int, list[tuple[float, float]]]] = field(default_factory=list)
    engine: str = "fallback"


def dot_binary() -> str | None:
    """The ``dot`` executable, unless ``ARCHLINT_NO_DOT`` is set."""
    if os.environ.get("ARCHLINT_NO_DOT"):
        return None
    return shutil.which("dot")


def layout(graphs: list[tuple[int, list[tuple[int, int]]]]) -> list[Layout]:
    """Lay out each ``(node count, edges)`` graph; nodes are ``0..n-1`` in a
    topological order, edges ``(src, dst)``."""
    dot = dot_binary()
    out: list[Layout | None] = [None] * len(graphs)
    if dot and graphs:
        deadline = time.monotonic() + DOT_TOTAL_S
        for run in _runs(graphs):
            budget = min(deadline - time.monotonic(), DOT_VIEW_S * len(run))
            if budget < 0.05:
                break
            try:
                for i, lay in zip(run, _dot_layout(dot, [graphs[i] for i in run], budget)):
                    out[i] = lay
            except (OSError, subprocess.SubprocessError, ValueError):
                pass  # a slow or broken dot falls back, never fails the report
    return [lay if lay is not None else _fallback(n, edges) for lay, (n, edges) in zip(out, graphs)]


def _runs(graphs: list[tuple[int, list[tuple[int, int]]]]) -> list[list[int]]:
    """Views grouped into dot runs, in order: sparse views together up to :data:`DOT_RUN_NODES`
    nodes a run (one process start for many small views), each dense view alone (so one slow view
    falls back alone)."""
    runs: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for i, (n, edges) in enumerate(graphs):
        if len(edges) > DENSE_EDGES_PER_NODE * n + 4:
            runs.append([i])
            continue
        if cur and size + n > DOT_RUN_NODES:
            runs.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += n
    if cur:
        runs.append(cur)
    runs.sort(key=lambda r: r[0])  # the root view first: it is what the page opens on
    return runs


def _dot_layout(dot: str, graphs: list[tuple[int, list[tuple[int, int]]]], timeout: float) -> list[Layout]:
    w, h = NODE_W / _DPI, NODE_H / _DPI
    src = []
    for k, (n, edges) in enumerate(graphs):
        src.append(f"digraph g{k} {{ nodesep=0.3; ranksep=0.35; node [shape=box, fixedsize=true, width={w:.3f}, height={h:.3f}, label=\"\"]; edge [arrowhead=none];")
        src += [f"n{i};" for i in range(n)]
        src += [f"n{a} -> n{b};" for a, b in edges]
        src.append("}")
    out = subprocess.run([dot, "-Tplain"], input="\n".join(src), capture_output=True, text=True, timeout=timeout, check=True).stdout
    layouts: list[Layout] = []
    cur: Layout | None = None
    height = 0.0
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "graph":
            height = float(parts[3])
            cur = Layout(width=float(parts[2]) * _DPI, height=height * _DPI, pos={}, engine="dot")
        elif parts[0] == "node" and cur is not None:
            cur.pos[int(parts[1][1:])] = (float(parts[2]) * _DPI, (height - float(parts[3])) * _DPI)
        elif parts[0] == "edge" and cur is not None:
            a, b, npts = int(parts[1][1:]), int(parts[2][1:]), int(parts[3])
            pts = [(float(parts[4 + 2 * i]) * _DPI, (height - float(parts[5 + 2 * i])) * _DPI) for i in range(npts)]
            cur.edges.append((a, b, pts))
        elif parts[0] == "stop" and cur is not None:
            layouts.append(cur)
            cur = None
    if len(layouts) != len(graphs):
        raise ValueError("dot returned fewer layouts than graphs")
    return layouts


def _fallback(n: int, edges: list[tuple[int, int]]) -> Layout:
    parents: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        parents[b].append(a)
    rank = [0] * n
    for i in range(n):  # nodes come in topological order
        rank[i] = max((rank[p] + 1 for p in parents[i]), default=0)
    ranks: dict[int, list[int]] = {}
    for i in range(n):
        ranks.setdefault(rank[i], []).append(i)
    order: dict[int, float] = {}
    for r in sorted(ranks):
        row = ranks[r]
        # barycentre of the parents' positions; ties keep graph order
        row.sort(key=lambda i: (sum(order[p] for p in parents[i]) / len(parents[i]) if parents[i] else 0.0, i))
        for k, i in enumerate(row):
            order[i] = float(k)
    widest = max((len(v) for v in ranks.values()), default=1)
    width = widest * (NODE_W + _GAP_X) + _GAP_X
    pos = {}
    for r, row in ranks.items():
        left = (width - len(row) * (NODE_W + _GAP_X) + _GAP_X) / 2
        for k, i in enumerate(row):
            pos[i] = (left + k * (NODE_W + _GAP_X) + NODE_W / 2, _GAP_Y + r * (NODE_H + _GAP_Y) + NODE_H / 2)
    height = (max(ranks, default=0) + 1) * (NODE_H + _GAP_Y) + _GAP_Y
    lay = Layout(width=width, height=height, pos=pos)
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        lay.edges.append((a, b, [(xa, ya + NODE_H / 2), (xb, yb - NODE_H / 2)]))
    return lay
