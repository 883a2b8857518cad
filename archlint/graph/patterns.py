"""Written-out ops turned into one node, on the common graph, for every frontend.

Models and exporters often spell a layer as elementwise arithmetic:

- RMSNorm (Llama, T5): ``x * rsqrt(mean(x ** 2, -1) + eps)`` (times a weight);
- LayerNorm (ONNX before opset 17, hand-written): ``(x - mean(x)) / sqrt(var + eps)``;
- attention: ``MatMul(q, k^T) -> (scale) -> (mask) -> Softmax -> (dropout) -> MatMul(., v)``.

:func:`fuse_patterns` finds these by op type (compared case-insensitively,
so ATen ``rsqrt`` and ONNX ``Sqrt``+``Reciprocal`` both match) and replaces
each with one RMS_NORM, LAYER_NORM or ATTENTION node through
:meth:`Graph.fuse`. A pattern is fused only when its inner values are
used by nothing outside it. Frontends record scalar operands as
``attrs["scalar"]``; the attention's scale is read from them when every
scaling op on the path has a known value.
"""

from __future__ import annotations

import math
from typing import Any

from archlint.graph.core import Graph, GraphBuilder, Node, Value
from archlint.graph.kinds import OpKind

_CAST = frozenset({"_to_copy", "to", "cast", "clone", "contiguous", "type_as", "identity", "alias", "detach"})
_MATMUL = frozenset({"matmul", "bmm", "einsum"})
_MAX_PATH = 12


def _op(n: Node | None) -> str:
    return n.op_type.lower().rstrip("_") if n is not None else ""


def _is_cast(n: Node | None) -> bool:
    return n is not None and n.kind is OpKind.IDENTITY and _op(n) in _CAST


def _data(n: Node) -> list[Value]:
    return list(n.inputs)


def _strip(v: Value, path: list[Node]) -> Value:
    """Look up through casts; the casts walked are added to ``path``."""
    while v.producer is not None and _is_cast(v.producer) and v.producer.inputs:
        path.append(v.producer)
        v = v.producer.inputs[0]
    return v


def _scalar(n: Node) -> float | None:
    s = n.attrs.get("scalar")
    try:
        return float(s) if s is not None else None
    except (TypeError, ValueError):
        return None


def _mean_last(n: Node | None) -> bool:
    if n is None or _op(n) not in ("mean", "reducemean") or len(n.inputs) != 1:
        return False
    axes = n.attrs.get("axes")
    x = n.inputs[0].shape
    if axes is None or len(axes) != 1:
        return False
    a = int(axes[0])
    return a == -1 or (x is not None and a == len(x) - 1)


def _inv_sqrt(v: Value, path: list[Node]) -> tuple[Value, bool] | None:
    """``v = 1 / sqrt(a)`` -> (a, True); ``v = sqrt(a)`` -> (a, False)."""
    v = _strip(v, path)
    p = v.producer
    if p is None or not p.inputs:
        return None
    op = _op(p)
    if op == "rsqrt":
        path.append(p)
        return p.inputs[0], True
    if op == "sqrt":
        path.append(p)
        return p.inputs[0], False
    if op == "reciprocal" or (op == "div" and p.kind is OpKind.IDENTITY and _scalar(p) == 1.0 and p.attrs.get("scalar_first")):
        inner = _strip(p.inputs[0], path)
        q = inner.producer
        if q is not None and _op(q) == "sqrt" and q.inputs:
            path.extend((p, q))
            return q.inputs[0], True
    return None


def _variance_of(a: Value, path: list[Node]) -> tuple[Value, float | None] | None:
    """``a = mean(d ** 2, -1) + eps`` -> (d, eps)."""
    a = _strip(a, path)
    p = a.producer
    eps = None
    if p is not None and p.kind is OpKind.IDENTITY and _op(p) == "add" and p.inputs:
        eps = _scalar(p)
        path.append(p)
        a = _strip(p.inputs[0], path)
        p = a.producer
    if not _mean_last(p):
        return None
    path.append(p)  # type: ignore[arg-type]
    sq = _strip(p.inputs[0], path)  # type: ignore[union-attr]
    q = sq.producer
    if q is None:
        return None
    if _op(q) == "pow" and _scalar(q) == 2.0 and q.inputs:
        path.append(q)
        return q.inputs[0], eps
    if q.kind is OpKind.MUL and len(q.inputs) == 1:  # x * x: one input value read twice
        path.append(q)
        return q.inputs[0], eps
    return None


def _same(a: Value, b: Value) -> bool:
    return _strip(a, []) is _strip(b, [])


def _centered(v: Value, path: list[Node]) -> Value | None:
    """``v = x - mean(x, -1)`` -> x."""
    v = _strip(v, path)
    p = v.producer
    if p is None or _op(p) != "sub" or len(p.inputs) != 2:
        return None
    x, m = p.inputs
    mp = _strip(m, []).producer
    if not _mean_last(mp) or not _same(mp.inputs[0], x):  # type: ignore[union-attr]
        return None
    path.extend((p, mp))  # type: ignore[arg-type]
    return x


