"""The fast trainer: any set of runs as one union network, one capturable step.

``UnionNet`` holds M runs of the 2018 network side by side along the channel axis (grouped
convolutions over runs, as ``PackedNet``), but the runs need not share an architecture: every
insertion slot the grid knows (before / after the activation of each of the 10 convolutions,
after each of the 4 pools and after the last activation) exists once, with a per-run gate, and
each head kind (dense1000, dense, gap) is a batched matmul over the runs that use it. A control,
its BatchNorm and dropout variants at every placement, both heads and both protocols train in
one pack, so a whole grid is one or two packs.

Each run keeps its own maths: its own batch of 80 from its seed's data order, its own input
normalisation (protocol), its own BatchNorm statistics, and an independent loss term (the pack's
loss is the sum of per-run means, so gradients never mix); RMSprop is elementwise. A gate that
is off is an exact identity (a rate-0 dropout multiplies by 1 and divides by 1; a BatchNorm slot
is a ``where`` that passes the input through, and its unused parameters get exactly zero
gradient, which RMSprop turns into exactly zero update).

Dropout masks come from :mod:`validation.philox`: one Philox4x32-10 evaluation per slot per step
for all runs of the pack, keyed by (run seed, slot) with the step and the element's index in the
run's own NCHW tensor as the counter. A run's masks therefore do not depend on its pack-mates,
its position in the pack, the device, or whether the step is compiled or replayed from a CUDA
graph. The slot is the insertion's index (1..10 in the body, 0 for the head's dropout), not its
placement name, so a dropout-before-ReLU run and its dropout-after-ReLU twin draw the same masks;
since ReLU(x * m / k) = ReLU(x) * m / k for a keep factor k > 0, the two compute the same
function.

The step is written for CUDA graphs: the step number lives in a device tensor and indexes the
precomputed batch indices, losses accumulate on the device, and nothing in the step reads a value
back to the host. On CUDA it is captured once with a ``capturable`` RMSprop and replayed; the
forward can also be compiled with ``torch.compile(fullgraph=True)`` (``torch._dynamo.explain``
finds no graph break on CPU, see ``tests/validation/test_fast_trainer.py``). Options:
``precision="bf16"`` (autocast, fp32 master weights and optimizer state), ``channels_last``,
and ``cudnn.benchmark`` on CUDA.

Reproducibility (what is tested, and what only holds by construction):
- Every device: the dropout masks and the data order of a run are bit-identical whatever the
  pack (tested on CPU; integer arithmetic, so it holds on GPU too).
- CPU, float64: the union trainer equals M separate single runs of :func:`train_reference`
  to 1e-9 in the losses (tested).
- GPU: a run's numbers can change in the last bits with its pack's size and composition: the
  grouped-convolution kernel cuDNN picks (``cudnn.benchmark``), TF32 and bf16 rounding and
  reduction order all depend on the shapes. Rerunning the same pack on the same GPU, software
  and settings reproduces it only as far as cuDNN's chosen algorithms are deterministic; a
  resumed grid whose packs differ is reproducible to floating-point noise, not bit for bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .models import BN_EPS, BN_MOMENTUM_TORCH, CONV_PLAN, build_single, variant_kind
from .philox import MASK32, keep_threshold, random_words
from .train import DeviceData, RunResult, RunSpec, TrainConfig, batch_indices, init_single, make_optimizer

HEAD_SLOT = 0  # the head's dropout; body insertions are numbered 1.. in network order
KEY_SALT = 0x41524348  # second Philox key word ("ARCH"): keeps these streams apart from other uses
N_CONVS = sum(1 for item in CONV_PLAN if item != "pool")
N_POOLS = sum(1 for item in CONV_PLAN if item == "pool")
DENSE_HIDDEN = 1000


@dataclass
class FastOptions:
    precision: str = "fp32"  # fp32 | bf16 (autocast; master weights and optimizer state stay fp32)
    channels_last: bool = True
    compile: bool = False  # torch.compile(fullgraph=True) on the forward
    cuda_graph: bool = True  # capture the whole step on CUDA (ignored on CPU)
    grouped_conv: bool | None = None  # one grouped convolution over runs; None: on CUDA only
    graph_backend: object = None  # tests: a stand-in for CudaGraphBackend, to run the graph logic on CPU


def _key(seed: int) -> tuple[int, int]:
    return seed & MASK32, KEY_SALT


# ----------------------------------------------------------------------------------------------
# the reference: one plain eager run, masks from the same counter-based draws


def _counter_dropout_cls():
    import torch
    from torch import nn

    class CounterDropout(nn.Module):
        """Inverted dropout whose mask is Philox(seed, slot; step, element index)."""

        def __init__(self, rate: float, seed: int, slot: int):
            super().__init__()
            self.rate, self.seed, self.slot = float(rate), int(seed), int(slot)
            self.threshold = keep_threshold(self.rate)
            self.step = 0  # training forwards seen = optimizer steps taken

        def forward(self, x):
            if not self.training:
                return x
            step = self.step
            self.step += 1
            if self.rate == 0.0:
                return x
            k0, k1 = _key(self.seed)
            keys0 = torch.tensor([k0], device=x.device)
            keys1 = torch.tensor([k1], device=x.device)
            words = random_words(keys0, keys1, step, x.numel(), stream=self.slot).reshape(x.shape)
            return x * (words < self.threshold).to(x.dtype) / (1.0 - self.rate)

        def extra_repr(self) -> str:
            return f"rate={self.rate}, seed={self.seed}, slot={self.slot}"

    return CounterDropout


def reference_model(spec: RunSpec, num_classes: int, device="cpu"):
    """The single network of ``spec`` (same initial weights as :func:`train.init_single`) with
    counter-based dropout: what one run of the fast trainer computes, as a plain nn.Sequential."""
    CounterDropout = _counter_dropout_cls()
    model = init_single(spec, num_classes, "cpu")
    k = 0
    in_head = False
    for i, mod in enumerate(model):
        name = type(mod).__name__
        if name in ("FlattenNHWC", "GAP"):
            in_head = True
        if name == "Dropout":
            if not in_head:
                k += 1
            model[i] = CounterDropout(mod.rate, spec.seed, HEAD_SLOT if in_head else k)
        elif name == "BatchNorm2d" and not in_head:
            k += 1
    return model.to(device)


def train_reference(spec: RunSpec, data: DeviceData, cfg: TrainConfig, **kw) -> RunResult:
    """One run, eager, one network: the baseline the fast trainer must equal."""
    from .train import train_single

    model = kw.pop("model", None) or reference_model(spec, data.num_classes, data.device)
    return train_single(spec, data, cfg, model=model, **kw)


# ----------------------------------------------------------------------------------------------
# the union network


def _run_plan(spec: RunSpec) -> dict:
    kind, rate = variant_kind(spec.variant)
    if spec.placement == "none":
        kind = "none"
    return {"kind": kind, "rate": rate, "placement": spec.placement, "head": spec.head, "seed": spec.seed}


def _slot_layout() -> list[tuple]:
    """Positions of the union network in order: ('conv', i, cin, cout), ('relu',), ('pool',), and
    ('slot', placement, k, channels) where a run with that placement inserts its k-th layer."""
    out: list[tuple] = []
    ch = 3
    conv_i = pool_i = 0
    for item in CONV_PLAN:
        if item == "pool":
            pool_i += 1
            out += [("pool",), ("slot", "pool", pool_i, ch)]
            continue
        cin, ch = item
        conv_i += 1
        out += [("conv", conv_i, cin, ch), ("slot", "before", conv_i, ch), ("relu",), ("slot", "after", conv_i, ch)]
    out.append(("slot", "pool", N_POOLS + 1, ch))  # once after the last ReLU, before Flatten
    return out


def union_net(specs: Sequence[RunSpec], num_classes: int):
    """Build the union network of ``specs`` (weights uninitialised; see :func:`init_union`)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    plans = [_run_plan(s) for s in specs]
    m = len(plans)
    seeds = [p["seed"] for p in plans]

    class UnionConv(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(m * cout, cin, 3, 3))
            self.bias = nn.Parameter(torch.zeros(m * cout))
            self.grouped = None  # None: grouped on CUDA, M convolutions on CPU

        def forward(self, x):
            if (x.is_cuda if self.grouped is None else self.grouped) or m == 1:
                return F.conv2d(x, self.weight, self.bias, padding=1, groups=m)
            # CPU grouped kernels are slow; M ordinary convolutions compute the same
            xs = x.chunk(m, dim=1)
            ws, bs = self.weight.chunk(m, dim=0), self.bias.chunk(m, dim=0)
            return torch.cat([F.conv2d(xi, wi, bi, padding=1) for xi, wi, bi in zip(xs, ws, bs)], dim=1)

    class Slot(nn.Module):
        """Per-run insertion: BatchNorm for the runs in ``bn_runs``, dropout for ``drop_runs``."""

        def __init__(self, placement: str, k: int, ch: int, bn_runs: list[int], drop_runs: list[int]):
            super().__init__()
            self.placement, self.k, self.ch = placement, k, ch
            self.has_bn, self.all_bn = bool(bn_runs), len(bn_runs) == m
            if bn_runs:
                self.bn = nn.BatchNorm2d(m * ch, eps=BN_EPS, momentum=BN_MOMENTUM_TORCH)
                gate = torch.zeros(m, dtype=torch.bool)
                gate[bn_runs] = True
                self.register_buffer("bn_gate", gate.repeat_interleave(ch).reshape(1, m * ch, 1, 1))
            self.drop_runs = drop_runs
            if drop_runs:
                rates = [plans[r]["rate"] for r in drop_runs]
                keys = [_key(seeds[r]) for r in drop_runs]
                self.register_buffer("k0", torch.tensor([k[0] for k in keys], dtype=torch.int64))
                self.register_buffer("k1", torch.tensor([k[1] for k in keys], dtype=torch.int64))
                thr = [keep_threshold(r) for r in rates]
                self.register_buffer("thr", torch.tensor(thr, dtype=torch.int64).reshape(-1, 1, 1, 1, 1))
                keep = torch.ones(m)
                keep[drop_runs] = torch.tensor([1.0 - r for r in rates])
                self.register_buffer("keep", keep.to(torch.get_default_dtype()).reshape(1, m, 1, 1, 1))
                self.register_buffer("drop_index", torch.tensor(drop_runs, dtype=torch.int64))
                self.all_drop = drop_runs == list(range(m))

        def forward(self, x, step):
            if self.has_bn:
                y = self.bn(x)
                x = y if self.all_bn else torch.where(self.bn_gate, y, x)
            if self.drop_runs and self.training:
                x = _dropout(x, step, self.k, self.k0, self.k1, self.thr, self.keep, self.drop_index,
                             self.all_drop, m)
            return x

    class HeadGroup(nn.Module):
        def __init__(self, kind: str, runs: list[int], ch: int):
            super().__init__()
            self.kind, g = kind, len(runs)
            self.register_buffer("index", torch.tensor(runs, dtype=torch.int64))
            self.runs = runs
            if kind == "gap":
                dims = [(ch, num_classes)]
            elif kind == "dense":
                dims = [(4 * ch, num_classes)]
            else:  # dense1000
                dims = [(4 * ch, DENSE_HIDDEN), (DENSE_HIDDEN, num_classes)]
            self.weights = nn.ParameterList([nn.Parameter(torch.empty(g, a, b)) for a, b in dims])
            self.biases = nn.ParameterList([nn.Parameter(torch.zeros(g, 1, b)) for _a, b in dims])
            if kind == "dense1000":
                keys = [_key(seeds[r]) for r in runs]
                self.register_buffer("k0", torch.tensor([k[0] for k in keys], dtype=torch.int64))
                self.register_buffer("k1", torch.tensor([k[1] for k in keys], dtype=torch.int64))
                self.threshold = keep_threshold(0.5)

        def forward(self, x5, step):  # x5: (B, M, C, H, W) -> (G, B, K)
            xs = x5 if len(self.runs) == m else x5.index_select(1, self.index)
            if self.kind == "gap":
                h = xs.mean(dim=(3, 4)).transpose(0, 1)
            else:  # Keras' Flatten on channels-last data, per run
                g, b = xs.shape[1], xs.shape[0]
                h = xs.permute(1, 0, 3, 4, 2).reshape(g, b, -1)
            h = torch.baddbmm(self.biases[0], h, self.weights[0])
            if self.kind == "dense1000":
                h = torch.relu(h)
                if self.training:
                    words = random_words(self.k0, self.k1, step, h.shape[1] * h.shape[2], stream=HEAD_SLOT)
                    mask = (words < self.threshold).reshape(h.shape).to(h.dtype)
                    h = h * mask / 0.5
                h = torch.baddbmm(self.biases[1], h, self.weights[1])
            return h

    class UnionNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m
            self.specs = list(specs)
            mods = []
            for pos in _slot_layout():
                if pos[0] == "conv":
                    mods.append(UnionConv(pos[2], pos[3]))
                elif pos[0] == "relu":
                    mods.append(nn.ReLU())
                elif pos[0] == "pool":
                    mods.append(nn.MaxPool2d(2))
                else:
                    _s, placement, k, ch = pos
                    users = [r for r, p in enumerate(plans) if p["placement"] == placement and p["kind"] != "none"]
                    bn_runs = [r for r in users if plans[r]["kind"] == "bn"]
                    drop_runs = [r for r in users if plans[r]["kind"] == "dropout" and plans[r]["rate"] > 0.0]
                    if bn_runs or drop_runs:
                        mods.append(Slot(placement, k, ch, bn_runs, drop_runs))
            self.body = nn.ModuleList(mods)
            ch = CONV_PLAN[-1][1]
            kinds = sorted({p["head"] for p in plans})
            self.heads = nn.ModuleList(
                [HeadGroup(kind, [r for r, p in enumerate(plans) if p["head"] == kind], ch) for kind in kinds])
            order = [r for h in self.heads for r in h.runs]
            inverse = [order.index(r) for r in range(m)]
            self.identity_order = inverse == list(range(m))
            self.register_buffer("inverse", torch.tensor(inverse, dtype=torch.int64))

        def forward(self, x, step):  # x: (B, M*3, H, W), step: int64 tensor -> logits (M, B, K)
            for mod in self.body:
                x = mod(x, step) if isinstance(mod, Slot) else mod(x)
            b, mc, h, w = x.shape
            x5 = x.reshape(b, m, mc // m, h, w)
            outs = [head(x5, step) for head in self.heads]
            logits = outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)
            return logits if self.identity_order else logits.index_select(0, self.inverse)

    return UnionNet()


