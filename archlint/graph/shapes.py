"""Shape and layout propagation over the common graph, framework-independent.

Frontends set the shapes they know (graph inputs, ONNX value_info, Keras
output shapes); this fills the rest from each op kind's attributes.  Shapes
of feature maps are canonical ``(N, C, *spatial)``; unknown dimensions are
``None``.  Layouts (``Value.layout``) say what the axes mean: a dense layer,
a layer norm or an attention reading a rank-3 tensor means its last axis is
features, so it is a sequence ``"NLD"``, never a spatial map.

:func:`infer_shapes` and :func:`infer_layouts` are run as passes by the
pipeline (:mod:`archlint.graph.passes`), with the pattern fusion
(:mod:`archlint.graph.patterns`) between them. ``core.py`` does not import
this module.
"""

from __future__ import annotations

import math

from archlint.graph.core import Graph, Node, Value
from archlint.graph.kinds import SPATIAL_LAYOUTS, OpKind

Shape = tuple[int | None, ...]

_SAME_SHAPE = frozenset(
    {
        OpKind.ACTIVATION,
        OpKind.BATCH_NORM,
        OpKind.NORM,
        OpKind.LAYER_NORM,
        OpKind.RMS_NORM,
        OpKind.DROPOUT,
        OpKind.IDENTITY,
        OpKind.ADD,
        OpKind.MUL,
        OpKind.OUTPUT,
    }
)


def _window(size: int | None, k: int, s: int, d: int, pad: str | tuple[int, int]) -> int | None:
    if size is None:
        return None
    if pad == "same":
        return -(-size // s)  # integer ceil: exact for any size
    lo, hi = (0, 0) if pad == "valid" else pad
    eff = d * (k - 1) + 1
    out = (size + lo + hi - eff) // s + 1
    return out if out > 0 else 0


def _spatial(node: Node, shape: Shape, channels: int | None) -> Shape | None:
    a = node.attrs
    spatial = shape[2:]
    n = len(spatial)
    if n == 0:
        return None
    kernel = tuple(a.get("kernel") or ())
    if len(kernel) != n:
        return None
    stride = tuple(a.get("stride") or (1,) * n)
    dilation = tuple(a.get("dilation") or (1,) * n)
    padding = a.get("padding", "valid")
    if isinstance(padding, (list, tuple)):
        # ONNX order: begin..., end...
        if len(padding) == 2 * n:
            pads = [(int(padding[i]), int(padding[i + n])) for i in range(n)]
        else:
            pads = [(0, 0)] * n
    else:
        pads = [padding] * n
    if a.get("transposed"):
        out = []
        for size, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=False):
            if size is None:
                out.append(None)
            elif p == "same":
                out.append(size * s)
            else:
                lo, hi = (0, 0) if p == "valid" else p
                out.append((size - 1) * s - lo - hi + d * (k - 1) + 1)
        return (shape[0], channels, *out)
    out = [
        _window(size, k, s, d, p)
        for size, k, s, d, p in zip(spatial, kernel, stride, dilation, pads, strict=False)
    ]
    return (shape[0], channels, *out)


