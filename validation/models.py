"""The 2018 network, as a framework-free layer list plus PyTorch builders.

``layer_sequence`` describes the Keras model line by line (no torch import). ``build_single``
turns it into a plain ``nn.Sequential``; ``PackedNet`` trains M copies at once as one module:
the models are stacked along the channel axis (grouped convolutions, BatchNorm over M*C
channels, per-channel pooling and dropout) and the dense layers are a batched matmul with
per-model weights. Every per-model computation is the same as in the single network, so the
packed trainer is exact (tests check it against M single networks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

VARIANTS = ("control", "bn", "dropout0.5", "dropout0.3", "dropout0.1")
PLACEMENTS = ("before", "after", "pool")
PLACEMENT_LABELS = {
    "before": "before activation (Conv-X-ReLU)",
    "after": "after activation (Conv-ReLU-X)",
    "pool": "after max-pool (+ after the last ReLU)",
    "none": "no insertion",
}
HEADS = ("dense1000", "dense", "gap")
HEAD_LABELS = {
    "dense1000": "Flatten-Dense(1000)-ReLU-Dropout(0.5)-Dense(K)",
    "dense": "Flatten-Dense(K)",
    "gap": "GlobalAveragePooling-Dense(K)",
}
# Keras defaults of the original: BatchNormalization(momentum=0.99, epsilon=1e-3)
BN_EPS = 1e-3
BN_MOMENTUM_TORCH = 0.01  # = 1 - Keras momentum 0.99
# 4 blocks of two 60-channel convs + pool, then two 100-channel convs without pool
CONV_PLAN: tuple = ((3, 60), (60, 60), "pool", (60, 60), (60, 60), "pool", (60, 60), (60, 60), "pool",
                    (60, 60), (60, 60), "pool", (60, 100), (100, 100))


def variant_kind(variant: str) -> tuple[str, float]:
    """('none'|'bn'|'dropout', rate) for a variant name."""
    if variant == "control":
        return "none", 0.0
    if variant == "bn":
        return "bn", 0.0
    if variant.startswith("dropout"):
        rate = float(variant[len("dropout"):])
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"bad dropout rate in {variant!r}")
        return "dropout", rate
    raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")


@dataclass(frozen=True)
class Layer:
    op: str  # conv | relu | pool | bn | dropout | flatten | dense | gap
    cin: int = 0
    cout: int = 0
    rate: float = 0.0


def layer_sequence(variant: str, placement: str | None, head: str = "dense1000", num_classes: int = 100,
                   kind: str | None = None) -> list[Layer]:
    """The layer list of one model. ``kind`` overrides the insertion kind (used for packs)."""
    k, rate = variant_kind(variant)
    if kind is not None:
        k = kind
    if k != "none" and placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS} for variant {variant!r}")
    layers: list[Layer] = []

    def x(ch: int) -> None:
        if k == "bn":
            layers.append(Layer("bn", ch, ch))
        elif k == "dropout":
            layers.append(Layer("dropout", ch, ch, rate))

    ch = 3
    for item in CONV_PLAN:
        if item == "pool":
            layers.append(Layer("pool", ch, ch))
            if placement == "pool":
                x(ch)
            continue
        cin, ch = item
        layers.append(Layer("conv", cin, ch))
        if placement == "before":
            x(ch)
        layers.append(Layer("relu", ch, ch))
        if placement == "after":
            x(ch)
    if placement == "pool":
        x(ch)  # once after the last ReLU, before Flatten
    if head == "dense1000":
        layers += [Layer("flatten", ch, 4 * ch), Layer("dense", 4 * ch, 1000), Layer("relu", 1000, 1000),
                   Layer("dropout", 1000, 1000, 0.5), Layer("dense", 1000, num_classes)]
    elif head == "dense":
        layers += [Layer("flatten", ch, 4 * ch), Layer("dense", 4 * ch, num_classes)]
    elif head == "gap":
        layers += [Layer("gap", ch, ch), Layer("dense", ch, num_classes)]
    else:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    return layers


def count_params(layers: Sequence[Layer]) -> int:
    n = 0
    for l in layers:
        if l.op == "conv":
            n += l.cin * l.cout * 9 + l.cout
        elif l.op == "dense":
            n += l.cin * l.cout + l.cout
        elif l.op == "bn":
            n += 4 * l.cout  # gamma, beta, moving mean, moving variance (Keras counts all four)
    return n


# ----------------------------------------------------------------------------------------------
# torch builders (torch imported lazily)


def _torch_modules():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class FlattenNHWC(nn.Module):
        """Keras' Flatten on channels-last data: (N, C, H, W) -> (N, H*W*C)."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    class GAP(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    class Dropout(nn.Module):
        """Inverted dropout (as Keras and nn.Dropout) drawing its mask from an optional generator,
        so that a packed run can reproduce the exact masks of a single run."""

        def __init__(self, rate: float):
            super().__init__()
            self.rate = float(rate)
            self.generator = None

        def forward(self, x):
            if not self.training or self.rate == 0.0:
                return x
            keep = 1.0 - self.rate
            u = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
            return x * (u < keep).to(x.dtype) / keep

        def extra_repr(self) -> str:
            return f"rate={self.rate}"

    class PackedDense(nn.Module):
        """M independent Dense layers: x (M, B, in) -> (M, B, out)."""

        def __init__(self, m: int, cin: int, cout: int):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(m, cin, cout))
            self.bias = nn.Parameter(torch.zeros(m, 1, cout))

        def forward(self, x):
            return torch.baddbmm(self.bias, x, self.weight)

    class PackedConv(nn.Module):
        def __init__(self, m: int, cin: int, cout: int):
            super().__init__()
            self.m = m
            self.weight = nn.Parameter(torch.empty(m * cout, cin, 3, 3))
            self.bias = nn.Parameter(torch.zeros(m * cout))

        def forward(self, x):
            if x.is_cuda or self.m == 1:
                return F.conv2d(x, self.weight, self.bias, padding=1, groups=self.m)
            # CPU kernels for grouped convolutions are slow; M ordinary convolutions compute the same
            xs = x.chunk(self.m, dim=1)
            ws, bs = self.weight.chunk(self.m, dim=0), self.bias.chunk(self.m, dim=0)
            return torch.cat([F.conv2d(xi.contiguous(), wi, bi, padding=1) for xi, wi, bi in zip(xs, ws, bs)], dim=1)

    class PackedDropout(nn.Module):
        """Per-model dropout rates; masks from one generator per model (exact) or one shared
        draw (fast). x is (B, M*C, H, W) in the body or (M, B, F) in the head."""

        def __init__(self, rates: Sequence[float], channels: int, head: bool):
            super().__init__()
            self.rates = [float(r) for r in rates]
            self.m, self.c, self.head = len(self.rates), channels, head
            keep = torch.tensor([1.0 - r for r in self.rates])
            shape = (self.m, 1, 1) if head else (1, self.m * channels, 1, 1)
            self.register_buffer("keep", (keep if head else keep.repeat_interleave(channels)).reshape(shape))
            self.generators = None  # list of per-model torch.Generator, or None for a shared draw

        def forward(self, x):
            if not self.training or all(r == 0.0 for r in self.rates):
                return x
            if self.generators is None:
                u = torch.rand(x.shape, device=x.device, dtype=x.dtype)
            else:
                # a rate-0 model draws nothing, exactly like its single network
                shape = tuple(x.shape[1:]) if self.head else (x.shape[0], self.c, x.shape[2], x.shape[3])
                parts = [torch.rand(shape, generator=g, device=x.device, dtype=x.dtype) if r > 0.0
                         else torch.zeros(shape, device=x.device, dtype=x.dtype)
                         for g, r in zip(self.generators, self.rates)]
                u = torch.stack(parts) if self.head else torch.cat(parts, dim=1)
            return x * (u < self.keep).to(x.dtype) / self.keep

    return torch, nn, F, FlattenNHWC, GAP, Dropout, PackedDense, PackedConv, PackedDropout