def _dropout(x, step, k, k0, k1, thr, keep, drop_index, all_drop: bool, m: int):
    """One Philox draw for the dropout runs of a slot; run r's mask covers its own (B, C, H, W)
    tensor in NCHW order, so it is the mask the run's single network draws."""
    import torch

    b, mc, h, w = x.shape
    c = mc // m
    d = k0.shape[0]
    words = random_words(k0, k1, step, b * c * h * w, stream=k).reshape(d, b, c, h, w)
    mask = (words < thr).to(x.dtype).transpose(0, 1)  # (B, D, C, H, W)
    if not all_drop:
        full = torch.ones(b, m, c, h, w, dtype=x.dtype, device=x.device)
        mask = full.index_copy(1, drop_index, mask)
    x5 = x.reshape(b, m, c, h, w)
    return (x5 * mask / keep).reshape(b, mc, h, w)


def init_union(specs: Sequence[RunSpec], num_classes: int, device="cpu"):
    """A union network whose run r starts from exactly the weights of ``init_single(specs[r])``."""
    import torch

    net = union_net(specs, num_classes)
    convs = [mod for mod in net.body if type(mod).__name__ == "UnionConv"]
    slot_by_pos = {(mod.placement, mod.k): mod for mod in net.body if type(mod).__name__ == "Slot"}
    head_of = {}
    for hg in net.heads:
        for gi, r in enumerate(hg.runs):
            head_of[r] = (hg, gi)
    with torch.no_grad():
        for r, spec in enumerate(specs):
            single = init_single(spec, num_classes, "cpu")
            mods = [mod for mod in single if type(mod).__name__ in ("Conv2d", "Linear", "BatchNorm2d")]
            conv_i = bn_k = dense_j = 0
            for mod in mods:
                name = type(mod).__name__
                if name == "Conv2d":
                    uc = convs[conv_i]
                    conv_i += 1
                    c = mod.weight.shape[0]
                    uc.weight[r * c:(r + 1) * c].copy_(mod.weight)
                    uc.bias[r * c:(r + 1) * c].copy_(mod.bias)
                elif name == "BatchNorm2d":
                    bn_k += 1
                    slot = slot_by_pos[(spec.placement, bn_k)]
                    c = mod.num_features
                    for attr in ("weight", "bias", "running_mean", "running_var"):
                        getattr(slot.bn, attr)[r * c:(r + 1) * c].copy_(getattr(mod, attr))
                else:
                    hg, gi = head_of[r]
                    hg.weights[dense_j][gi].copy_(mod.weight.t())
                    hg.biases[dense_j][gi, 0].copy_(mod.bias)
                    dense_j += 1
    return net.to(device)