def _inner_ok(group: list[Node], last: Node) -> bool:
    """Every node of the group but the last is used only inside the group."""
    ids = {id(n) for n in group}
    for n in group:
        if n is last:
            continue
        for v in n.outputs:
            if any(id(c) not in ids for c in v.consumers):
                return False
    return True


def _unique(nodes: list[Node]) -> list[Node]:
    seen: dict[int, Node] = {}
    for n in nodes:
        seen.setdefault(id(n), n)
    return sorted(seen.values(), key=lambda n: n.index)


def _norm(n: Node) -> tuple[list[Node], OpKind, Value, dict[str, Any]] | None:
    """A written-out RMSNorm / LayerNorm ending at ``n`` (a multiply by the
    inverse root, or a divide by the root)."""
    op = _op(n)
    if len(n.inputs) != 2 or not (n.kind is OpKind.MUL or op == "div"):
        return None
    for xi, ri in ((0, 1), (1, 0)) if n.kind is OpKind.MUL else ((0, 1),):
        path: list[Node] = [n]
        got = _inv_sqrt(n.inputs[ri], path)
        if got is None or got[1] != (n.kind is OpKind.MUL):
            continue
        var = _variance_of(got[0], path)
        if var is None:
            continue
        d, eps = var
        x = n.inputs[xi]
        if not _same(d, x):
            continue
        cpath: list[Node] = []
        src = _centered(x, cpath)
        if src is not None:
            return path + cpath, OpKind.LAYER_NORM, src, {"norm": "layer", "epsilon": eps, "written_out": True}
        return path, OpKind.RMS_NORM, x, {"norm": "rms", "epsilon": eps, "written_out": True}
    return None


def _affine(last: Node) -> list[Node]:
    """The weight multiply (and bias add) right after a written-out norm."""
    out: list[Node] = []
    cur = last
    for want in ("mul", "add"):
        users = cur.successors()
        if len(users) != 1 or len(cur.outputs[0].consumers) != 1:
            break
        u = users[0]
        path = []
        while _is_cast(u) and len(u.successors()) == 1:
            path.append(u)
            u = u.successors()[0]
        if u.kind is OpKind.IDENTITY and _op(u) == want and u.attrs.get(f"constant_{want}"):
            out += [*path, u]
            cur = u
        else:
            break
    return out


def _attention(s: Node) -> tuple[list[Node], list[Value], dict[str, Any]] | None:
    """Decomposed attention around softmax ``s``."""
    if s.kind is not OpKind.ACTIVATION or s.attrs.get("activation") != "softmax" or len(s.inputs) != 1:
        return None
    group: list[Node] = [s]
    extra: list[Value] = []
    scale = 1.0
    scale_known = True
    scale_ops = 0
    masked = False
    mask_constants: list[float] = []
    v = s.inputs[0]
    mm1 = None
    for _ in range(_MAX_PATH):
        p = v.producer
        if p is None:
            return None
        op = _op(p)
        if op in _MATMUL and len(p.inputs) == 2:
            mm1 = p
            break
        if _is_cast(p):
            pass
        elif p.kind is OpKind.IDENTITY and op in ("div", "mul"):
            scale_ops += 1
            c = _scalar(p)
            if c is None or c == 0 or p.attrs.get("scalar_first"):
                scale_known = False
            else:
                scale *= (1 / c) if op == "div" else c
        elif p.kind in (OpKind.ADD, OpKind.IDENTITY) and op in ("add", "sub", "masked_fill", "where"):
            masked = True  # a mask or a bias (relative position, ALiBi) on the scores
            c = _scalar(p)
            if c is not None:
                mask_constants.append(c)
            same = [x for x in p.inputs if x.shape is not None and x.shape == v.shape]
            nxt = (same[-1] if op == "where" else same[0]) if same else p.inputs[0]
            extra += [x for x in p.inputs if x is not nxt]
            group.append(p)
            v = nxt
            continue
        else:
            return None
        group.append(p)
        v = p.inputs[0]
    if mm1 is None:
        return None
    group.append(mm1)
    # downstream: softmax -> (dropout / cast) -> matmul(probs, v)
    cur = s
    mm2 = None
    for _ in range(6):
        users = cur.successors()
        if len(users) == 2 and _op(users[0]) == "isnan" and users[0].successors() == [users[1]]:
            group += users  # the exporter's guard for fully masked rows: where(isnan(p), 0, p)
            cur = users[1]
            continue
        if len(users) != 1:
            return None
        u = users[0]
        if _op(u) in _MATMUL and len(u.inputs) == 2 and u.inputs[0] is cur.outputs[0]:
            mm2 = u
            break
        if u.kind is OpKind.DROPOUT or _is_cast(u):
            group.append(u)
            cur = u
            continue
        return None
    if mm2 is None:
        return None
    group.append(mm2)
    group = _unique(group)
    if not _inner_ok(group, mm2):
        return None
    q, k = mm1.inputs
    val = mm2.inputs[1]
    # scaling applied to q and k before the product (torch's ONNX export splits sqrt(scale) over both)
    for side in (q, k):
        w = side
        for _ in range(6):
            p = w.producer
            if p is None or not p.inputs:
                break
            op = _op(p)
            if p.kind is OpKind.IDENTITY and op in ("div", "mul"):
                scale_ops += 1
                c = _scalar(p)
                if c is None or c == 0 or p.attrs.get("scalar_first"):
                    scale_known = False
                else:
                    scale *= (1 / c) if op == "div" else c
            elif not (p.kind in (OpKind.RESHAPE, OpKind.IDENTITY) or op in ("transpose", "permute")):
                break
            w = p.inputs[0]
    qs = q.shape
    attrs: dict[str, Any] = {"decomposed": True, "mask_constants": mask_constants, "masked": masked}
    if qs is not None and len(qs) == 4:
        attrs["heads"], attrs["head_dim"] = qs[1], qs[3]
    elif qs is not None and len(qs) == 3:
        attrs["head_dim"] = qs[2]
    attrs["scale"] = scale if scale_known else None
    attrs["scale_ops"] = scale_ops  # 0: no scaling written at all
    return group, [q, k, val, *[x for x in extra if x is not None]], attrs