def build_single(layers: Sequence[Layer]):
    """A plain ``nn.Sequential`` of the layer list, with Keras initialisation."""
    torch, nn, _F, FlattenNHWC, GAP, Dropout, *_ = _torch_modules()
    mods = []
    for l in layers:
        if l.op == "conv":
            conv = nn.Conv2d(l.cin, l.cout, 3, padding=1)
            nn.init.xavier_uniform_(conv.weight)  # glorot_uniform, fans = channels * 3 * 3
            nn.init.zeros_(conv.bias)
            mods.append(conv)
        elif l.op == "dense":
            lin = nn.Linear(l.cin, l.cout)
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
            mods.append(lin)
        elif l.op == "bn":
            mods.append(nn.BatchNorm2d(l.cout, eps=BN_EPS, momentum=BN_MOMENTUM_TORCH))
        elif l.op == "relu":
            mods.append(nn.ReLU())
        elif l.op == "pool":
            mods.append(nn.MaxPool2d(2))
        elif l.op == "dropout":
            mods.append(Dropout(l.rate))
        elif l.op == "flatten":
            mods.append(FlattenNHWC())
        elif l.op == "gap":
            mods.append(GAP())
        else:  # pragma: no cover - layer_sequence emits only the ops above
            raise ValueError(l.op)
    return nn.Sequential(*mods)


