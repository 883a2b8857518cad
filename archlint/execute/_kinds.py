"""Nodes without a recorded op (a fix inserted them, or a frontend without
weights built them): a torch module from the node's kind and attributes,
initialised as torch initialises that layer (the declared initialiser).

``channels_last`` graphs (Keras) run in their own layout: channels on the
last axis, so a module built here permutes around the torch op.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from archlint.graph import Node, OpKind

ACTIVATIONS: dict[str, Any] = {
    "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
    "swish": F.silu, "silu": F.silu, "elu": F.elu, "selu": F.selu, "celu": F.celu, "softplus": F.softplus,
    "softsign": F.softsign, "mish": F.mish, "hard_swish": F.hardswish, "hard_sigmoid": F.hardsigmoid,
    "leaky_relu": F.leaky_relu, "linear": lambda x: x, "exponential": torch.exp,
}


class _Lambda(nn.Module):
    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: Any) -> Any:
        return self.fn(*xs)


class _ChannelsLast(nn.Module):
    """Run a channels-first module on a channels-last tensor."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            return self.inner(x)
        perm = (0, x.dim() - 1, *range(1, x.dim() - 1))
        back = (0, *range(2, x.dim()), 1)
        return self.inner(x.permute(*perm)).permute(*back)


class _Dropout(nn.Module):
    def __init__(self, rate: float, spatial: bool, channels_last: bool) -> None:
        super().__init__()
        self.rate, self.spatial, self.channels_last = rate, spatial, channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.rate:
            return x
        if self.spatial and x.dim() >= 3:
            if self.channels_last:
                shape = (x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1])
            else:
                shape = (x.shape[0], x.shape[1], *([1] * (x.dim() - 2)))
            mask = torch.bernoulli(torch.full(shape, 1 - self.rate, device=x.device, dtype=x.dtype))
            return x * mask / (1 - self.rate)
        return F.dropout(x, self.rate, True)


def _channel_axis(x: torch.Tensor, channels_last: bool) -> int:
    return -1 if channels_last or x.dim() == 2 else 1


def build(node: Node, channels_last: bool = False) -> nn.Module | None:
    """A module computing ``node`` from its kind and attributes, or ``None``."""
    a = node.attrs
    k = node.kind
    wrap = (lambda m: _ChannelsLast(m)) if channels_last else (lambda m: m)
    if k is OpKind.IDENTITY and not any(str(key).startswith("constant_") for key in a):
        return _Lambda(lambda x: x)
    if k is OpKind.CONV:
        rank = int(a.get("rank") or len(a.get("kernel") or (1, 1)))
        cls = ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d) if a.get("transposed")
               else (nn.Conv1d, nn.Conv2d, nn.Conv3d))[rank - 1]
        pad = a.get("padding", 0)
        if isinstance(pad, (tuple, list)):
            pad = tuple(pad[: len(pad) // 2]) if len(pad) == 2 * rank else tuple(pad)
        elif pad not in ("same", "valid"):
            pad = 0
        kw: dict[str, Any] = {"stride": tuple(a.get("stride") or (1,) * rank), "groups": int(a.get("groups") or 1),
                              "bias": bool(a.get("bias", True)), "dilation": tuple(a.get("dilation") or (1,) * rank)}
        m = cls(int(a["in_channels"]), int(a["channels"]), tuple(a["kernel"]), padding=pad, **kw)
        return wrap(m)
    if k is OpKind.DENSE:
        return nn.Linear(int(a["in_features"]), int(a["units"]), bias=bool(a.get("bias", True)))
    if k is OpKind.BATCH_NORM:
        c = int(a["channels"])
        mom = a.get("momentum", 0.1)
        mom = 1 - mom if node.op_type in ("BatchNormalization",) and mom > 0.5 else mom
        shape = node.inputs[0].shape if node.inputs else None
        rank = len(shape) - 2 if shape else 2
        cls = (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[max(rank, 0)]
        return wrap(cls(c, eps=float(a.get("epsilon", 1e-5)), momentum=float(mom)))
    if k in (OpKind.LAYER_NORM, OpKind.RMS_NORM):
        shape = node.inputs[0].shape if node.inputs else None
        d = (shape[1] if channels_last is False and shape and len(shape) > 2 and node.inputs[0].layout in ("NCHW", "NCL", "NCDHW") else
             (shape[-1] if shape else None))
        if not d:
            return None
        if k is OpKind.RMS_NORM:
            return nn.RMSNorm(int(d), eps=float(a.get("epsilon", 1e-6) or 1e-6))
        return nn.LayerNorm(int(d), eps=float(a.get("epsilon", 1e-5) or 1e-5))
    if k is OpKind.DROPOUT:
        return _Dropout(float(a.get("rate") or 0.0), bool(a.get("spatial")), channels_last)
    if k is OpKind.ACTIVATION:
        name = a.get("activation")
        if name in ("softmax", "log_softmax"):
            axis = a.get("axis", -1)
            axis = -1 if axis is None else int(axis)
            f = torch.softmax if name == "softmax" else torch.log_softmax
            return _Lambda(lambda x: f(x, axis))
        fn = ACTIVATIONS.get(name)
        return _Lambda(fn) if fn is not None else None
    if k is OpKind.GLOBAL_POOL:
        keep = bool(a.get("keepdims", False))
        mx = a.get("pool") == "max"

        def gp(x: torch.Tensor) -> torch.Tensor:
            dims = tuple(range(1, x.dim() - 1)) if channels_last else tuple(range(2, x.dim()))
            return x.amax(dim=dims, keepdim=keep) if mx else x.mean(dim=dims, keepdim=keep)

        return _Lambda(gp)
    if k is OpKind.POOL and not a.get("adaptive"):
        kern = tuple(a.get("kernel") or (2, 2))
        rank = len(kern)
        pad = a.get("padding", 0)
        pad = tuple(pad[:rank]) if isinstance(pad, (tuple, list)) and len(pad) == 2 * rank else 0
        cls = ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d) if a.get("pool") == "max"
               else (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d))[rank - 1]
        return wrap(cls(kern, tuple(a.get("stride") or kern), pad))
    if k is OpKind.FLATTEN:
        return _Lambda(lambda x: x.reshape(x.shape[0], -1))
    if k is OpKind.ADD:
        return _Lambda(lambda *xs: _fold(torch.add, xs))
    if k is OpKind.MUL:
        return _Lambda(lambda *xs: _fold(torch.mul, xs))
    if k is OpKind.CONCAT:
        axis = int(a.get("axis", 1))
        return _Lambda(lambda *xs: torch.cat(xs, dim=(-1 if channels_last and axis == 1 else axis)))
    return None


def _fold(f: Any, xs: tuple[Any, ...]) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = f(out, x)
    return out