def unpack_union(net, index: int) -> list[list]:
    """Per-layer tensors of run ``index`` in the layout of ``models.single_state`` (for tests)."""
    spec = net.specs[index]
    plan = _run_plan(spec)
    out = []
    positions = _slot_layout()
    body = iter(net.body)
    for pos in positions:
        if pos[0] == "conv":
            while True:
                mod = next(body)
                if type(mod).__name__ == "UnionConv":
                    break
            c = mod.weight.shape[0] // net.m
            out.append([mod.weight[index * c:(index + 1) * c], mod.bias[index * c:(index + 1) * c]])
        elif pos[0] == "slot" and plan["kind"] == "bn" and pos[1] == plan["placement"]:
            slot = next(s for s in net.body if type(s).__name__ == "Slot" and (s.placement, s.k) == pos[1:3])
            c = slot.ch
            sl = slice(index * c, (index + 1) * c)
            out.append([slot.bn.weight[sl], slot.bn.bias[sl], slot.bn.running_mean[sl], slot.bn.running_var[sl]])
    for hg in net.heads:
        if index in hg.runs:
            gi = hg.runs.index(index)
            for w, b in zip(hg.weights, hg.biases):
                out.append([w[gi].t(), b[gi, 0]])
    return out


# ----------------------------------------------------------------------------------------------
# the trainer


