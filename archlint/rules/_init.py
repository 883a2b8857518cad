"""Initialiser arithmetic for the init rules (AL028, AL029): fan-in and the
standard deviation a Keras initialiser gives a weight layer."""

from __future__ import annotations

import math
from typing import Any

from archlint.graph import Node, OpKind

CONSTANT = frozenset({"zeros", "ones", "constant"})
#: initialisers whose scale is fixed, not derived from the fan-in
FIXED = frozenset({"random_normal", "truncated_normal", "random_uniform"})


def kernel_init(node: Node) -> tuple[str, dict[str, Any]] | None:
    init = (node.attrs.get("init") or {}).get("kernel")
    if not isinstance(init, dict) or not isinstance(init.get("name"), str):
        return None
    cfg = init.get("config")
    return init["name"], cfg if isinstance(cfg, dict) else {}


def fan_in(node: Node) -> int | None:
    a = node.attrs
    if node.kind is OpKind.DENSE:
        f = a.get("in_features")
        return int(f) if f else None
    kernel = a.get("kernel") or ()
    cin = a.get("in_channels")
    if not kernel or not cin:
        return None
    groups = int(a.get("groups") or 1)
    return int(math.prod(kernel) * max(1, int(cin) // max(1, groups)))


def _num(v: Any, default: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return default
    return f if math.isfinite(f) else default


def fixed_std(name: str, cfg: dict[str, Any]) -> float | None:
    """The standard deviation of a fixed-scale initialiser (Keras defaults when unset)."""
    if name == "random_normal":
        return abs(_num(cfg.get("stddev"), 0.05))
    if name == "truncated_normal":
        return abs(_num(cfg.get("stddev"), 0.05)) * 0.8796  # a normal cut at two standard deviations
    if name == "random_uniform":
        lo, hi = _num(cfg.get("minval"), -0.05), _num(cfg.get("maxval"), 0.05)
        return abs(hi - lo) / math.sqrt(12.0)
    return None
