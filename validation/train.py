"""Training harness: the plain single-run trainer (reference / benchmark baseline) and the packed
trainer (M runs as one module). Both use the same data order, initialisation and dropout masks
for a given seed, so a run's numbers do not depend on how it was scheduled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .data import Split
from .models import build_single, layer_sequence, pack_weights, packed_net, set_dropout_generator

# Keras 2.2 RMSprop defaults; Keras computes p -= lr * g / (sqrt(a) + eps), eps outside the sqrt,
# exactly like torch.optim.RMSprop (centered=False, momentum=0).
RMSPROP = {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}
DROPOUT_SEED_OFFSET = 1_000_003


@dataclass
class TrainConfig:
    protocol: str = "faithful"  # faithful | modern
    batch_size: int = 80
    steps_per_epoch: int = 1000
    epochs: int = 10
    eval_batch: int = 500
    compile: bool = False


@dataclass(frozen=True)
class RunSpec:
    protocol: str
    variant: str
    placement: str  # 'none' for models without insertions
    head: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.protocol}__{self.variant}__{self.placement}__{self.head}__s{self.seed}"

    def layers(self, num_classes: int):
        return layer_sequence(self.variant, None if self.placement == "none" else self.placement,
                              self.head, num_classes)


@dataclass
class RunResult:
    spec: RunSpec
    train_loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    first_loss: float = math.nan
    val_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    test_acc: float = math.nan
    test_loss: float = math.nan
    wall_s: float = 0.0
    steps: int = 0
    pack_size: int = 1


def make_optimizer(params):
    import torch

    return torch.optim.RMSprop(params, lr=RMSPROP["lr"], alpha=RMSPROP["alpha"], eps=RMSPROP["eps"],
                               momentum=0.0, centered=False, weight_decay=0.0)


def batch_indices(seed: int, n: int, batch: int, steps: int) -> np.ndarray:
    """(steps, batch) indices: a stream of fresh permutations per pass, cut into fixed batches."""
    rng = np.random.RandomState(seed)
    need = steps * batch
    chunks, have = [], 0
    while have < need:
        chunks.append(rng.permutation(n))
        have += n
    return np.concatenate(chunks)[:need].reshape(steps, batch)


class DeviceData:
    """Uint8 images resident on the device, normalised on the fly per protocol."""

    def __init__(self, split: Split, protocol: str, device, dtype=None):
        import torch

        self.dtype = dtype or torch.float32

        self.device = torch.device(device)
        self.num_classes = split.num_classes
        self.protocol = protocol
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        self.x = {"train": t(split.x_train), "val": t(split.x_val), "test": t(split.x_test)}
        self.y = {"train": t(split.y_train), "val": t(split.y_val), "test": t(split.y_test)}
        if protocol == "faithful":
            # the original subtracts the global mean of each set (train's own, test's own)
            self.shift = {k: torch.tensor(float(v.astype(np.float64).mean()), dtype=self.dtype, device=self.device)
                          for k, v in (("train", split.x_train), ("val", split.x_val), ("test", split.x_test))}
            self.scale = {k: torch.tensor(1.0, dtype=self.dtype, device=self.device) for k in self.shift}
        elif protocol == "modern":
            # scaled to [0, 1] and normalised per channel with the training split's statistics
            xf = split.x_train.reshape(-1, 3).astype(np.float64) / 255.0
            mean = torch.tensor(xf.mean(0) * 255.0, dtype=self.dtype, device=self.device)
            std = torch.tensor(xf.std(0) * 255.0, dtype=self.dtype, device=self.device)
            self.shift = {k: mean for k in ("train", "val", "test")}
            self.scale = {k: 1.0 / std for k in ("train", "val", "test")}
        else:
            raise ValueError(f"unknown protocol {protocol!r}")

    def images(self, part: str, idx) -> "torch.Tensor":  # noqa: F821
        """Normalised float images (..., 3, H, W) for integer indices of any shape."""
        x = self.x[part][idx].to(self.dtype)
        x = (x - self.shift[part]) * self.scale[part]
        return x.movedim(-1, -3)


def _seed_init(seed: int):
    import torch

    torch.manual_seed(seed)


def _generator(seed: int, device):
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(seed + DROPOUT_SEED_OFFSET)
    return g


# ----------------------------------------------------------------------------------------------
# single-run trainer (plain eager PyTorch)


def init_single(spec: RunSpec, num_classes: int, device="cpu"):
    _seed_init(spec.seed)
    model = build_single(spec.layers(num_classes)).to(device)
    set_dropout_generator(model, _generator(spec.seed, device))
    return model


def train_single(spec: RunSpec, data: DeviceData, cfg: TrainConfig, *, model=None,
                 on_step: Callable[[int], None] | None = None, record_losses: list | None = None) -> RunResult:
    import torch
    from torch.nn import functional as F

    t0 = time.perf_counter()
    model = model if model is not None else init_single(spec, data.num_classes, data.device)
    opt = make_optimizer(model.parameters())
    n = len(data.y["train"])
    steps = cfg.steps_per_epoch * cfg.epochs
    idx_all = torch.from_numpy(batch_indices(spec.seed, n, cfg.batch_size, steps)).to(data.device)
    res = RunResult(spec)
    step = 0
    for _epoch in range(cfg.epochs):
        model.train()
        total = torch.zeros((), device=data.device, dtype=torch.float64)
        for _ in range(cfg.steps_per_epoch):
            idx = idx_all[step]
            logits = model(data.images("train", idx))
            loss = F.cross_entropy(logits, data.y["train"][idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            if record_losses is not None:
                record_losses.append(float(loss.detach()))
            if step == 0:
                res.first_loss = float(loss.detach())
            step += 1
            if on_step:
                on_step(1)
        res.train_loss.append(float(total) / cfg.steps_per_epoch)
        acc, vloss = _evaluate(lambda x: model(x).unsqueeze(0), data, "val", 1, cfg.eval_batch, model)
        res.val_acc.append(acc[0])
        res.val_loss.append(vloss[0])
    acc, tloss = _evaluate(lambda x: model(x).unsqueeze(0), data, "test", 1, cfg.eval_batch, model)
    res.test_acc, res.test_loss = acc[0], tloss[0]
    res.steps = step
    res.wall_s = time.perf_counter() - t0
    return res


def _evaluate(fn, data: DeviceData, part: str, m: int, eval_batch: int, module) -> tuple[list, list]:
    """Accuracy and mean loss of M models (fn maps (B, M*3, H, W) -> (M, B, K))."""
    import torch
    from torch.nn import functional as F

    module.eval()
    n = len(data.y[part])
    correct = torch.zeros(m, device=data.device, dtype=torch.float64)
    loss = torch.zeros(m, device=data.device, dtype=torch.float64)
    with torch.no_grad():
        for s in range(0, n, eval_batch):
            idx = torch.arange(s, min(n, s + eval_batch), device=data.device)
            x = data.images(part, idx)
            if m > 1:
                x = x.repeat(1, m, 1, 1)
            logits = fn(x)
            y = data.y[part][idx]
            correct += (logits.argmax(-1) == y).float().sum(1)
            loss += F.cross_entropy(logits.transpose(1, 2), y.expand(m, -1), reduction="none").sum(1)
    module.train()
    return (correct / n).tolist(), (loss / n).tolist()


# ----------------------------------------------------------------------------------------------
# packed trainer


def can_pack(a: RunSpec, b: RunSpec) -> bool:
    """Runs can share a pack when their networks differ at most in dropout rates."""
    return pack_signature(a) == pack_signature(b)


def pack_signature(spec: RunSpec) -> tuple:
    kind = "bn" if spec.variant == "bn" else "drop"
    return (spec.protocol, spec.head, kind, spec.placement if spec.variant != "control" else "*")


def _pack_layers(specs: Sequence[RunSpec], num_classes: int):
    """Layer lists for a pack; a control model rides in a dropout pack with rate-0 dropout."""
    placements = {s.placement for s in specs if s.variant != "control"}
    if len(placements) > 1:
        raise ValueError("a pack mixes placements")
    placement = placements.pop() if placements else None
    has_drop = any(s.variant.startswith("dropout") for s in specs)
    out = []
    for s in specs:
        if s.variant == "control" and has_drop:
            out.append(layer_sequence("dropout0.0", placement, s.head, num_classes))
        else:
            out.append(s.layers(num_classes))
    return out


def init_packed(specs: Sequence[RunSpec], num_classes: int, device="cpu", exact_dropout: bool = True):
    singles = [init_single(s, num_classes, "cpu") for s in specs]
    net = packed_net(_pack_layers(specs, num_classes))
    pack_weights(net, singles)
    net = net.to(device)
    if exact_dropout:
        gens = [_generator(s.seed, device) for s in specs]
        for mod in net.modules():
            if hasattr(mod, "generators"):
                mod.generators = gens
    return net


def train_packed(specs: Sequence[RunSpec], data: DeviceData, cfg: TrainConfig, *, net=None,
                 on_step: Callable[[int], None] | None = None, exact_dropout: bool = True,
                 record_losses: list | None = None) -> list[RunResult]:
    import torch
    from torch.nn import functional as F

    t0 = time.perf_counter()
    m = len(specs)
    net = net if net is not None else init_packed(specs, data.num_classes, data.device, exact_dropout)
    opt = make_optimizer(net.parameters())
    n = len(data.y["train"])
    steps = cfg.steps_per_epoch * cfg.epochs
    idx_all = torch.from_numpy(
        np.stack([batch_indices(s.seed, n, cfg.batch_size, steps) for s in specs], axis=1)
    ).to(data.device)  # (steps, M, B)
    b = cfg.batch_size
    ytrain = data.y["train"]

    def step_fn(idx):
        x = data.images("train", idx)  # (M, B, 3, H, W)
        x = x.transpose(0, 1).reshape(b, m * 3, x.shape[-2], x.shape[-1])
        logits = net(x)  # (M, B, K)
        per_model = F.cross_entropy(logits.transpose(1, 2), ytrain[idx], reduction="none").mean(1)
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()  # gradients of different models are independent
        opt.step()
        return per_model.detach()

    if cfg.compile and data.device.type == "cuda":
        step_fn = torch.compile(step_fn)

    results = [RunResult(s, pack_size=m) for s in specs]
    step = 0
    for _epoch in range(cfg.epochs):
        net.train()
        total = torch.zeros(m, device=data.device, dtype=torch.float64)
        for _ in range(cfg.steps_per_epoch):
            losses = step_fn(idx_all[step])
            total += losses
            if record_losses is not None:
                record_losses.append(losses.tolist())
            if step == 0:
                for r, v in zip(results, losses.tolist()):
                    r.first_loss = v
            step += 1
            if on_step:
                on_step(1)
        means = (total / cfg.steps_per_epoch).tolist()
        acc, vloss = _evaluate(net, data, "val", m, cfg.eval_batch, net)
        for r, tl, a, vl in zip(results, means, acc, vloss):
            r.train_loss.append(tl)
            r.val_acc.append(a)
            r.val_loss.append(vl)
    acc, tloss = _evaluate(net, data, "test", m, cfg.eval_batch, net)
    wall = time.perf_counter() - t0
    for r, a, tl in zip(results, acc, tloss):
        r.test_acc, r.test_loss, r.steps, r.wall_s = a, tl, step, wall
    return results