class _Inputs:
    """Per-run normalisation of the shared uint8 images (runs may mix protocols)."""

    def __init__(self, specs: Sequence[RunSpec], datas: dict, dtype):
        import torch

        first = datas[specs[0].protocol]
        self.x, self.y, self.device = first.x, first.y, first.device
        self.shift, self.scale = {}, {}
        for part in ("train", "val", "test"):
            sh = [datas[s.protocol].shift[part].to(dtype).reshape(-1).expand(3) for s in specs]
            sc = [torch.as_tensor(datas[s.protocol].scale[part]).to(dtype).reshape(-1).expand(3) for s in specs]
            self.shift[part] = torch.stack(sh).reshape(len(specs), 1, 1, 1, 3).to(self.device)
            self.scale[part] = torch.stack(sc).reshape(len(specs), 1, 1, 1, 3).to(self.device)
        self.dtype = dtype

    def images(self, part: str, idx, channels_last: bool):
        """idx (M, B) -> x (B, M*3, H, W): run r's normalised images in channels 3r..3r+2."""
        raw = self.x[part][idx]  # (M, B, H, W, 3)
        x = (raw.to(self.dtype) - self.shift[part]) * self.scale[part]
        m, b, h, w, _ = x.shape
        if channels_last:  # (B, H, W, M*3) in memory: already channels-last for the convolutions
            return x.permute(1, 2, 3, 0, 4).reshape(b, h, w, m * 3).permute(0, 3, 1, 2)
        return x.permute(1, 0, 4, 2, 3).reshape(b, m * 3, h, w)


