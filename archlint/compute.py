"""What a forward pass costs, per node, from the graph's shapes and attributes alone:
multiply-accumulates (MACs, what fvcore calls "flops" and torchinfo "mult-adds") and
the memory of each node's output (activation memory).

Counted as fvcore counts them: a convolution is ``out_elements x in_channels/groups x
kernel``, a dense layer ``out_elements x in_features``, attention its two matrix
products (scores and the weighted sum) plus its projections where the node holds them,
a product of two activations (matmul, einsum) ``out_elements x`` the size it sums over,
a norm or a pooling layer one MAC per element it reads (fvcore's batch/layer/group norm
and adaptive pooling handles), an RNN its gate matrices per time step. Elementwise
activations, adds and data movement count nothing (fvcore skips them too). The batch is
the graph's own (the capture's example input; 1 where it is unknown).
"""

from __future__ import annotations

import math
from typing import Any

from archlint.graph import Graph, Node, OpKind

#: bytes per activation element (float32), for activation memory
BYTES = 4


def _elems(shape: Any) -> int | None:
    if not shape or any(d is None for d in shape[1:]):
        return None
    return int(math.prod(1 if d is None else int(d) for d in shape))


def node_macs(node: Node) -> int | None:
    """MACs of one node; None where its shapes are unknown, 0 where it computes nothing
    worth counting."""
    k = node.kind
    a = node.attrs
    out = node.outputs[0].shape if node.outputs else None
    x = node.inputs[0].shape if node.inputs else None
    if k is OpKind.CONV:
        n_out = _elems(out)
        kernel = a.get("kernel") or ()
        cin = a.get("in_channels") or (x[1] if x and len(x) > 1 else None)
        groups = int(a.get("groups") or 1)
        if n_out is None or not kernel or not cin:
            return None
        if a.get("transposed"):  # each input element is spread over the kernel
            n_in = _elems(x)
            cout = a.get("channels") or (out[1] if out else None)
            return None if n_in is None or not cout else n_in * (cout // groups) * math.prod(kernel)
        return n_out * (int(cin) // groups) * math.prod(int(d) for d in kernel)
    if k is OpKind.DENSE:
        n_out = _elems(out)
        fin = a.get("in_features") or (x[-1] if x and len(x) == 2 else x[1] if x and len(x) > 2 else None)
        if n_out is None or not fin:
            return None
        return n_out * int(fin)
    if k in (OpKind.BATCH_NORM, OpKind.NORM, OpKind.LAYER_NORM, OpKind.RMS_NORM):
        return _elems(x) or 0
    if k is OpKind.GLOBAL_POOL:  # fvcore's adaptive pooling handle: one per element read
        return _elems(x) or 0
    if k is OpKind.ATTENTION:
        if not x or len(x) < 3 or _elems(x) is None:
            return None
        # canonical sequences are (N, D, L)
        n, d, length = int(x[0] or 1), int(x[1]), int(x[-1])
        macs = 2 * n * length * length * d  # q @ k^T and attn @ v
        if a.get("params"):  # the node holds its q/k/v/out projections (Keras MultiHeadAttention)
            macs += int(a["params"]) * n * length
        return macs
    if k is OpKind.MATMUL:  # a product of two activations: each output element sums `contracted` products
        n_out = _elems(out)
        return None if n_out is None or not a.get("contracted") else n_out * int(a["contracted"])
    if k is OpKind.RNN:
        if not x or _elems(x) is None:
            return None
        hidden = int(a.get("hidden") or a.get("units") or 0)
        gates = {"lstm": 4, "gru": 3}.get(str(a.get("cell")), 1)
        steps = int(x[-1]) if len(x) == 3 and x[-1] else 1
        cin = int(x[1]) if len(x) > 1 and x[1] else 0
        dirs = 2 if a.get("bidirectional") else 1
        return int(x[0] or 1) * steps * dirs * gates * hidden * (cin + hidden) * int(a.get("layers") or 1)
    return 0


def activation_bytes(node: Node) -> int | None:
    """Memory of the node's outputs (float32)."""
    total = 0
    for v in node.outputs:
        e = _elems(v.shape)
        if e is None:
            return None
        total += e
    return total * BYTES


def graph_compute(graph: Graph) -> dict[str, Any]:
    """Totals: MACs (and FLOPs = 2 x MACs), activation memory, and how many nodes with
    work could not be counted (unknown shapes)."""
    macs = 0
    mem = 0
    uncounted = 0
    for n in graph.nodes:
        if n.kind in (OpKind.INPUT, OpKind.OUTPUT):
            continue
        m = node_macs(n)
        if m is None:
            uncounted += 1
        else:
            macs += m
        b = activation_bytes(n)
        mem += b or 0
    return {"macs": macs, "flops": 2 * macs, "activation_bytes": mem, "uncounted": uncounted}


def human(n: float, unit: str = "") -> str:
    """``4.1 G``, ``312.5 M``, ``12 k``."""
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.2f} {suffix}{unit}"
    return f"{int(n)} {unit}".rstrip()