def output_shape(node: Node) -> Shape | None:
    """The first output's shape from the first input's shape and attrs."""
    a = node.attrs
    ins = [v.shape for v in node.inputs]
    x = ins[0] if ins else None
    k = node.kind
    if k in (OpKind.ADD, OpKind.MUL) and len(ins) > 1:
        return broadcast(ins)
    if k in _SAME_SHAPE:
        return x
    if x is None:
        if k is OpKind.RESHAPE and a.get("target") and all(d is not None and d > 0 for d in a["target"][1:]):
            return (None, *a["target"][1:])
        return None
    if k is OpKind.CONV:
        if len(x) < 3:
            return None
        return _spatial(node, x, a.get("channels"))
    if k is OpKind.POOL:
        if len(x) < 3:
            return None
        return _spatial(node, x, x[1])
    if k is OpKind.GLOBAL_POOL:
        if a.get("keepdims", False):
            return (x[0], x[1], *([1] * (len(x) - 2)))
        return (x[0], x[1])
    if k is OpKind.FLATTEN:
        rest = x[1:]
        total = math.prod(rest) if all(d is not None for d in rest) else None
        return (x[0], total)
    if k is OpKind.DENSE:
        return (*x[:-1], a.get("units"))
    if k is OpKind.EMBEDDING:
        return (*x, a.get("dim"))
    if k is OpKind.ATTENTION:
        return x
    if k is OpKind.RNN:
        return (*x[:-1], a.get("units"))
    if k is OpKind.CONCAT:
        axis = a.get("axis", 1)
        if any(s is None or len(s) != len(x) for s in ins):
            return None
        axis = axis % len(x)
        dims = [s[axis] for s in ins]  # type: ignore[index]
        total = sum(dims) if all(d is not None for d in dims) else None
        return (*x[:axis], total, *x[axis + 1 :])
    if k is OpKind.RESHAPE:
        target = a.get("target")
        if not target:
            return None
        known = math.prod(d for d in x[1:] if d is not None) if all(d is not None for d in x[1:]) else None
        out = [x[0]]
        for d in target[1:]:
            out.append(d if d is not None and d > 0 else None)
        if known is not None and sum(1 for d in out[1:] if d is None) == 1:
            rest = math.prod(d for d in out[1:] if d is not None)
            if rest:
                out = [known // rest if d is None else d for d in out]
                out[0] = x[0]
        return tuple(out)
    return None


def broadcast(shapes: list[Shape | None]) -> Shape | None:
    """The numpy-style broadcast of element-wise inputs (``scale[N, C, 1, 1] * x[N, C, H, W]``
    has x's shape, whichever comes first); None when a rank is unknown."""
    if any(s is None for s in shapes):
        known = [s for s in shapes if s is not None]
        # one side unknown: keep the known shape only if it cannot be broadcast up
        return known[0] if len(known) == 1 and all(d != 1 for d in known[0][1:]) else None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]  # type: ignore[arg-type]
        big = [d for d in dims if d != 1]
        if not big:
            out.append(1)
        elif any(d is None for d in big):
            known = {d for d in big if d is not None}
            out.append(known.pop() if len(known) == 1 else None)
        else:
            out.append(max(big))
    return tuple(out)


def matmul_shape(shapes: list[Shape | None], equation: str | None = None) -> Shape | None:
    """The output shape of a product of two tensors in the framework's own axis order
    (numpy ``matmul`` rules, or an einsum ``equation``); None when it cannot be told."""
    if len(shapes) != 2 or shapes[0] is None or shapes[1] is None:
        return None
    a, b = tuple(shapes[0]), tuple(shapes[1])
    if equation is not None:
        lhs, _, rhs = equation.replace(" ", "").partition("->")
        terms = lhs.split(",")
        if not rhs or "." in lhs or len(terms) != 2 or len(terms[0]) != len(a) or len(terms[1]) != len(b):
            return None
        sizes: dict[str, int | None] = {}
        for term, shape in zip(terms, (a, b), strict=False):
            for c, d in zip(term, shape, strict=False):
                sizes[c] = d if sizes.get(c) is None else sizes[c]
        return tuple(sizes.get(c) for c in rhs)
    if len(a) < 2 or len(b) < 2:
        return None
    batch = broadcast([a[:-2], b[:-2]]) if len(a) > 2 or len(b) > 2 else ()
    return None if batch is None else (*batch, a[-2], b[-1])


def infer_shapes(graph: Graph) -> int:
    """Fill missing output shapes in topological order; return how many were found."""
    found = 0
    for node in graph.nodes:
        if not node.outputs or node.outputs[0].shape is not None:
            continue
        try:
            node.outputs[0].shape = output_shape(node)
        except (TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError):
            node.outputs[0].shape = None
        found += node.outputs[0].shape is not None
    return found


def spatial_size(shape: Shape | None, layout: str | None = None) -> int | None:
    """H*W(*D) of a canonical shape, or None when unknown or not spatial
    (a value whose layout is known and not channel-first spatial)."""
    if shape is None or len(shape) < 3:
        return None
    if layout is not None and layout not in SPATIAL_LAYOUTS:
        return None
    dims = shape[2:]
    if any(d is None for d in dims):
        return None
    return math.prod(dims)  # type: ignore[arg-type]


# -- layouts ---------------------------------------------------------------------