def train_union(specs: Sequence[RunSpec], datas: dict, cfg: TrainConfig, *, net=None,
                options: FastOptions | None = None, on_step: Callable[[int], None] | None = None,
                record_losses: list | None = None, log: Callable[[str], None] = lambda s: None) -> list[RunResult]:
    """Train ``specs`` as one union pack; ``datas`` maps protocol -> DeviceData of one split."""
    import torch
    from torch.nn import functional as F

    opts = options or FastOptions()
    t0 = time.perf_counter()
    m = len(specs)
    first = datas[specs[0].protocol]
    device, dtype = first.device, first.dtype
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    inputs = _Inputs(specs, datas, dtype)
    num_classes = first.num_classes
    net = net if net is not None else init_union(specs, num_classes, device)
    for mod in net.body:
        if type(mod).__name__ == "UnionConv":
            mod.grouped = opts.grouped_conv
    if opts.channels_last:  # the convolution weights; the 5-d dropout buffers keep their layout
        for mod in net.body:
            if type(mod).__name__ == "UnionConv":
                mod.to(memory_format=torch.channels_last)
    opt = make_optimizer_fast(net.parameters(), capturable=cuda and opts.cuda_graph)
    n = len(inputs.y["train"])
    steps = cfg.steps_per_epoch * cfg.epochs
    idx_all = torch.from_numpy(
        np.stack([batch_indices(s.seed, n, cfg.batch_size, steps) for s in specs], axis=1)
    ).to(device)  # (steps, M, B)
    ytrain = inputs.y["train"]
    autocast = _autocast(device, opts.precision)
    forward = torch.compile(net, fullgraph=True, dynamic=False) if opts.compile else net
    step_t = torch.zeros((), dtype=torch.int64, device=device)
    total = torch.zeros(m, dtype=torch.float64, device=device)
    last = torch.zeros(m, dtype=torch.float64, device=device)

    def step_body():
        idx = idx_all.index_select(0, step_t.reshape(1)).squeeze(0)  # (M, B); no host sync, graph-safe
        x = inputs.images("train", idx, opts.channels_last)
        with autocast:
            logits = forward(x, step_t)
        per_run = F.cross_entropy(logits.to(dtype).transpose(1, 2), ytrain[idx], reduction="none").mean(1)
        per_run.sum().backward()  # gradients of different runs are independent
        opt.step()
        last.copy_(per_run.detach())
        total.add_(last)
        step_t.add_(1)

    def eager_step():
        opt.zero_grad(set_to_none=True)
        step_body()

    graph = None
    if opts.cuda_graph and (cuda or opts.graph_backend is not None):
        graph = _StepGraph(step_body, eager_step, lambda: opt.zero_grad(set_to_none=True), log, opts.graph_backend)
    results = [RunResult(s, pack_size=m) for s in specs]
    net.train()
    done = 0
    for epoch in range(cfg.epochs):
        total.zero_()
        while done < (epoch + 1) * cfg.steps_per_epoch:
            graph.step(done) if graph is not None else eager_step()
            done += 1
            if record_losses is not None:
                record_losses.append(last.tolist())
            if done == 1:
                for r, v in zip(results, last.tolist()):
                    r.first_loss = v
            if on_step:
                on_step(1)
        means = (total / cfg.steps_per_epoch).tolist()
        acc, vloss = evaluate_union(net, inputs, "val", cfg.eval_batch, autocast, opts.channels_last)
        for r, tl, a, vl in zip(results, means, acc, vloss):
            r.train_loss.append(tl)
            r.val_acc.append(a)
            r.val_loss.append(vl)
    acc, tloss = evaluate_union(net, inputs, "test", cfg.eval_batch, autocast, opts.channels_last)
    wall = time.perf_counter() - t0
    for r, a, tl in zip(results, acc, tloss):
        r.test_acc, r.test_loss, r.steps, r.wall_s = a, tl, done, wall
    net.cuda_graph_used = bool(graph is not None and graph.graph is not None)
    net.graph_replays = graph.replays if graph is not None else 0
    return results