def set_dropout_generator(model, generator) -> None:
    for mod in model.modules():
        if hasattr(mod, "rate") and hasattr(mod, "generator"):
            mod.generator = generator


def packed_net(layers_per_model: Sequence[Sequence[Layer]]):
    """Build a :class:`PackedNet` for M models whose layer lists differ at most in dropout rates."""
    torch, nn, _F, _Fl, _G, _D, PackedDense, PackedConv, PackedDropout = _torch_modules()
    m = len(layers_per_model)
    ref = layers_per_model[0]
    for other in layers_per_model[1:]:
        if len(other) != len(ref) or any(
            (a.op, a.cin, a.cout) != (b.op, b.cin, b.cout) for a, b in zip(ref, other)
        ):
            raise ValueError("packed models must share their architecture (dropout rates may differ)")

    class PackedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m
            mods = []
            in_head = False
            for i, l in enumerate(ref):
                if l.op == "conv":
                    mods.append(PackedConv(m, l.cin, l.cout))
                elif l.op == "bn":
                    mods.append(nn.BatchNorm2d(m * l.cout, eps=BN_EPS, momentum=BN_MOMENTUM_TORCH))
                elif l.op == "relu":
                    mods.append(nn.ReLU())
                elif l.op == "pool":
                    mods.append(nn.MaxPool2d(2))
                elif l.op == "dropout":
                    mods.append(PackedDropout([lm[i].rate for lm in layers_per_model], l.cout, in_head))
                elif l.op in ("flatten", "gap"):
                    mods.append(_Reshape(m, l.op))
                    in_head = True
                elif l.op == "dense":
                    mods.append(PackedDense(m, l.cin, l.cout))
            self.layers = nn.ModuleList(mods)

        def forward(self, x):  # x: (B, M*3, H, W) -> logits (M, B, K)
            for mod in self.layers:
                x = mod(x)
            return x

    class _Reshape(nn.Module):
        def __init__(self, m: int, op: str):
            super().__init__()
            self.m, self.op = m, op

        def forward(self, x):
            b, mc, h, w = x.shape
            x = x.reshape(b, self.m, mc // self.m, h, w)
            if self.op == "gap":
                return x.mean(dim=(3, 4)).transpose(0, 1)  # (M, B, C)
            return x.permute(1, 0, 3, 4, 2).reshape(self.m, b, h * w * (mc // self.m))  # NHWC flatten

    return PackedNet()


def pack_weights(packed, singles: Sequence) -> None:
    """Copy the parameters (and BN buffers) of M single networks into a PackedNet."""
    import torch

    with torch.no_grad():
        single_mods = [[mod for mod in s if _has_state(mod)] for s in singles]
        packed_mods = [mod for mod in packed.layers if _has_state(mod)]
        for j, pm in enumerate(packed_mods):
            parts = [sm[j] for sm in single_mods]
            name = type(pm).__name__
            if name == "PackedConv":
                pm.weight.copy_(torch.cat([p.weight for p in parts]))
                pm.bias.copy_(torch.cat([p.bias for p in parts]))
            elif name == "PackedDense":
                pm.weight.copy_(torch.stack([p.weight.t() for p in parts]))
                pm.bias.copy_(torch.stack([p.bias for p in parts]).unsqueeze(1))
            else:  # BatchNorm2d
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(pm, attr).copy_(torch.cat([getattr(p, attr) for p in parts]))


def unpack_weights(packed, index: int) -> dict[str, list]:
    """Per-layer parameter tensors of model ``index`` in single-network layout (for tests)."""
    out = []
    for pm in packed.layers:
        name = type(pm).__name__
        if name == "PackedConv":
            c = pm.weight.shape[0] // packed.m
            out.append([pm.weight[index * c:(index + 1) * c], pm.bias[index * c:(index + 1) * c]])
        elif name == "PackedDense":
            out.append([pm.weight[index].t(), pm.bias[index, 0]])
        elif name == "BatchNorm2d":
            c = pm.num_features // packed.m
            sl = slice(index * c, (index + 1) * c)
            out.append([pm.weight[sl], pm.bias[sl], pm.running_mean[sl], pm.running_var[sl]])
    return out


def single_state(model) -> list[list]:
    out = []
    for mod in model:
        name = type(mod).__name__
        if name in ("Conv2d", "Linear"):
            out.append([mod.weight, mod.bias])
        elif name == "BatchNorm2d":
            out.append([mod.weight, mod.bias, mod.running_mean, mod.running_var])
    return out


def _has_state(mod) -> bool:
    return type(mod).__name__ in ("Conv2d", "Linear", "BatchNorm2d", "PackedConv", "PackedDense")