#: a concatenation or padding changes the size, not the axes' meaning
_KEEP_LAYOUT = _SAME_SHAPE | {OpKind.CONCAT, OpKind.PAD}
#: kinds that read the last axis of a rank-3 input as features
_LAST_AXIS_FEATURES = frozenset({OpKind.DENSE, OpKind.LAYER_NORM, OpKind.RMS_NORM, OpKind.ATTENTION, OpKind.RNN})
_CHANNEL_FIRST = {3: "NCL", 4: "NCHW", 5: "NCDHW"}


def is_spatial(value: Value | None) -> bool:
    """Whether a value may be a channel-first spatial map: rank >= 3 and a
    layout that is unknown or spatial (sequences never are)."""
    if value is None or value.shape is None or len(value.shape) < 3:
        return False
    return value.layout is None or value.layout in SPATIAL_LAYOUTS


def _rank(v: Value) -> int | None:
    return len(v.shape) if v.shape is not None else None


def _swap_last_two(layout: str | None) -> str | None:
    return {"NCL": "NLD", "NLD": "NCL"}.get(layout or "")


def _forward_layout(node: Node, seq: str = "NLD") -> str | None:
    k = node.kind
    out = node.outputs[0]
    r = _rank(out)
    x = node.inputs[0] if node.inputs else None
    if k is OpKind.INPUT:
        return out.layout
    if k in (OpKind.CONV, OpKind.POOL):
        return _CHANNEL_FIRST.get(r or 0)
    if k is OpKind.GLOBAL_POOL:
        return "ND" if r == 2 else _CHANNEL_FIRST.get(r or 0)
    if k is OpKind.FLATTEN:
        return "ND" if r == 2 else None
    if k in (OpKind.DENSE, OpKind.EMBEDDING, OpKind.RNN, OpKind.ATTENTION):
        if r == 2 and k is OpKind.DENSE:
            return "ND"
        if r == 3:
            if k is OpKind.DENSE and seq == "NDL" and x is not None and x.layout in SPATIAL_LAYOUTS:
                return x.layout  # Keras Dense on a Conv1D map's channel axis
            return seq
        return "NHLD" if k is OpKind.ATTENTION and r == 4 else None
    if k in _KEEP_LAYOUT:
        same = [v.layout for v in node.inputs if v.layout is not None and _rank(v) == r]
        return same[0] if same else None
    if k is OpKind.RESHAPE and x is not None and x.shape is not None and out.shape is not None:
        perm = node.attrs.get("perm")
        if perm is not None and len(x.shape) == 3 and list(perm) in ([0, 2, 1], [0, -1, -2]):
            return _swap_last_two(x.layout)
        xs, ys = x.shape, out.shape
        if x.layout in SPATIAL_LAYOUTS and len(ys) == 3 and len(xs) > 3 and ys[:2] == xs[:2]:
            return "NCL"  # flatten(2): the spatial axes merged into one
        if x.layout == seq and len(ys) == 3 and ys == xs:
            return seq
    return None


def infer_layouts(graph: Graph) -> bool:
    """Fill ``Value.layout`` forward from inputs, then mark rank-3 values that a
    dense layer, a layer norm or an attention reads as sequences (and what
    feeds them through same-shape ops), then fill forward again. Return
    whether any layout was set."""
    seq = "NDL" if graph.format == "keras" else "NLD"  # Keras shapes are stored channel-first
    found = False
    for node in graph.nodes:
        for v in node.outputs:
            if v.layout is None:
                v.layout = _forward_layout(node, seq)
                found = found or v.layout is not None
    changed = False
    for node in reversed(graph.nodes):
        if node.kind not in _LAST_AXIS_FEATURES and not (node.kind in _KEEP_LAYOUT and any(o.layout == seq for o in node.outputs)):
            continue
        for v in node.inputs:
            if v.layout is None and _rank(v) == 3 and (
                node.kind in _LAST_AXIS_FEATURES or _rank(node.outputs[0]) == 3 if node.outputs else False
            ):
                v.layout = seq
                changed = True
    if changed:
        for node in graph.nodes:
            for v in node.outputs:
                if v.layout is None:
                    v.layout = _forward_layout(node, seq)
    return found or changed