class CudaGraphBackend:  # pragma: no cover - needs CUDA
    """The three CUDA calls the step graph needs, apart so that tests can stand in for them."""

    def __init__(self):
        import torch

        self.torch = torch
        self.side = torch.cuda.Stream()

    def on_side_stream(self, fn) -> None:
        """Run ``fn`` on a side stream (warm-up before capture, as the CUDA-graph docs ask)."""
        torch = self.torch
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            fn()
        torch.cuda.current_stream().wait_stream(self.side)

    def capture(self, fn):
        """A graph of ``fn``'s kernels; capturing runs none of them."""
        torch = self.torch
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph


class _StepGraph:
    """Whole-step CUDA graph (forward, backward, capturable RMSprop step, loss bookkeeping).

    The first WARMUP steps run eagerly on a side stream (they are real training steps); step
    WARMUP is captured, then every step is one replay. The step counter, the batch indices, the
    losses and the parameters are static device tensors that the graph reads and updates in place.
    A capture that fails is logged and the run goes on eagerly (with the same maths)."""

    WARMUP = 3

    def __init__(self, step_body, eager_step, zero_grad, log, backend=None):
        self.step_body, self.eager_step, self.zero_grad, self.log = step_body, eager_step, zero_grad, log
        self.backend = backend or CudaGraphBackend()
        self.graph = None
        self.failed = False
        self.replays = 0

    def step(self, done: int) -> None:
        if self.graph is not None:
            self.graph.replay()
            self.replays += 1
            return
        if done < self.WARMUP or self.failed:
            self.backend.on_side_stream(self.eager_step)
            return
        try:
            self.zero_grad()  # as the docs' whole-network example: .grad is allocated in the graph's pool
            self.graph = self.backend.capture(self.step_body)
        except Exception as e:  # the capture ran nothing: this step is still to do
            self.failed = True
            self.log(f"warning: CUDA graph capture failed ({type(e).__name__}: {e}); training eagerly")
            self.eager_step()
            return
        self.graph.replay()  # capturing does not run the step
        self.replays += 1


