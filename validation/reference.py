"""Per-rule reference experiments: every rule that an honest experiment can test, tested.

Each experiment is a **pair** of networks built directly in torch (``refmodels.py``): one with the
rule's anti-pattern, one with the fix the rule recommends, otherwise the same. Both are trained
with the same seeds (same data order, same initial weights wherever the layers match, same dropout
stream), and the paired differences (fix - anti-pattern) of the final test metric go through
validate's statistics (``stats.py``): paired t interval, exact sign-flip permutation test, the
smallest effect detectable at 80 % power, and a pre-registered verdict:

- ``helps``: the fix raises the test metric (two-sided, alpha 0.05; contradicted when the interval
  excludes ``min_effect``): rules that claim the anti-pattern costs accuracy.
- ``noninferior``: the fix is no worse than the anti-pattern by more than ``min_effect`` (the
  margin): rules that claim the anti-pattern costs parameters or compute and buys nothing; the
  cost is reported beside it (parameter counts).
- ``faster``: the fix's inference throughput is higher (paired timing trials, log ratio): the
  deployment rules.

Families: the 2018 seed network (reduced: width 16, three blocks on 16x16 CIFAR-10) for the
convolution rules, an MLP on 8x8 CIFAR-10 for dense, loss and initialiser rules, a small pre-norm
transformer over characters for the transformer rules, a 2-layer LSTM for the recurrent rule.
Every run also records symptoms (``symptoms.py``). Before training, archlint lints both networks
of the pair: the anti-pattern must trigger the rule and the fix must not (``targets`` in the
results), so an experiment cannot drift away from the rule it grades.

Scales (``--scale``): ``tiny`` (a few steps, the test suite), ``cpu`` (the graded CPU runs, seconds
per run), ``cpu-long`` (the same, 4x the steps), ``gpu`` (full length, the GPU preset ``scripts/gpu_evidence.sh``).

    python -m archlint_validation.reference --scale cpu --out OUT [--rule AL012]... [--seeds 6]
    python -m archlint_validation.bundle NAME OUT
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import stats
from .errors import OutputError
from .io import write_json_atomic
from .progress import CPU_LIMIT_S, fmt_duration

ALPHA = 0.05


@dataclass(frozen=True)
class Scale:
    name: str
    steps: dict  # task kind -> optimizer steps
    batch: dict
    n_train: int | None
    n_test: int | None
    seeds: int
    timing_iters: int


SCALES = {
    "tiny": Scale("tiny", {"image": 3, "flat": 4, "binary": 4, "text": 3, "mlm": 3, "lstm": 3},
                  {"image": 8, "flat": 16, "binary": 16, "text": 4, "mlm": 4, "lstm": 4}, 200, 100, 2, 2),
    "cpu": Scale("cpu", {"image": 150, "flat": 250, "binary": 250, "text": 200, "mlm": 200, "lstm": 120},
                 {"image": 32, "flat": 64, "binary": 64, "text": 16, "mlm": 16, "lstm": 16}, 12000, 2000, 6, 20),
    # the cpu scale trained 4x longer (same batches, data and seeds): does a CPU-scale verdict survive longer training?
    "cpu-long": Scale("cpu-long", {"image": 600, "flat": 1000, "binary": 1000, "text": 800, "mlm": 800, "lstm": 480},
                      {"image": 32, "flat": 64, "binary": 64, "text": 16, "mlm": 16, "lstm": 16}, 12000, 2000, 6, 20),
    "gpu": Scale("gpu", {"image": 3000, "flat": 3000, "binary": 3000, "text": 3000, "mlm": 3000, "lstm": 2000},
                 {"image": 128, "flat": 128, "binary": 128, "text": 64, "mlm": 64, "lstm": 64}, None, None, 10, 200),
}


@dataclass(frozen=True)
class RefExperiment:
    name: str
    rules: tuple[str, ...]
    title: str
    claim: str
    family: str  # seednet | mlp | invres | lm | lstm
    task: str  # image | flat | binary | text | lstm
    anti: dict
    fix: dict
    logic: str = "helps"  # helps | noninferior | faster
    min_effect: float = 0.01  # minimum effect of interest; the margin for noninferior
    loss: str = "ce"  # ce | keras_probs (model outputs probabilities, loss -log(clip(p, 1e-7)))
    anti_loss: str | None = None  # a different loss for the anti-pattern arm (AL025, AL106)
    lint: str = ""  # why archlint's torch frontend cannot check this pair ("" = it can)
    gpu_only: str = ""  # why a CPU measurement would not test the claim


def _e(*args, **kw) -> RefExperiment:
    return RefExperiment(*args, **kw)


EXPERIMENTS: list[RefExperiment] = [
    # ---- convolution rules: the reduced seed network on 16x16 CIFAR-10 -------------------------
    _e("al001-dropout-conv", ("AL001",), "Dropout 0.3 between the convolutions vs none",
       "Element-wise dropout between convolutions lowers test accuracy.",
       "seednet", "image", {"dropout": 0.3}, {}),
    _e("al002-bn-placement", ("AL002",), "BatchNorm after the activation vs before it",
       "BatchNorm between the convolution and its activation beats BatchNorm after the activation.",
       "seednet", "image", {"bn": "after"}, {"bn": "before"}),
    _e("al003-head", ("AL003", "AL018"), "Flatten-Dense(256) head vs global average pooling",
       "A global-average-pooling head is as accurate as a flatten + dense head that holds most of the "
       "parameters (non-inferior within the margin), with far fewer parameters.",
       "seednet", "image", {"blocks": 2, "head_units": 256}, {"blocks": 2, "head": "gap"},
       "noninferior", 0.02),
    _e("al004-dropout-bn", ("AL004",), "Dropout 0.2 before every BatchNorm vs dropout only after the last one",
       "Dropout feeding batch normalisation lowers test accuracy (variance shift) against the same network "
       "with dropout only after the last normalisation.",
       "seednet", "image", {"bn": "before", "dropout": 0.2}, {"bn": "before"}),
    _e("al005-bias-bn", ("AL005",), "Convolution bias before BatchNorm vs no bias",
       "Dropping the bias of a convolution that feeds BatchNorm loses nothing (non-inferior) and saves its "
       "parameters.",
       "seednet", "image", {"bn": "before"}, {"bn": "before", "bias": False}, "noninferior", 0.01),
    _e("al012-no-norm", ("AL012",), "8 convolutions without normalisation vs with BatchNorm",
       "A deep convolutional stack without normalisation reaches lower test accuracy than the same stack with "
       "BatchNorm.",
       "seednet", "image", {}, {"bn": "before"}),
    _e("al014-kernel-map", ("AL014",), "3x3 convolutions on the final 2x2 map vs 1x1",
       "A window larger than its feature map buys nothing over a 1x1 convolution there (non-inferior).",
       "seednet", "image", {}, {"last_kernel": 1}, "noninferior", 0.02),
    _e("al015-imagenet-stem", ("AL015",), "ImageNet stem (7x7/2 conv + 3x3/2 pool) on 16x16 vs a 3x3 stem",
       "An ImageNet stem on a small input lowers test accuracy against a stride-1 3x3 stem.",
       "seednet", "image", {"stem": "imagenet", "blocks": 2}, {"blocks": 2}),
    _e("al016-channels", ("AL016",), "16 channels at every resolution vs doubling at each downsampling",
       "Growing the channels where the map shrinks raises test accuracy.",
       "seednet", "image", {"width": 16, "wide": 32}, {"width": 16, "wide": 128, "grow": True}),
    _e("al017-narrow-residual", ("AL017",), "ReLU after the narrow projection of inverted residuals vs linear",
       "A ReLU on the narrow (4x reduced) output of an inverted residual block lowers test accuracy against a "
       "linear bottleneck.",
       "invres", "image", {"relu_out": True}, {"relu_out": False}),
    _e("al022-large-kernel", ("AL022",), "7x7 convolutions past the stem vs 3x3",
       "7x7 convolutions deep in the network are no more accurate than 3x3 ones (non-inferior) and cost "
       "more parameters and compute.",
       "seednet", "image", {"big_kernel_at": (2, 3)}, {}, "noninferior", 0.02),
    _e("al023-stride-kernel", ("AL023",), "1x1 stride-2 downsampling convolutions vs 3x3 stride-2",
       "A strided 1x1 convolution that skips three of four inputs lowers test accuracy against a 3x3 stride-2 "
       "convolution.",
       "seednet", "image", {"downsample": "stride1x1"}, {"downsample": "stride3x3"}),
    _e("al024-double-norm", ("AL024",), "Two BatchNorms in a row vs one",
       "A second normalisation directly after the first buys nothing (non-inferior).",
       "seednet", "image", {"bn": "before", "double_bn": True}, {"bn": "before"}, "noninferior", 0.01),
    _e("al030-kernel-grows", ("AL030",), "Kernels 3-3-5-5-3-3 vs 3x3 throughout",
       "A kernel that grows with depth is no more accurate than 3x3 throughout (non-inferior).",
       "seednet", "image", {"kernels": (3, 3, 5, 5, 3, 3)}, {}, "noninferior", 0.02),
    _e("al032-no-downsampling", ("AL032",), "No pooling before the dense head vs max-pooling",
       "Convolutions that reach the dense head without downsampling give lower test accuracy than the same "
       "network with pooling.",
       "seednet", "image", {"blocks": 2, "downsample": "none"}, {"blocks": 2}),
    _e("al033-dropout-maxpool", ("AL033",), "Dropout 0.25 before the last 2x2 max-pool vs after it",
       "Dropout placed after the max pooling (on the pooled map, where the rate means what it says) gives higher "
       "test accuracy than the same dropout before it (NeuraLint f018: \"more effective\").",
       "seednet", "image", {"blocks": 2, "pool_dropout": "before"}, {"blocks": 2, "pool_dropout": "after"}),
    # ---- dense, loss and initialiser rules: an MLP on 8x8x3 CIFAR-10 ----------------------------
    _e("al006-dropout-rate", ("AL006",), "Dropout 0.8 on the hidden layers vs 0.5",
       "A dropout rate above 0.5 on hidden layers lowers test accuracy against 0.5.",
       "mlp", "flat", {"hidden": (512, 512), "dropout": 0.8}, {"hidden": (512, 512), "dropout": 0.5}),
    _e("al007-dropout-logits", ("AL007",), "Dropout 0.3 on the output logits vs none",
       "Dropout on the network's output lowers test accuracy.",
       "mlp", "flat", {"logit_dropout": 0.3}, {}),
    _e("al008-relu-softmax", ("AL008",), "ReLU then softmax on the output vs softmax",
       "A ReLU before the output softmax (two activations in a row) lowers test accuracy.",
       "mlp", "flat", {"out_act": "relu+softmax"}, {"out_act": "softmax"}, loss="keras_probs"),
    _e("al009-stacked-linear", ("AL009",), "Dense-Dense with no activation between vs one Dense",
       "A second weight layer with no nonlinearity between adds parameters and no accuracy (the fix, one layer, "
       "is non-inferior).",
       "mlp", "flat", {"linear_pair": True}, {}, "noninferior", 0.01),
    _e("al010-saturating", ("AL010",), "6 sigmoid layers without normalisation vs with BatchNorm",
       "A deep sigmoid stack without normalisation reaches lower test accuracy than with BatchNorm.",
       "mlp", "flat", {"hidden": (128,) * 6, "act": "sigmoid"}, {"hidden": (128,) * 6, "act": "sigmoid", "norm": True}),
    _e("al011-softmax-hidden", ("AL011",), "Softmax as a hidden activation vs ReLU",
       "A softmax in a hidden layer lowers test accuracy against ReLU.",
       "mlp", "flat", {"acts": ("softmax", "relu")}, {"acts": ("relu", "relu")}),
    _e("al013-deep-plain", ("AL013",), "24 plain ReLU layers vs the same with skip connections",
       "A very deep plain stack reaches lower test accuracy than the same stack with skip connections.",
       "mlp", "flat", {"hidden": (64,) * 24, "init": "he"}, {"hidden": (64,) * 24, "init": "he", "residual": True}),
    _e("al025-loss-output", ("AL025",), "Cross-entropy-from-logits fed softmax probabilities vs logits",
       "A loss that does not match the output (here: a from-logits cross entropy on a softmax output) lowers "
       "test accuracy.",
       "mlp", "flat", {"out_act": "softmax"}, {}, lint="AL025 reads the loss from a Keras training "
       "configuration; a torch module has none, so the pair reproduces the Keras fault in torch"),
    _e("al026-one-unit-softmax", ("AL026",), "Binary classifier: Dense(1) + softmax vs Dense(1) + sigmoid",
       "A softmax over one unit outputs 1 whatever the input, so the network does not learn.",
       "mlp", "binary", {"out_units": 1, "out_act": "softmax"}, {"out_units": 1, "out_act": "sigmoid"},
       loss="keras_probs"),
    _e("al028-zero-init", ("AL028",), "Hidden kernels initialised to zeros vs Glorot",
       "Zero-initialised hidden kernels keep the units identical and lower test accuracy.",
       "mlp", "flat", {"init": "zeros"}, {}, lint="AL028 and AL029 read the initialiser a Keras layer declares; a torch module's weights carry no initialiser name, so the pair reproduces the Keras configuration in torch"),
    _e("al029-init-scale", ("AL029",), "RandomNormal(0.01) kernels through 6 ReLU layers vs He",
       "A fixed small-scale initialiser through a deep stack lowers test accuracy against a fan-in-scaled one.",
       "mlp", "flat", {"hidden": (256,) * 6, "init": "normal", "init_std": 0.01}, {"hidden": (256,) * 6, "init": "he"},
       lint="AL028 and AL029 read the initialiser a Keras layer declares; a torch module's weights carry no initialiser name, so the pair reproduces the Keras configuration in torch"),
    _e("al031-widening", ("AL031",), "Hidden widths 64-128-256 vs 256-128-64",
       "Hidden layers that widen toward the output are less accurate than the same widths narrowing.",
       "mlp", "flat", {"hidden": (64, 128, 256)}, {"hidden": (256, 128, 64)}),
    _e("al106-log-softmax", ("AL106",), "log(softmax(x)) vs log_softmax(x) as the training loss, float16 forward",
       "Taking the log of a softmax underflows (in float16 much sooner) and lowers test accuracy or produces "
       "NaN, where log_softmax does not.",
       "mlp", "flat", {"out_act": "softmax"}, {"out_act": "logsoftmax"}, loss="log_probs", anti_loss="log_of_probs",
       lint="the pair's log(softmax) sits in the loss, outside the module; AL106 sees it when it is inside"),
    # ---- transformer and recurrent rules: character-level language models -----------------------
    _e("al101-final-norm", ("AL101",), "Pre-norm transformer without a final LayerNorm vs with it",
       "A pre-norm stack without a final normalisation reaches lower next-character accuracy.",
       "lm", "text", {"final_norm": False}, {}),
    _e("al102-unscaled", ("AL102",), "Attention scores not scaled by 1/sqrt(head_dim) vs scaled",
       "Unscaled attention scores lower next-character accuracy.",
       "lm", "text", {"scaled": False}, {}),
    _e("al103-no-positions", ("AL103",), "Bidirectional transformer without positions vs learned positions",
       "A bidirectional transformer without positional information (a bag of tokens) predicts masked characters "
       "less accurately than with learned positions.",
       "lm", "mlm", {"positions": False, "causal": False}, {"causal": False}),
    _e("al108-rnn-dropout", ("AL108",), "LSTM with a fresh dropout mask per step vs one mask per sequence",
       "Variational (per-sequence) dropout between stacked LSTM layers beats a fresh mask at every step.",
       "lstm", "lstm", {"variational": False}, {"variational": True}),
    # ---- deployment rules: inference throughput ------------------------------------------------
    _e("al019-fold-bn", ("AL019",), "BatchNorm after the activation (cannot fold) vs folded into the convolution",
       "A batch normalisation that cannot be folded into its convolution costs inference throughput.",
       "seednet", "image", {"bn": "after"}, {"bn": "before", "fold": True}, "faster", 0.02),
    _e("al021-dangling", ("AL021",), "A computed branch nobody reads vs the same network without it",
       "A dangling branch costs inference throughput and changes no output.",
       "seednet", "image", {"dangling": True}, {}, "faster", 0.02),
    _e("al020-channels-8", ("AL020",), "Dense widths 1020 vs 1024 at float16",
       "Widths that are not multiples of 8 lose tensor-core throughput.",
       "mlp", "flat", {"hidden": (1020, 1020)}, {"hidden": (1024, 1024)}, "faster", 0.02,
       gpu_only="tensor cores: a CPU timing does not test the claim"),
    _e("al104-head-dim", ("AL104",), "Attention head size 36 vs 32 at float16",
       "An attention head size that is not a multiple of 8 loses tensor-core throughput.",
       "lm", "text", {"d": 72, "heads": 2}, {"d": 64, "heads": 2}, "faster", 0.02,
       lint="AL104 reads the head size of a recognised attention module (nn.MultiheadAttention, SDPA); this "
       "hand-written attention does not carry it", gpu_only="tensor cores: a CPU timing does not test the claim"),
    _e("al105-vocab", ("AL105",), "Output vocabulary 50257 vs 50304 at float16",
       "A vocabulary that is not a multiple of 64 loses throughput in the output projection.",
       "lm", "text", {"vocab": 50257}, {"vocab": 50304}, "faster", 0.02,
       gpu_only="tensor cores: a CPU timing does not test the claim"),
]

_M01 = ("BN momentum 0.1 (round 2: at 150 steps the seed network's Keras momentum 0.99 leaves the running "
        "statistics 22 % at their initial values, which penalises every BatchNorm arm at test time)")
EXPERIMENTS += [
    _e("al002-bn-placement-m01", ("AL002",), "BatchNorm after the activation vs before it, " + _M01,
       "BatchNorm between the convolution and its activation beats BatchNorm after the activation.",
       "seednet", "image", {"bn": "after", "bn_momentum": 0.1}, {"bn": "before", "bn_momentum": 0.1}),
    _e("al005-bias-bn-m01", ("AL005",), "Convolution bias before BatchNorm vs no bias, " + _M01,
       "Dropping the bias of a convolution that feeds BatchNorm loses nothing (non-inferior) and saves its "
       "parameters.",
       "seednet", "image", {"bn": "before", "bn_momentum": 0.1}, {"bn": "before", "bias": False, "bn_momentum": 0.1},
       "noninferior", 0.01),
    _e("al012-no-norm-m01", ("AL012",), "8 convolutions without normalisation vs with BatchNorm, " + _M01,
       "A deep convolutional stack without normalisation reaches lower test accuracy than the same stack with "
       "BatchNorm.",
       "seednet", "image", {}, {"bn": "before", "bn_momentum": 0.1}),
    _e("al024-double-norm-m01", ("AL024",), "Two BatchNorms in a row vs one, " + _M01,
       "A second normalisation directly after the first buys nothing (non-inferior).",
       "seednet", "image", {"bn": "before", "double_bn": True, "bn_momentum": 0.1}, {"bn": "before", "bn_momentum": 0.1},
       "noninferior", 0.01),
    _e("al017-narrow-residual-m01", ("AL017",), "ReLU after the narrow projection of inverted residuals vs linear, "
       + _M01.replace("the seed network's", "the network's"),
       "A ReLU on the narrow (4x reduced) output of an inverted residual block lowers test accuracy against a "
       "linear bottleneck.",
       "invres", "image", {"relu_out": True, "bn_momentum": 0.1}, {"relu_out": False, "bn_momentum": 0.1}),
    _e("al013-deep-plain-bn", ("AL013",), "24 ReLU layers with BatchNorm, plain vs with skip connections (round 2: "
       "round 1's residual arm had no normalisation, so its activations grew with depth; ResNets pair skips "
       "with BatchNorm)",
       "A very deep plain stack reaches lower test accuracy than the same stack with skip connections.",
       "mlp", "flat", {"hidden": (64,) * 24, "init": "he", "norm": True},
       {"hidden": (64,) * 24, "init": "he", "norm": True, "residual": True}),
]
#: experiments added after the first CPU run, and why (a design flaw found in round 1, whatever its sign)
ROUND2 = {e.name: e.title for e in EXPERIMENTS if "round 2" in e.title}

#: rules with no reference experiment, and why
NOT_MEASURABLE = {
    "AL027": "a dense layer on an unflattened map makes a model that outputs one prediction per pixel; what it "
             "learns depends on how the user's loss broadcasts an image label over the map (Keras raises for "
             "some losses and broadcasts for others), so there is no single anti-pattern network to train",
    "AL107": "a float16 overflow of the mask constant only matters for rows that are masked out entirely "
             "(padding); under a causal mask alone every row keeps its diagonal and -inf is harmless. The "
             "consequence (NaN in padded batches) is a property of float16 arithmetic, shown by the rule's "
             "tests, not an effect to estimate with seeds",
    "AL900": "a statement about an exported file (layers another rule needs are hidden), not about a network "
             "that trains or runs differently",
}


def by_name(name: str) -> RefExperiment:
    for e in EXPERIMENTS:
        if e.name == name:
            return e
    raise KeyError(name)


#: cheapest families first, so an interrupted CPU run has finished the most experiments
_COST_ORDER = {"mlp": 0, "seednet": 1, "invres": 2, "lm": 3, "lstm": 4}


def select(rules: list[str] | None = None, include_gpu_only: bool = False) -> list[RefExperiment]:
    wanted = {r.upper() for r in rules} if rules else None
    out = []
    for e in sorted(EXPERIMENTS, key=lambda e: (e.logic == "faster" and e.family != "seednet",
                                                _COST_ORDER[e.family] if e.logic != "faster" else 0.5)):
        if wanted is not None and not wanted & set(e.rules):
            continue
        if e.gpu_only and not include_gpu_only and wanted is None:
            continue
        out.append(e)
    if wanted is not None:
        known = {r for e in EXPERIMENTS for r in e.rules}
        unknown = wanted - known
        if unknown:
            raise ValueError(f"no reference experiment for {', '.join(sorted(unknown))}"
                             + "".join(f"; {c}: {NOT_MEASURABLE[c]}" for c in sorted(unknown) if c in NOT_MEASURABLE))
    return out


# ----------------------------------------------------------------------------------------------
# building

def build(exp: RefExperiment, arm: str, task, seed: int):
    """The network of one arm (``anti`` or ``fix``), initialised from ``seed``."""
    import torch

    from . import refmodels as rm

    kw = dict(exp.anti if arm == "anti" else exp.fix)
    torch.manual_seed(seed)
    if exp.family == "seednet":
        fold = kw.pop("fold", False)
        dangling = kw.pop("dangling", False)
        net = rm.seednet(num_classes=task.num_classes, init_seed=seed, **kw)
        if dangling:
            net = rm.WithDangling(net, rm.seednet(num_classes=task.num_classes, init_seed=seed + 1))
        if fold:
            net = rm.fold_batchnorm(net)
        return net
    if exp.family == "invres":
        return rm.invres(num_classes=task.num_classes, init_seed=seed, **kw)
    if exp.family == "mlp":
        return rm.mlp(in_features=task.input_shape[0], num_classes=task.num_classes, init_seed=seed, **kw)
    if exp.family == "lm":
        vocab = kw.pop("vocab", task.num_classes + (1 if task.kind == "mlm" else 0))  # + the mask token
        return rm.TinyLM(vocab, init_seed=seed, ctx=task.input_shape[0], **kw)
    if exp.family == "lstm":
        return rm.CharLSTM(task.num_classes, init_seed=seed, **kw)
    raise ValueError(exp.family)


def params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def lint_targets(exp: RefExperiment, task) -> dict:
    """Lint both networks of the pair with only the experiment's rules on: the anti-pattern must
    trigger them and the fix must not."""
    if exp.lint:
        return {"checked": False, "why": exp.lint}
    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.frontends.torch import from_module

    out: dict = {"checked": True}
    for arm in ("anti", "fix"):
        net = build(exp, arm, task, 0)
        if exp.family == "seednet" and (exp.anti if arm == "anti" else exp.fix).get("fold"):
            net = build(exp, arm, task, 0)
        shape = (2, *task.input_shape)
        if task.kind in ("text", "mlm"):
            import torch

            from archlint.frontends.torch import Example
            ex = Example((torch.randint(0, task.num_classes, shape),), origin="user")
            graph = from_module(net, example=ex)
        else:
            graph = from_module(net, shape)
        found = check_graph(graph, Config(select=list(exp.rules)))
        out[arm] = sorted({f.code for f in found if f.code in exp.rules})
    out["ok"] = out["anti"] == sorted(exp.rules) and not out["fix"]
    return out


# ----------------------------------------------------------------------------------------------
# training one arm

def _batches(task, seed: int, steps: int, batch: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    if task.kind in ("text", "mlm"):
        ctx = task.input_shape[0]
        return rng.integers(0, len(task.x_train) - ctx - 1, size=(steps, batch))
    n = len(task.x_train)
    order = []
    while len(order) < steps * batch:
        order.extend(rng.permutation(n).tolist())
    return np.asarray(order[: steps * batch]).reshape(steps, batch)


def _xy(task, idx, device):
    import numpy as np
    import torch

    if task.kind == "mlm":  # masks drawn from the window offsets: the same batch, the same masks
        from .refdata import mask_batch

        ctx = task.input_shape[0]
        seq = task.x_train[idx[:, None] + np.arange(ctx)[None, :]]
        x, y = mask_batch(seq, np.random.default_rng(int(idx.sum())), task.num_classes)
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    if task.kind == "text":
        ctx = task.input_shape[0]
        win = idx[:, None] + np.arange(ctx + 1)[None, :]
        seq = torch.from_numpy(task.x_train[win]).to(device)
        return seq[:, :-1], seq[:, 1:]
    return (torch.from_numpy(task.x_train[idx]).to(device), torch.from_numpy(task.y_train[idx]).to(device))


def loss_fn(kind: str):
    import torch
    import torch.nn.functional as F

    def ce(out, y):
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))

    def keras_probs(out, y):  # the model outputs probabilities; Keras clips them at 1e-7
        out = out.float()
        if out.shape[-1] == 1:  # binary cross entropy on one unit
            p = out.reshape(-1).clamp(1e-7, 1 - 1e-7)
            yf = y.float().reshape(-1)
            return -(yf * p.log() + (1 - yf) * (1 - p).log()).mean()
        p = out.reshape(-1, out.shape[-1]).clamp(1e-7, 1.0)
        return F.nll_loss(p.log(), y.reshape(-1))

    def log_probs(out, y):  # the model outputs log-probabilities (log_softmax)
        return F.nll_loss(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))

    def log_of_probs(out, y):  # the model outputs probabilities and the loss takes their log: log(softmax)
        return F.nll_loss(out.log().reshape(-1, out.shape[-1]).float(), y.reshape(-1))

    return {"ce": ce, "keras_probs": keras_probs, "log_probs": log_probs, "log_of_probs": log_of_probs}[kind]


def predict(out, probs: bool):
    """Class predictions from logits / log-probabilities / probabilities (one unit: threshold)."""
    if out.shape[-1] == 1:
        return (out.reshape(-1) > (0.5 if probs else 0.0)).long()
    return out.argmax(-1)


def make_optimizer(exp: RefExperiment, net):
    import torch

    if exp.family in ("seednet", "invres"):  # the seed experiment's optimiser
        return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    if exp.name.startswith("al106"):  # plain float16 weights: SGD (Adam's eps underflows in float16)
        return torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    return torch.optim.Adam(net.parameters(), lr=2e-3 if exp.family in ("lm", "lstm") else 1e-3)


def evaluate(net, task, device, lf, probs: bool, dtype=None, eval_batch: int = 500) -> tuple[float, float]:
    """Test accuracy and mean test loss (the arm's own training loss; inf/NaN kept as NaN)."""
    import torch

    net.eval()
    correct = total = 0
    loss_sum = 0.0
    with torch.no_grad():
        for i in range(0, len(task.x_test), eval_batch):
            x = torch.from_numpy(task.x_test[i:i + eval_batch]).to(device)
            y = torch.from_numpy(task.y_test[i:i + eval_batch]).to(device)
            if dtype is not None and x.is_floating_point():
                x = x.to(dtype)
            out = net(x)
            keep = y.reshape(-1) >= 0  # masked-character task: only the masked positions count
            correct += int(((predict(out.float(), probs).reshape(-1) == y.reshape(-1)) & keep).sum())
            n = int(keep.sum())
            total += n
            loss_sum += float(lf(out, y)) * n
    net.train()
    loss = loss_sum / max(total, 1)
    return correct / max(total, 1), (loss if math.isfinite(loss) else math.nan)


def train_arm(exp: RefExperiment, arm: str, task, seed: int, scale: Scale, device="cpu") -> dict:
    """Train one network of the pair and return its record (metric, loss, curve, symptoms)."""
    import torch

    from . import symptoms as sym

    steps, batch = scale.steps[exp.task], scale.batch[exp.task]
    net = build(exp, arm, task, seed).to(device)
    opt = make_optimizer(exp, net)
    kind = exp.anti_loss if (arm == "anti" and exp.anti_loss) else exp.loss
    lf = loss_fn(kind)
    dtype = torch.float16 if exp.name.startswith("al106") else None
    if dtype is not None:
        net = net.to(dtype)
    order = _batches(task, seed, steps, batch)
    probe_idx = order[0]
    xp, yp = _xy(task, probe_idx, device)
    if dtype is not None:
        xp = xp.to(dtype)

    def probe_loss():
        return lf(net(xp), yp)

    probes = [sym.probe(net, probe_loss)]
    torch.manual_seed(10_000 + seed)  # the same dropout stream in both arms
    losses: list[float] = []
    curve: list[tuple[int, float]] = []
    t0 = time.process_time()
    w0 = time.perf_counter()
    every = max(1, steps // 20)
    for step in range(steps):
        x, y = _xy(task, order[step], device)
        if dtype is not None:
            x = x.to(dtype)
        loss = lf(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        v = float(loss.detach())
        losses.append(v)
        if step % every == 0 or step == steps - 1:
            curve.append((step, v))
    probes.append(sym.probe(net, probe_loss))
    acc, test_loss = evaluate(net, task, device, lf, kind in ("keras_probs", "log_of_probs"), dtype)
    nonfinite = sum(not math.isfinite(v) for v in losses)
    return {"experiment": exp.name, "arm": arm, "seed": seed, "metric": acc, "test_loss": test_loss,
            "final_train_loss": losses[-1] if losses else None, "nonfinite_steps": nonfinite,
            "curve": curve, "params": params(net), "steps": steps, "batch": batch,
            "cpu_s": time.process_time() - t0, "wall_s": time.perf_counter() - w0,
            "symptoms": sym.diagnose(probes, losses)}


def time_arm_pair(exp: RefExperiment, task, seed: int, scale: Scale, device="cpu") -> list[dict]:
    """One timing trial of a ``faster`` experiment: both arms, interleaved, in inference mode;
    the metric is log(images per second) so the paired difference is the log speed ratio."""
    import torch

    nets = {arm: build(exp, arm, task, seed).to(device).eval() for arm in ("anti", "fix")}
    bsz = 256 if task.kind not in ("text", "mlm") else 32
    if task.kind in ("text", "mlm"):
        x = torch.randint(0, task.num_classes, (bsz, task.input_shape[0]), device=device)
    else:
        x = torch.randn(bsz, *task.input_shape, device=device)
    dt = torch.float16 if (device != "cpu" and exp.gpu_only) else None
    if dt is not None:
        nets = {k: v.to(dt) for k, v in nets.items()}
        if x.is_floating_point():
            x = x.to(dt)
    out = []
    with torch.inference_mode():
        for arm in ("anti", "fix"):
            nets[arm](x)  # warm-up
        times = {"anti": [], "fix": []}
        order = ("anti", "fix") if seed % 2 == 0 else ("fix", "anti")
        for _ in range(scale.timing_iters):
            for arm in order:
                if device != "cpu":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                nets[arm](x)
                if device != "cpu":
                    torch.cuda.synchronize()
                times[arm].append(time.perf_counter() - t)
    for arm in ("anti", "fix"):
        med = sorted(times[arm])[len(times[arm]) // 2]
        out.append({"experiment": exp.name, "arm": arm, "seed": seed, "metric": math.log(bsz / med),
                    "images_per_s": bsz / med, "params": params(nets[arm]), "symptoms": []})
    return out


# ----------------------------------------------------------------------------------------------
# analysis

def analyse(exp: RefExperiment, runs: list[dict], seeds: list[int]) -> dict:
    """Paired statistics and the verdict of one experiment (fix - anti-pattern)."""
    by = {(r["arm"], r["seed"]): {k: (math.nan if v is None and k in ("metric", "test_loss") else v)
                                  for k, v in r.items()} for r in runs if r["experiment"] == exp.name}
    done = [s for s in seeds if ("anti", s) in by and ("fix", s) in by]
    fix = [by[("fix", s)]["metric"] for s in done]
    anti = [by[("anti", s)]["metric"] for s in done]
    c = stats.paired(fix, anti)
    res: dict = {"experiment": exp.name, "rules": list(exp.rules), "title": exp.title, "claim": exp.claim,
                 "logic": exp.logic, "min_effect": exp.min_effect, "n": len(done), "seeds": done,
                 "fix_mean": stats.summarize(fix).mean if fix else None,
                 "anti_mean": stats.summarize(anti).mean if anti else None,
                 "fix": stats.summarize(fix).to_dict() if fix else None,
                 "anti": stats.summarize(anti).to_dict() if anti else None,
                 "paired": c.to_dict(), "diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high, "p": c.p,
                 "detectable": c.detectable, "min_p": c.min_p}
    if not done:
        res["verdict"] = "not run"
    elif exp.logic == "noninferior":
        v, p_t, p_perm = stats.noninferiority_verdict(fix, anti, exp.min_effect) if len(done) >= 2 else \
            ("inconclusive", None, math.nan)
        res.update(verdict=v, p_noninferior=p_perm, p_noninferior_t=p_t)
    else:
        res["verdict"] = stats.directional_verdict(c, +1, exp.min_effect)
    if exp.logic == "faster":
        res["metric"] = "log inference throughput (images/s)"
        res["speedup"] = math.exp(c.diff) if done and math.isfinite(c.diff) else None
        res["anti_images_per_s"] = _mean([by[("anti", s)]["images_per_s"] for s in done])
        res["fix_images_per_s"] = _mean([by[("fix", s)]["images_per_s"] for s in done])
    else:
        res["metric"] = {"text": "next-character test accuracy", "lstm": "next-character test accuracy",
                         "mlm": "masked-character test accuracy"}.get(exp.task, "test accuracy")
        res["anti_test_loss"] = _mean([by[("anti", s)]["test_loss"] for s in done])
        res["fix_test_loss"] = _mean([by[("fix", s)]["test_loss"] for s in done])
        res["loss_paired"] = stats.paired([by[("fix", s)]["test_loss"] for s in done],
                                          [by[("anti", s)]["test_loss"] for s in done]).to_dict() if done else None
    if done:
        res["anti_params"] = by[("anti", done[0])]["params"]
        res["fix_params"] = by[("fix", done[0])]["params"]
        syms: dict = {}
        for arm in ("anti", "fix"):
            counts: dict = {}
            for s in done:
                for name in dict.fromkeys(x["symptom"] for x in by[(arm, s)]["symptoms"]):
                    counts[name] = counts.get(name, 0) + 1
            syms[arm] = counts
        res["symptoms"] = syms  # symptom -> number of seeds that showed it
    return res


def _mean(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else None


# ----------------------------------------------------------------------------------------------
# the runner

def settings_hash(scale: Scale, task_ids: dict, device: str) -> str:
    """What decides a run's numbers: the model, data and symptom code, the training functions of
    this module, the scale, the data's identity, the device and the torch version (reports and the
    command line are left out, so changing them keeps finished runs)."""
    import inspect

    import torch

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("refmodels.py", "refdata.py", "symptoms.py"):
        h.update((here / name).read_bytes())
    for fn in (build, _batches, _xy, loss_fn, predict, make_optimizer, evaluate, train_arm, time_arm_pair):
        h.update(inspect.getsource(fn).encode())
    h.update(json.dumps([asdict(scale), task_ids, device, torch.__version__], sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


def unit_file(e: RefExperiment, seed: int) -> str:
    """One (experiment, seed) unit's file: named by a hash of the experiment's definition too, so an
    edited pair is trained again."""
    d = hashlib.sha256(json.dumps(asdict(e), sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{e.name}-{d}-{seed}.json"


def load_tasks(needed: set[str], scale: Scale, data: str | None):
    from . import refdata

    tasks = {}
    if needed & {"image", "flat", "binary"}:
        imgs = refdata.load_images(data, n_train=scale.n_train, n_test=scale.n_test)
        if "image" in needed:
            tasks["image"] = refdata.image_task(imgs)
        if "flat" in needed:
            tasks["flat"] = refdata.flat_task(imgs)
        if "binary" in needed:
            tasks["binary"] = refdata.flat_task(imgs, binary=True)
    if needed & {"text", "lstm", "mlm"}:
        t = refdata.text_task()
        tasks["text"] = tasks["lstm"] = t
        tasks["mlm"] = refdata.mlm_task(t)
    return tasks


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(exps: list[RefExperiment], *, scale: Scale, seeds: int, out: Path, device: str = "cpu",
        data: str | None = None, yes: bool = False, lint: bool = True, log=_log,
        shard: tuple[int, int] | None = None, targets_file: Path | None = None,
        analyse_only: bool = False) -> dict | None:
    """Train every pending (experiment, seed) unit, then analyse and write ``results.json``,
    ``results.md``, ``evidence.json`` and ``effects.png`` in ``out``. Each finished unit (both arms
    of one seed) is its own file under ``out/runs/<settings hash>/``: a rerun resumes. With
    ``shard=(i, k)`` only every k-th unit from the i-th is trained and nothing is analysed (the
    parallel workers of ``--workers``)."""
    import torch

    from .provenance import code_version, device_info

    t_start = time.perf_counter()
    tasks = load_tasks({e.task for e in exps}, scale, data)
    task_ids = {k: {"name": t.name, "sha256": t.identity.get("sha256"), "n_train": len(t.x_train),
                    "n_test": len(t.x_test)} for k, t in tasks.items()}
    h = settings_hash(scale, task_ids, "cpu" if device == "cpu" else torch.cuda.get_device_name(device))
    run_dir = Path(out) / "runs" / h
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_list = list(range(seeds))
    units = [(e, s) for e in exps for s in seed_list]
    if shard is not None:
        units = units[shard[0]::shard[1]]
    pending = [(e, s) for e, s in units if not (run_dir / unit_file(e, s)).is_file()]
    if analyse_only:
        if pending:
            log(f"note: {len(pending)} of {len(units)} (experiment, seed) units were not trained; they are "
                "reported as not run")
        units = [u for u in units if u not in pending]
        pending = []
    # plan: time one step of the first pending training experiment
    per_step = {}
    for e in ([] if analyse_only else exps):
        if e.logic != "faster" and e.task not in per_step:
            net = build(e, "fix", tasks[e.task], 0)
            opt = make_optimizer(e, net)
            order = _batches(tasks[e.task], 0, 3, scale.batch[e.task])
            t = time.process_time()
            for k in range(3):
                x, y = _xy(tasks[e.task], order[k], device)
                loss = loss_fn(e.loss)(net.to(device)(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            per_step[e.task] = (time.process_time() - t) / 3
    projected = sum(2 * scale.steps[e.task] * per_step.get(e.task, 0.0) * 1.15 + (5.0 if e.logic == "faster" else 0)
                    for e, _ in pending)
    log(f"plan: {len(exps)} reference experiments x {seeds} seeds = {2 * len(units)} runs "
        f"({2 * (len(units) - len(pending))} already finished) at scale {scale.name!r} on {device} "
        f"({torch.get_num_threads()} torch threads)")
    log(f"plan: projected {fmt_duration(projected)} of training (timed warm-up steps per task: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per_step.items()) + ")")
    if device == "cpu" and projected > CPU_LIMIT_S and not yes and shard is None:
        raise OutputError(f"projected {fmt_duration(projected)} on CPU, more than {fmt_duration(CPU_LIMIT_S)}: "
                          "pass --yes to run it anyway, or fewer --seeds / --rule")
    targets = json.loads(Path(targets_file).read_text()) if targets_file else {}
    if lint and shard is None and not targets_file:
        for e in exps:
            try:
                targets[e.name] = lint_targets(e, tasks[e.task])
            except Exception as err:  # noqa: BLE001 - a capture failure is recorded, not fatal
                targets[e.name] = {"checked": False, "why": f"capture failed: {type(err).__name__}: {err}"}
            tg = targets[e.name]
            if tg.get("checked") and not tg.get("ok"):
                log(f"warning: {e.name}: the pair does not isolate {', '.join(e.rules)} "
                    f"(anti-pattern: {tg.get('anti')}, fix: {tg.get('fix')})")
    runs: list[dict] = []
    done_units = 0
    t_train = time.perf_counter()
    for e, s in units:
        path = run_dir / unit_file(e, s)
        if path.is_file():
            runs.extend(json.loads(path.read_text())["runs"])
            continue
        torch.set_num_threads(torch.get_num_threads())
        task = tasks[e.task]
        if e.logic == "faster":
            pair = time_arm_pair(e, task, s, scale, device)
        else:
            pair = [train_arm(e, arm, task, s, scale, device) for arm in ("anti", "fix")]
        write_json_atomic(path, {"settings_hash": h, "runs": pair})
        runs.extend(pair)
        done_units += 1
        el = time.perf_counter() - t_train
        left = el / done_units * (len(pending) - done_units)
        a, f = pair[0]["metric"], pair[1]["metric"]
        log(f"[{done_units}/{len(pending)}] {e.name} seed {s}: anti-pattern {a:.3f}, fix {f:.3f} "
            f"({'log images/s' if e.logic == 'faster' else 'accuracy'}); about {fmt_duration(left)} left")
    if shard is not None:
        return None
    results = [analyse(e, runs, seed_list) for e in exps]
    for r in results:
        r["targets"] = targets.get(r["experiment"], {"checked": False, "why": "not linted in this run"})
    verdicts: dict = {}
    for e, r in zip(exps, results):
        for code in e.rules:
            verdicts.setdefault(code, {})[e.name] = {
                "claim": e.claim, "logic": e.logic, "min_effect": e.min_effect, "verdict": r["verdict"],
                "detectable": r["detectable"], "n": r["n"]}
    tasks_info = {k: {"name": t.name, "kind": t.kind, **t.identity, "n_train": len(t.x_train),
                      "n_test": int((t.y_test >= 0).sum()) if t.kind in ("text", "mlm") else len(t.x_test),
                      "num_classes": t.num_classes, "chance": t.chance} for k, t in tasks.items()}
    res = {
        "schema": 1, "kind": "reference", "synthetic": False, "reduced": scale.name != "gpu",
        "scale": asdict(scale),
        "settings": {"scale": scale.name, "seeds": seeds, "device": device, "settings_hash": h},
        "provenance": {"code_version": code_version(), "device": device_info(device), "seeds": seed_list,
                       "libraries": {"torch": torch.__version__, "python": sys.version.split()[0]},
                       "tasks": tasks_info, "wall_time_s": time.perf_counter() - t_start,
                       "train_cpu_s": sum(r.get("cpu_s", 0.0) for r in runs),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_dir": str(run_dir)},
        "experiments": results, "verdicts": verdicts, "not_measurable": NOT_MEASURABLE,
        "runs": [{k: v for k, v in r.items() if k != "curve"} | {"curve": r.get("curve", [])} for r in runs],
    }
    out = Path(out)
    write_json_atomic(out / "results.json", res)
    (out / "results.md").write_text(markdown(res), encoding="utf-8")
    write_json_atomic(out / "evidence.json", evidence_entries(res, exps))
    _plot(res, out, log)
    return res


def _fmt(x, signed=True, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def markdown(res: dict) -> str:
    sc = res["scale"]
    lines = [f"# Reference experiments per rule ({res['settings']['scale']} scale, {res['settings']['device']})", "",
             f"{res['settings']['seeds']} paired seeds per experiment; steps per run: "
             + ", ".join(f"{k} {v}" for k, v in sc["steps"].items()) + "; batch: "
             + ", ".join(f"{k} {v}" for k, v in sc["batch"].items()) + ".", "",
             "Effect = fix - anti-pattern of the final test metric, paired by seed; 95 % paired-t interval; "
             "p = max(paired t, exact sign-flip permutation); detectable = smallest effect found with 80 % power. "
             "Verdicts: helps (directional, alpha 0.05), noninferior (the fix is no worse by more than the margin), "
             "faster (inference throughput, log ratio).", "", "## Data", ""]
    for k, t in res["provenance"]["tasks"].items():
        lines.append(f"- `{k}`: {t.get('description', t['name'])}; {t.get('resolution', '')} "
                     f"{t['n_train']:,} training {'characters' if t['kind'] in ('text', 'mlm') else 'examples'}, "
                     f"{t['n_test']:,} test {'characters' if t['kind'] in ('text', 'mlm') else 'examples'}; "
                     f"sha256 {str(t.get('sha256'))[:16]}...")
    lines += ["", "## Results", "",
              "| rules | experiment | anti-pattern | fix | effect (95% CI) | p | detectable | logic | verdict | lint check |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["experiments"]:
        tg = r.get("targets", {})
        lint = ("ok" if tg.get("ok") else f"anti {tg.get('anti')}, fix {tg.get('fix')}") if tg.get("checked") \
            else "not checked"
        if r["logic"] == "faster":
            a, f = _fmt(r.get("anti_images_per_s"), False, 0), _fmt(r.get("fix_images_per_s"), False, 0)
            eff = f"x{_fmt(r.get('speedup'), False, 3)} ({_fmt(r['ci_low'])} to {_fmt(r['ci_high'])} log)"
        else:
            a, f = _fmt(r["anti_mean"], False), _fmt(r["fix_mean"], False)
            eff = f"{_fmt(r['diff'])} ({_fmt(r['ci_low'])} to {_fmt(r['ci_high'])})"
        p = r.get("p_noninferior") if r["logic"] == "noninferior" else r["p"]
        logic = r["logic"] + (f" (margin {r['min_effect']})" if r["logic"] == "noninferior" else "")
        lines.append(f"| {', '.join(r['rules'])} | {r['title']} | {a} | {f} | {eff} | {_fmt(p, False, 4)} | "
                     f"{_fmt(r['detectable'], False)} | {logic} | **{r['verdict']}** | {lint} |")
    lines += ["", "## Parameters, test loss and symptoms", "",
              "| experiment | params anti / fix | test loss anti / fix | symptoms anti (seeds) | symptoms fix (seeds) |",
              "|---|---|---|---|---|"]
    for r in res["experiments"]:
        sy = r.get("symptoms", {})
        fmt_s = lambda d: ", ".join(f"{k} ({v})" for k, v in d.items()) or "none"  # noqa: E731
        pa, pf = (f"{r[k]:,}" if isinstance(r.get(k), int) else "n/a" for k in ("anti_params", "fix_params"))
        lines.append(f"| {r['experiment']} | {pa} / {pf} | "
                     f"{_fmt(r.get('anti_test_loss'), False)} / {_fmt(r.get('fix_test_loss'), False)} | "
                     f"{fmt_s(sy.get('anti', {}))} | {fmt_s(sy.get('fix', {}))} |")
    lines += ["", "## Rules without a reference experiment", ""]
    lines += [f"- {k}: {v}" for k, v in res["not_measurable"].items()]
    prov = res["provenance"]
    lines += ["", "## Provenance", "", f"- code {prov['code_version']}, torch {prov['libraries']['torch']}, "
              f"device {prov['device'].get('device')} ({prov['device'].get('cpu_threads')} threads), "
              f"training CPU time {prov['train_cpu_s']:.0f} s, date {prov['date']}", ""]
    return "\n".join(lines)


def evidence_entries(res: dict, exps: list[RefExperiment]) -> dict:
    """``{rule: [entry]}`` in the format of ``validation/results/evidence.json``."""
    from archlint.rules import ALL_RULES

    names = {r.code: r.name for r in ALL_RULES}
    out: dict = {}
    sc = res["scale"]
    for e, r in zip(exps, res["experiments"]):
        t = res["provenance"]["tasks"][e.task]
        for code in e.rules:
            out.setdefault(code, []).append({
                "rule": code, "rule_name": names.get(code, ""), "claim": e.claim, "logic": e.logic,
                "role": "primary", "experiment": e.name, "protocol": f"reference-{sc['name']}",
                "comparison": f"{e.title} (fix - anti-pattern)", "metric": r["metric"], "n": r["n"],
                "treatment_mean": r["fix_mean"], "reference_mean": r["anti_mean"], "diff": r["diff"],
                "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "p": r.get("p_noninferior") if e.logic == "noninferior" else r["p"],
                "detectable": r["detectable"], "min_effect": e.min_effect, "verdict": r["verdict"],
                "rule_verdict": r["verdict"], "dataset": t.get("description", t["name"]),
                "dataset_sha256": t.get("sha256"), "chance": t.get("chance"), "reference_near_chance": False,
                "n_train": t["n_train"], "n_test": t["n_test"], "seeds": r["n"], "device": res["settings"]["device"],
                "steps_per_epoch": sc["steps"][e.task], "epochs": 1, "batch_size": sc["batch"][e.task],
                "synthetic": False, "reduced": res["reduced"],
                "caveat": (f"{sc['name'].upper()}-scale reference experiment ({sc['steps'][e.task]} steps), not the "
                           "full-length GPU run" if res["reduced"] else ""),
            })
    return out


def _plot(res: dict, out: Path, log) -> None:
    """A forest plot: every experiment's effect with its 95 % interval."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("note: matplotlib is not installed; no plot")
        return
    rows = [r for r in res["experiments"] if r["logic"] != "faster" and r["n"]]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        lo, hi = r["ci_low"], r["ci_high"]
        color = {"supported": "tab:green", "contradicted": "tab:red"}.get(r["verdict"], "tab:gray")
        if lo is not None and math.isfinite(lo):
            ax.plot([lo, hi], [i, i], color=color)
        ax.plot([r["diff"]], [i], "o", color=color)
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_yticks(range(len(rows)), [f"{', '.join(r['rules'])} {r['experiment'].split('-', 1)[1]}" for r in rows],
                  fontsize=7)
    ax.set_xlabel("fix - anti-pattern, test accuracy (95% CI)")
    ax.set_title(f"Reference experiments ({res['settings']['scale']} scale, {res['settings']['seeds']} seeds)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "effects.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m archlint_validation.reference", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--rule", action="append", default=None, help="only the experiments backing this rule")
    ap.add_argument("--experiment", action="append", default=None, help="only this experiment (by name)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default=None, help="the CIFAR-10 JPEG set (default $ARCHLINT_CIFAR10_JPEG, else the "
                    "subset shipped with archlint)")
    ap.add_argument("--out", default="archlint-reference")
    ap.add_argument("--gpu-only", action="store_true", help="include the throughput experiments that only a GPU tests")
    ap.add_argument("--no-lint", action="store_true", help="skip linting each pair before training")
    ap.add_argument("--yes", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="train in this many processes (on one GPU: several "
                    "small runs at once), then analyse")
    ap.add_argument("--shard", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--lint-only", default=None, metavar="FILE", help="lint every pair, write the targets to FILE, "
                    "train nothing")
    ap.add_argument("--analyse-only", action="store_true", help="train nothing: analyse the finished runs")
    ap.add_argument("--targets", default=None, metavar="FILE", help="the lint targets written by --lint-only")
    a = ap.parse_args(argv)
    try:
        exps = select(a.rule, include_gpu_only=a.gpu_only or a.device != "cpu")
        if a.experiment:
            exps = [by_name(n) for n in a.experiment]
    except (ValueError, KeyError) as e:
        print(f"archlint: error: {e}", file=sys.stderr)
        return 2
    scale = SCALES[a.scale]
    if a.lint_only:
        tasks = load_tasks({e.task for e in exps}, scale, a.data)
        out = {}
        for e in exps:
            try:
                out[e.name] = lint_targets(e, tasks[e.task])
            except Exception as err:  # noqa: BLE001
                out[e.name] = {"checked": False, "why": f"capture failed: {type(err).__name__}: {err}"}
        write_json_atomic(Path(a.lint_only), out)
        return 0
    if a.shard:
        i, k = (int(v) for v in a.shard.split("/"))
        run(exps, scale=scale, seeds=a.seeds or scale.seeds, out=Path(a.out), device=a.device, data=a.data,
            yes=True, lint=False, shard=(i, k))
        return 0
    if a.workers > 1:
        import subprocess

        base = [sys.executable, "-m", "archlint_validation.reference", "--scale", a.scale, "--device", a.device,
                "--out", a.out, "--seeds", str(a.seeds or scale.seeds)]
        base += [f"--rule={r}" for r in a.rule or []] + (["--data", a.data] if a.data else [])
        base += [f"--experiment={n}" for n in a.experiment or []]
        base += ["--gpu-only"] if a.gpu_only else []
        procs = [subprocess.Popen([*base, "--shard", f"{i}/{a.workers}"]) for i in range(a.workers)]
        failed = [i for i, p in enumerate(procs) if p.wait() != 0]
        if failed:
            print(f"archlint: error: worker(s) {failed} failed; finished runs are kept in {a.out}",
                  file=sys.stderr)
            return 2
    try:
        res = run(exps, scale=scale, seeds=a.seeds or scale.seeds, out=Path(a.out), device=a.device, data=a.data,
                  yes=a.yes, lint=not a.no_lint, targets_file=Path(a.targets) if a.targets else None,
                  analyse_only=a.analyse_only)
    except OutputError as e:
        print(f"archlint: error: {e}", file=sys.stderr)
        return 2
    for r in res["experiments"]:
        print(f"{', '.join(r['rules']):12s} {r['experiment']:24s} {r['verdict']:13s} effect {_fmt(r['diff'])} "
              f"({_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}), n {r['n']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
