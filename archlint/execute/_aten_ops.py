"""ATen calls of a torch capture, run with ``torch.ops.aten`` (exact by construction).

In-place ops run out of place (``relu_`` -> ``relu``): same numbers, and a
rewritten graph never sees a value change under it. Arguments recorded as
text (``dtype``, ``device``) are turned back into torch objects; a recorded
device follows the inputs, so the module runs where its inputs are.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

_TORCH_OBJECTS = ("dtype", "layout", "memory_format")


def _op(target: str) -> tuple[Any, list[str]]:
    """The op to call and the recorded argument names it takes by position
    (an in-place op's names are its own: ``dropout_(self, p, train)`` runs as
    ``dropout(input, p, train)`` by position)."""
    t = target.removeprefix("torch.ops.")
    if t in ("getitem", "_operator.getitem", "operator.getitem"):
        return operator.getitem, []
    parts = t.split(".")
    if len(parts) < 2 or parts[0] != "aten":
        return None, []
    name, overload = parts[1], (parts[2] if len(parts) > 2 else None)
    try:
        recorded = getattr(torch.ops.aten, name)
    except (AttributeError, RuntimeError):
        return None, []
    rec_op = getattr(recorded, overload) if overload and overload in recorded.overloads() else recorded
    schema = getattr(rec_op, "_schema", None)
    names = [x.name for x in schema.arguments if not x.kwarg_only] if schema is not None else ["self"]
    if name.endswith("_") and not name.endswith("__") and hasattr(torch.ops.aten, name[:-1]):
        packet = getattr(torch.ops.aten, name[:-1])  # in place -> out of place
        op = getattr(packet, overload) if overload and overload in packet.overloads() else packet
        return op, names
    return rec_op, names


def _fix(k: str, v: Any, device: Any) -> Any:
    if isinstance(v, str) and v.startswith("torch.") and k in _TORCH_OBJECTS:
        return getattr(torch, v.removeprefix("torch."))
    if k == "device" and isinstance(v, str) and device is not None:
        return device
    return v


def resolve(target: str) -> Any:
    """A runner ``(args, module) -> result`` for an ATen target, or ``None``."""
    op, positional = _op(target)
    if op is None:
        return None
    if op is operator.getitem:
        return lambda a, m: a["arg0"][a["arg1"]]

    def run(a: dict[str, Any], m: Any) -> Any:
        device = _device(a, m)
        kw = {k: _fix(k, v, device) for k, v in a.items()}
        pos = []
        for name in positional:  # by position up to the first one not given ("self" cannot be a keyword)
            if name not in kw:
                break
            pos.append(kw.pop(name))
        return op(*pos, **kw)

    return run


def _device(a: dict[str, Any], m: Any) -> Any:
    if "device" not in a:
        return None
    for v in a.values():
        if isinstance(v, torch.Tensor):
            return v.device
    for p in m.parameters():
        return p.device
    return None