def _gelu(erf: Node) -> tuple[list[Node], Value] | None:
    """``0.5 * x * (1 + erf(x / sqrt(2)))`` around the Erf node, in any order of the two products."""
    if _op(erf) != "erf" or len(erf.inputs) != 1:
        return None
    d = erf.inputs[0].producer
    if d is None or d.kind is not OpKind.IDENTITY or not d.inputs:
        return None
    c = _scalar(d)
    if c is None or not ((_op(d) == "div" and abs(c - math.sqrt(2)) < 1e-3) or (_op(d) == "mul" and abs(c - 1 / math.sqrt(2)) < 1e-3)):
        return None
    x = d.inputs[0]
    group = [d, erf]
    cur = erf
    half = False
    for _ in range(4):
        users = cur.successors()
        if len(users) != 1:
            break
        u = users[0]
        op, s = _op(u), _scalar(u)
        if u.kind is OpKind.IDENTITY and op == "add" and s == 1.0 and len(group) == 2:
            pass
        elif u.kind is OpKind.IDENTITY and op == "mul" and s == 0.5:
            half = True
        elif u.kind is OpKind.MUL and len(u.inputs) == 2 and any(_same(v, x) for v in u.inputs):
            pass
        else:
            break
        group.append(u)
        cur = u
    if len(group) < 4 or not any(m.kind is OpKind.MUL for m in group):
        return None
    if not half:  # 0.5 applied to x first: x * 0.5 feeding the product
        mul = next(m for m in group if m.kind is OpKind.MUL)
        for v in mul.inputs:
            p = v.producer
            if p is not None and p.kind is OpKind.IDENTITY and _op(p) == "mul" and _scalar(p) == 0.5 and _same(p.inputs[0], x):
                group.insert(0, p)
                half = True
    return (group, x) if half else None


def fuse_patterns(graph: Graph | GraphBuilder) -> None:
    """Fuse every written-out RMSNorm, LayerNorm and attention in the graph."""
    if isinstance(graph, GraphBuilder):
        graph = graph.graph
    fused = 0
    taken: set[int] = set()
    for n in list(graph.nodes):
        if id(n) in taken or n.index < 0:
            continue
        g = _gelu(n)
        if g is not None:
            group, x = g
            group = _unique(group)
            if not any(id(m) in taken for m in group) and _inner_ok(group, group[-1]):
                taken.update(id(m) for m in group)
                graph.fuse(group, OpKind.ACTIVATION, "Gelu (written out)", [x], {"activation": "gelu"})
                fused += 1
            continue
        got = _norm(n)
        if got is None:
            continue
        path, kind, x, attrs = got
        affine = _affine(n)
        group = _unique(path + affine)
        last = group[-1]
        if any(id(m) in taken for m in group) or not _inner_ok(group, last):
            continue
        attrs["affine"] = bool(affine)
        shape = x.shape
        if shape is not None and shape[-1] is not None and affine:
            # a weight (and a bias): one value per feature each
            attrs["params"] = int(shape[-1]) * sum(1 for m in affine if _op(m) in ("mul", "add") and not _is_cast(m))
        taken.update(id(m) for m in group)
        graph.fuse(group, kind, f"{'RMSNorm' if kind is OpKind.RMS_NORM else 'LayerNorm'} (written out)", [x], attrs)
        fused += 1
    if fused:
        graph.reindex()
        fused = 0
    for n in list(graph.nodes):
        if id(n) in taken or n.index < 0:
            continue
        got2 = _attention(n)
        if got2 is None:
            continue
        group, inputs, attrs = got2
        if any(id(m) in taken for m in group):
            continue
        taken.update(id(m) for m in group)
        graph.fuse(group, OpKind.ATTENTION, "Attention (decomposed)", inputs, attrs)
        fused += 1
    if fused:
        graph.reindex()


def sqrt_scale(head_dim: int | None) -> float | None:
    """The standard 1/sqrt(head_dim), or None when the head size is unknown."""
    return 1 / math.sqrt(head_dim) if head_dim else None