def make_optimizer_fast(params, capturable: bool):
    """The runs' RMSprop (same hyper-parameters as :func:`train.make_optimizer`), foreach, and
    ``capturable`` (step count on the device) when the step is replayed from a CUDA graph."""
    import torch

    from .train import RMSPROP

    if not capturable:
        return make_optimizer(params)
    return torch.optim.RMSprop(params, lr=RMSPROP["lr"], alpha=RMSPROP["alpha"], eps=RMSPROP["eps"],
                               momentum=0.0, centered=False, weight_decay=0.0, foreach=True, capturable=True)


def _autocast(device, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise ValueError(f"unknown precision {precision!r}; use fp32 or bf16")


def evaluate_union(net, inputs: _Inputs, part: str, eval_batch: int, autocast, channels_last: bool):
    """Accuracy and mean loss per run on ``part`` (each run sees the set in its own normalisation)."""
    import torch
    from torch.nn import functional as F

    net.eval()
    m = net.m
    n = len(inputs.y[part])
    correct = torch.zeros(m, device=inputs.device, dtype=torch.float64)
    loss = torch.zeros(m, device=inputs.device, dtype=torch.float64)
    step = torch.zeros((), dtype=torch.int64, device=inputs.device)
    with torch.no_grad():
        for s in range(0, n, eval_batch):
            idx = torch.arange(s, min(n, s + eval_batch), device=inputs.device).expand(m, -1)
            x = inputs.images(part, idx, channels_last)
            with autocast:
                logits = net(x, step)
            logits = logits.to(inputs.dtype)
            y = inputs.y[part][idx]
            correct += (logits.argmax(-1) == y).to(torch.float64).sum(1)
            loss += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").to(torch.float64).sum(1)
    net.train()
    return (correct / n).tolist(), (loss / n).tolist()


def grid_images(n_runs: int, steps: int, batch: int) -> int:
    return n_runs * steps * batch


__all__ = ["FastOptions", "init_union", "reference_model", "train_reference", "train_union", "union_net",
           "unpack_union", "math"]
