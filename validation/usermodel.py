"""``archlint validate MODEL``: does fixing a finding help *this* model, and by how much?

The model as read and the model with each finding's fix applied (``archlint.fixes``) are both
turned into torch modules by the executor (``archlint.execute``), trained with the same seeds
(same data order, same dropout stream) on the user's data or a proxy task, and compared paired by
seed with validate's statistics: per finding the effect of the fix on test accuracy and test loss
(95 % paired-t interval, exact permutation p), a verdict (``helps``, ``hurts``, or ``no effect
detectable`` with the smallest effect this run could have detected at 80 % power), and the steps
the fixed model needs to reach the original's final accuracy. Every run also records symptoms
(``symptoms.py``), reported beside the findings that explain them.

Data (:func:`load_data`):
- ``--data`` a folder of class sub-folders of images (``train/`` and ``test/`` inside it, or one
  level of class folders split 80/20 by a fixed seed), or an ``.npz`` with ``x`` and ``y`` (and
  optionally ``x_test`` / ``y_test``), read with ``allow_pickle=False``;
- no ``--data``, an image model: the **proxy task** CIFAR-10 (the subset shipped with archlint, or
  the JPEG set at ``$ARCHLINT_CIFAR10_JPEG``), resized and converted to the model's input (size,
  channels); every output says PROXY;
- no ``--data``, a model over flat vectors of 784 or 3072 features: the proxy images flattened
  (28x28 grey or 32x32 RGB); any other vector width: a labelled SYNTHETIC task (Gaussian inputs,
  labels from a fixed random teacher network), because fault models are typically small MLPs whose
  faults (zero init, one-unit softmax) show on any learnable task; every output says SYNTHETIC;
- no ``--data``, a model over token ids: refused (no honest proxy for an unknown vocabulary).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import stats
from .data import file_digest
from .errors import DataError, ValidationError
from .io import write_json_atomic
from .progress import CPU_BUDGET_S, CPU_LIMIT_S, fmt_duration

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_IMAGES = 200_000
MAX_PIXELS_PER_IMAGE = 4096 * 4096


@dataclass
class UserData:
    x_train: np.ndarray  # float32, the model's layout
    y_train: np.ndarray  # int64
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    kind: str  # data | proxy | synthetic
    description: str
    identity: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return {"proxy": f"PROXY TASK ({self.description})", "synthetic": f"SYNTHETIC TASK ({self.description})"}.get(
            self.kind, self.description)


# ----------------------------------------------------------------------------------------------
# data

def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        from .safeio import load_array  # the hostile-input reader of validate (issue 17), when present
    except ImportError:
        load_array = None
    if load_array is not None:
        arrs = load_array(path)
        if not isinstance(arrs, dict):
            raise DataError(f"{path}: an .npy holds one array; pass an .npz with x and y")
        return arrs
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle: refused
        raise DataError(f"{path}: {e} (archlint never unpickles data files)") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None


def _split(x: np.ndarray, y: np.ndarray, test_share: float = 0.2, seed: int = 0):
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = max(1, int(round(len(x) * test_share)))
    return x[idx[n_test:]], y[idx[n_test:]], x[idx[:n_test]], y[idx[:n_test]]


def _decode_folder(root: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: expected one sub-folder per class")
    xs, ys = [], []
    for ci, c in enumerate(classes):
        for f in sorted((root / c).iterdir()):
            if not f.name.lower().endswith(IMAGE_EXTS) or not f.is_file() or f.is_symlink():
                continue
            if len(xs) >= MAX_IMAGES:
                raise DataError(f"{root}: more than {MAX_IMAGES:,} images; pass an .npz instead")
            try:
                with Image.open(f) as im:
                    w, h = im.size  # from the header: nothing is decoded yet
                    if w * h > MAX_PIXELS_PER_IMAGE or getattr(im, "n_frames", 1) != 1:
                        raise DataError(f"{f}: {w}x{h} {'animated ' if getattr(im, 'n_frames', 1) != 1 else ''}"
                                        "image refused (read from its header, not decoded)")
                    im = im.convert("RGB")
                    if size is not None:
                        im = im.resize((size[1], size[0]), Image.BILINEAR)
                    xs.append(np.asarray(im, dtype=np.uint8))
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                raise DataError(f"{f}: not a readable image ({e})") from None
            ys.append(ci)
    if not xs:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTS)}) in the class folders")
    if len({a.shape for a in xs}) > 1:
        raise DataError(f"{root}: images differ in size; they are resized to the model's input only when it has one")
    return np.stack(xs), np.asarray(ys, np.int64), classes


def adapt_images(x: np.ndarray, shape: tuple[int, ...], layout: str) -> np.ndarray:
    """uint8 NHWC images -> float32 in the model's (C, H, W) and layout ('nchw' or 'nhwc'), scaled
    to [0, 1]; normalised later with the training split's statistics."""
    import torch
    import torch.nn.functional as F

    c, h, w = shape
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 255.0
    if t.shape[2:] != (h, w):
        t = F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    if c == 1 and t.shape[1] == 3:
        t = t.mean(dim=1, keepdim=True)
    elif c == 3 and t.shape[1] == 1:
        t = t.repeat(1, 3, 1, 1)
    elif c != t.shape[1]:
        raise DataError(f"the model takes {c} input channels; images have {t.shape[1]}")
    if layout == "nhwc":
        t = t.permute(0, 2, 3, 1)
    return t.contiguous().numpy()


def _normalise(train: np.ndarray, test: np.ndarray, channel_axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(i for i in range(train.ndim) if i != (channel_axis % train.ndim if channel_axis is not None else -99))
    mean = train.mean(axis=axes, keepdims=True)
    std = train.std(axis=axes, keepdims=True) + 1e-6
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def _fit_labels(y_tr, y_te, k: int, what: str):
    """Labels for a model with ``k`` outputs: one output unit = binary; fewer outputs than classes:
    the first ``k`` classes only (said in the description)."""
    n = int(max(y_tr.max(), y_te.max())) + 1
    if k == 1 or n <= k:
        if k == 1 and n > 2:
            raise DataError(f"{what} has {n} classes but the model has one output unit (binary)")
        return y_tr, y_te, None
    return y_tr, y_te, k


def load_data(data: str | None, spec: "InputSpec", *, n_train: int | None = None, n_test: int | None = None,
              seed: int = 0) -> UserData:
    k = spec.num_outputs
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise DataError(f"data path does not exist: {path}")
        if path.suffix == ".npz":
            arrs = _read_npz(path)
            if "x" not in arrs or "y" not in arrs:
                raise DataError(f"{path}: an .npz needs arrays 'x' and 'y' (found {', '.join(arrs) or 'none'})")
            x, y = arrs["x"], arrs["y"].astype(np.int64).reshape(-1)
            if "x_test" in arrs and "y_test" in arrs:
                xtr, ytr, xte, yte = x, y, arrs["x_test"], arrs["y_test"].astype(np.int64).reshape(-1)
            else:
                xtr, ytr, xte, yte = _split(x, y, seed=seed)
            desc = f"{path.name} ({len(xtr):,} train / {len(xte):,} test)"
            ident = {"source": str(path), "sha256": file_digest(path)}
            kind = "data"
        elif path.is_dir():
            size = spec.image_hw if spec.kind == "image" else None
            if (path / "train").is_dir() and (path / "test").is_dir():
                xtr, ytr, classes = _decode_folder(path / "train", size)
                xte, yte, classes_te = _decode_folder(path / "test", size)
                if classes_te != classes:
                    raise DataError(f"{path}: train/ and test/ have different class folders")
            else:
                x, y, classes = _decode_folder(path, size)
                xtr, ytr, xte, yte = _split(x, y, seed=seed)
            desc = f"{path.name}: {len(classes)} classes ({len(xtr):,} train / {len(xte):,} test images)"
            ident = {"source": str(path), "classes": classes}
            kind = "data"
        else:
            raise DataError(f"{path}: --data takes a folder of class sub-folders of images or an .npz with x and y")
    elif spec.kind == "tokens":
        raise DataError("the model reads token ids and no --data was given: there is no honest proxy task for an "
                        "unknown vocabulary; pass --data an .npz with x (token ids) and y (labels)")
    elif spec.kind == "image" or (spec.kind == "vector" and spec.features in (784, 3072)):
        from . import refdata

        imgs = refdata.load_images(None, n_train=n_train, n_test=n_test)
        xtr, ytr, xte, yte = imgs.x_train, imgs.y_train, imgs.x_test, imgs.y_test
        if k in (1, 2):
            ytr, yte = (np.isin(v, refdata.VEHICLES).astype(np.int64) for v in (ytr, yte))
        desc = imgs.identity["description"] + (" as vehicle vs animal" if k in (1, 2) else "")
        ident = dict(imgs.identity)
        kind = "proxy"
    else:
        return synthetic_task(spec, seed=seed, n_train=n_train or 2000, n_test=n_test or 500)
    # to the model's input
    if xtr.dtype == np.uint8 and xtr.ndim == 4 and spec.kind == "image":
        xtr, xte = (adapt_images(v, spec.image_shape, spec.layout) for v in (xtr, xte))
    elif xtr.dtype == np.uint8 and xtr.ndim == 4 and spec.kind == "vector":
        shp = (1, 28, 28) if spec.features == 784 else (3, 32, 32)
        xtr, xte = (adapt_images(v, shp, "nchw").reshape(len(v), -1) for v in (xtr, xte))
    xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
    if tuple(xtr.shape[1:]) != spec.example_shape:
        raise DataError(f"the data's examples have shape {tuple(xtr.shape[1:])}; the model takes {spec.example_shape}")
    ch = (1 if spec.layout == "nchw" else -1) if spec.kind == "image" else None
    xtr, xte = _normalise(xtr, xte, ch)
    ytr, yte, keep = _fit_labels(ytr, yte, k, desc)
    if keep is not None:
        mtr, mte = ytr < keep, yte < keep
        xtr, ytr, xte, yte = xtr[mtr], ytr[mtr], xte[mte], yte[mte]
        desc += f"; the model has {keep} outputs, so only classes 0-{keep - 1} are used"
    if n_train:
        xtr, ytr = xtr[:n_train], ytr[:n_train]
    if n_test:
        xte, yte = xte[:n_test], yte[:n_test]
    return UserData(xtr, ytr, xte, yte, max(k, 2), Path(str(data)).name if data else ident.get("name", "proxy"),
                    kind, desc, ident)


def synthetic_task(spec: "InputSpec", *, seed: int = 0, n_train: int = 2000, n_test: int = 500) -> UserData:
    """Gaussian inputs labelled by a fixed random teacher (one hidden layer of 64 tanh units)."""
    k = max(spec.num_outputs, 2)
    rng = np.random.default_rng(1234 + seed)
    d = int(np.prod(spec.example_shape))
    w1 = rng.normal(0, 1 / math.sqrt(d), (d, 64))
    w2 = rng.normal(0, 1, (64, k))
    x = rng.normal(0, 1, (n_train + n_test, d)).astype(np.float32)
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1).astype(np.int64)
    x = x.reshape(-1, *spec.example_shape)
    desc = (f"{d} Gaussian features, {k} classes labelled by a fixed random teacher network, "
            f"{n_train:,} train / {n_test:,} test")
    return UserData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], k, "synthetic-teacher", "synthetic", desc,
                    {"seed": 1234 + seed})


# ----------------------------------------------------------------------------------------------
# the model's interface

@dataclass
class InputSpec:
    kind: str  # image | vector | tokens
    example_shape: tuple  # one example as the module takes it
    num_outputs: int
    layout: str = "nchw"  # image layout the module takes
    image_shape: tuple = ()  # (C, H, W)

    @property
    def image_hw(self) -> tuple[int, int] | None:
        return tuple(self.image_shape[1:]) if self.image_shape else None

    @property
    def features(self) -> int:
        return int(np.prod(self.example_shape))


def input_spec(module, graph_input_shape: tuple, num_outputs: int, integer_input: bool = False) -> InputSpec:
    """What the module takes: from the graph's input shape (N, C, H, W) / (N, F) / (N, T), and for
    images the layout the module accepts (tried with a zero batch: channels-first, then -last)."""
    import torch

    shape = tuple(int(s) if isinstance(s, int) and s > 0 else None for s in graph_input_shape[1:])
    if any(s is None for s in shape):
        raise ValidationError(f"the model's input shape {graph_input_shape} has unknown dimensions; "
                              "validate needs a fixed input size")
    if integer_input:
        return InputSpec("tokens", shape, num_outputs)
    if len(shape) == 1:
        return InputSpec("vector", shape, num_outputs)
    if len(shape) == 3:
        c, h, w = shape
        module.eval()
        for layout, ex in (("nchw", (c, h, w)), ("nhwc", (h, w, c))):
            try:
                with torch.no_grad():
                    module(torch.zeros(2, *ex))
                module.train()
                return InputSpec("image", ex, num_outputs, layout, (c, h, w))
            except Exception:  # noqa: BLE001 - try the other layout
                continue
        module.train()
        raise ValidationError(f"the executed model accepts neither (N, {c}, {h}, {w}) nor (N, {h}, {w}, {c}) inputs")
    raise ValidationError(f"validate trains image and vector models; this one takes inputs of shape {graph_input_shape}")


# ----------------------------------------------------------------------------------------------
# losses

@dataclass(frozen=True)
class LossSpec:
    name: str  # categorical_crossentropy | binary_crossentropy | mse | mae
    from_logits: bool
    source: str  # where it came from: the model's compile config, or inferred from the output

    def fn(self):
        import torch.nn.functional as F

        def f(out, y):
            out = out.float().reshape(len(y), -1)
            k = out.shape[1]
            if self.name in ("mse", "mae"):
                target = F.one_hot(y, k).float() if k > 1 else y.float().reshape(-1, 1)
                return F.mse_loss(out, target) if self.name == "mse" else F.l1_loss(out, target)
            if self.name == "binary_crossentropy":
                target = F.one_hot(y, k).float() if k > 1 else y.float().reshape(-1, 1)
                if self.from_logits:
                    return F.binary_cross_entropy_with_logits(out, target)
                p = out.clamp(1e-7, 1 - 1e-7)  # Keras clips probabilities
                return -(target * p.log() + (1 - target) * (1 - p).log()).mean()
            # categorical / sparse categorical
            if self.from_logits:
                return F.cross_entropy(out, y)
            if k == 1:  # categorical cross entropy on one unit: p / sum(p) = 1, the loss is 0 whatever the input
                return (out * 0.0).sum()
            p = out / out.sum(dim=1, keepdim=True).clamp_min(1e-7)  # Keras renormalises, then clips
            return F.nll_loss(p.clamp(1e-7, 1.0).log(), y)

        return f

    def predicts_probabilities(self) -> bool:
        return not self.from_logits and self.name not in ("mse", "mae")


def loss_spec(graph, output_activation: str | None) -> LossSpec:
    """The model's compiled loss (Keras training config) or, without one, cross entropy matched to
    the output layer (probabilities after a softmax or sigmoid, logits otherwise)."""
    tr = (graph.meta or {}).get("training") or {}
    losses = tr.get("losses") or []
    if losses and isinstance(losses[0], dict) and losses[0].get("name"):
        name = str(losses[0]["name"]).lower().replace("sparse_", "")
        name = {"mean_squared_error": "mse", "mean_absolute_error": "mae"}.get(name, name)
        return LossSpec(name, bool(losses[0].get("from_logits")), "the model's compile config")
    if output_activation == "sigmoid":
        return LossSpec("binary_crossentropy", False, "inferred from the sigmoid output")
    if output_activation == "softmax":
        return LossSpec("categorical_crossentropy", False, "inferred from the softmax output")
    return LossSpec("categorical_crossentropy", True, "inferred: the output has no activation (logits)")


# ----------------------------------------------------------------------------------------------
# training one variant

@dataclass
class Variant:
    key: str  # "original" or "fix-AL028-conv1"
    label: str
    build: Callable[[int], object]  # seed -> torch module (fresh weights from the seed)
    loss: LossSpec
    code: str | None = None
    layer: str | None = None
    summary: str = ""


def _predict(out, probs: bool):
    out = out.float().reshape(out.shape[0], -1)
    if out.shape[1] == 1:
        return (out.reshape(-1) > (0.5 if probs else 0.0)).long()
    return out.argmax(1)


def _evaluate(net, data: UserData, lf, probs: bool, device, limit: int | None = None, batch: int = 500):
    import torch

    net.eval()
    n = len(data.x_test) if limit is None else min(limit, len(data.x_test))
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for i in range(0, n, batch):
            x = torch.from_numpy(data.x_test[i:min(i + batch, n)]).to(device)
            y = torch.from_numpy(data.y_test[i:min(i + batch, n)]).to(device)
            out = net(x)
            correct += int((_predict(out, probs) == y).sum())
            loss_sum += float(lf(out, y)) * len(y)
    net.train()
    loss = loss_sum / max(n, 1)
    return correct / max(n, 1), (loss if math.isfinite(loss) else math.nan)


def _time_steps(v: Variant, data: UserData, batch: int, device, n: int = 3) -> float:
    """Seconds per optimizer step of ``v`` (one untimed step, then ``n`` timed)."""
    import torch

    net = v.build(0).to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-3)
    lf = v.loss.fn()
    x = torch.from_numpy(data.x_train[:batch]).to(device)
    y = torch.from_numpy(data.y_train[:batch]).to(device)
    t = 0.0
    for i in range(n + 1):
        if i == 1:
            t = time.perf_counter()
        loss = lf(net(x), y)
        opt.zero_grad()
        if loss.requires_grad:
            loss.backward()
            opt.step()
    return (time.perf_counter() - t) / n


def train_variant(v: Variant, data: UserData, seed: int, *, steps: int, batch: int, device="cpu",
                  lr: float = 1e-3, checkpoints: int = 10) -> dict:
    import torch

    from . import symptoms as sym

    torch.manual_seed(seed)
    net = v.build(seed).to(device)
    net.train()
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    lf = v.loss.fn()
    probs = v.loss.predicts_probabilities()
    rng = np.random.default_rng(seed)
    n = len(data.x_train)
    order = np.concatenate([rng.permutation(n) for _ in range(-(-steps * batch // n) + 1)])[: steps * batch]
    order = order.reshape(steps, batch)
    xp = torch.from_numpy(data.x_train[order[0]]).to(device)
    yp = torch.from_numpy(data.y_train[order[0]]).to(device)
    probes = [sym.probe(net, lambda: lf(net(xp), yp))]
    torch.manual_seed(10_000 + seed)
    losses: list[float] = []
    curve: list[dict] = []
    every = max(1, steps // checkpoints)
    t0 = time.perf_counter()
    for step in range(steps):
        x = torch.from_numpy(data.x_train[order[step]]).to(device)
        y = torch.from_numpy(data.y_train[order[step]]).to(device)
        loss = lf(net(x), y)
        opt.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % every == 0 and step + 1 < steps:
            acc, _ = _evaluate(net, data, lf, probs, device, limit=1000)
            curve.append({"step": step + 1, "accuracy": acc, "seconds": time.perf_counter() - t0})
    probes.append(sym.probe(net, lambda: lf(net(xp), yp)))
    acc, test_loss = _evaluate(net, data, lf, probs, device)
    curve.append({"step": steps, "accuracy": acc, "seconds": time.perf_counter() - t0})
    return {"variant": v.key, "seed": seed, "accuracy": acc, "test_loss": test_loss, "curve": curve,
            "train_loss": losses[-1] if losses else None, "seconds": time.perf_counter() - t0,
            "params": sum(p.numel() for p in net.parameters()), "symptoms": sym.diagnose(probes, losses)}


# ----------------------------------------------------------------------------------------------
# comparing

def _verdict(c: stats.Paired) -> str:
    if c.n < 2 or c.p is None or math.isnan(c.p):
        return "no effect detectable"
    if c.p < 0.05 and c.diff > 0:
        return "helps"
    if c.p < 0.05 and c.diff < 0:
        return "hurts"
    return "no effect detectable"


def time_to_baseline(base_runs: list[dict], runs: list[dict]) -> dict:
    """Per seed: the first checkpoint at which the variant's accuracy reaches the original's final
    test accuracy (steps and seconds), or None; the median over seeds that got there."""
    per = []
    for b, r in zip(base_runs, runs):
        target = b["accuracy"]
        hit = next((c for c in r["curve"] if c["accuracy"] >= target), None)
        per.append(hit)
    reached = [h for h in per if h is not None]
    med = sorted(reached, key=lambda h: h["step"])[len(reached) // 2] if reached else None
    return {"reached": len(reached), "of": len(per), "median_step": med["step"] if med else None,
            "median_seconds": med["seconds"] if med else None,
            "original_steps": base_runs[0]["curve"][-1]["step"] if base_runs else None}


def compare(variants: list[Variant], runs: list[dict], seeds: list[int], findings: list[dict]) -> list[dict]:
    from . import symptoms as sym

    by = {(r["variant"], r["seed"]): r for r in runs}
    base = [by[("original", s)] for s in seeds if ("original", s) in by]
    out = []
    for v in variants[1:]:
        done = [s for s in seeds if ("original", s) in by and (v.key, s) in by]
        b = [by[("original", s)] for s in done]
        f = [by[(v.key, s)] for s in done]
        acc = stats.paired([r["accuracy"] for r in f], [r["accuracy"] for r in b])
        lo = stats.paired([r["test_loss"] for r in f], [r["test_loss"] for r in b])
        out.append({"variant": v.key, "code": v.code, "layer": v.layer, "fix": v.summary, "n": len(done),
                    "original_accuracy": stats.summarize([r["accuracy"] for r in b]).to_dict() if b else None,
                    "fixed_accuracy": stats.summarize([r["accuracy"] for r in f]).to_dict() if f else None,
                    "accuracy": acc.to_dict(), "loss": lo.to_dict(), "verdict": _verdict(acc),
                    "loss_verdict": {"helps": "hurts", "hurts": "helps"}.get(_verdict(lo), _verdict(lo)),
                    "time_to_baseline": time_to_baseline(b, f)})
    syms: list[dict] = []
    for s in seeds:
        if ("original", s) in by:
            syms += by[("original", s)]["symptoms"]
    seen: dict = {}
    for s in syms:
        seen.setdefault((s["symptom"], s.get("layer")), s)
    return out, sym.explain(list(seen.values()), findings), base


# ----------------------------------------------------------------------------------------------
# the runner

DEFAULT_STEPS = 300
MIN_AUTO_STEPS = 30


def _eval_seconds(step_s: float, n_test: int, batch: int) -> float:
    """A run's checkpoint evaluations (10, up to 1,000 test examples each) and its final one, in
    seconds, priced from one training step's time (a forward pass costs about a third of it)."""
    return step_s * 11 * min(1000, n_test) / batch / 3


def projected_run_seconds(step_s: float, steps: int, n_test: int, batch: int) -> float:
    """What the plan projects for one run: the steps (+15 % for the loop) and the evaluations."""
    return step_s * steps * 1.15 + _eval_seconds(step_s, n_test, batch)


def auto_steps(step_s: float, runs: int, n_test: int, batch: int, budget_s: float) -> int:
    """The most steps per run (at most DEFAULT_STEPS, at least MIN_AUTO_STEPS) whose projected
    total, as the plan projects it (:func:`projected_run_seconds`), fits ``budget_s`` for ``runs`` runs."""
    if not (math.isfinite(step_s) and step_s > 0) or runs <= 0:
        return DEFAULT_STEPS
    per_run = budget_s / runs - _eval_seconds(step_s, n_test, batch)
    fit = int(per_run / (step_s * 1.15)) // 10 * 10
    return max(MIN_AUTO_STEPS, min(DEFAULT_STEPS, fit))


@dataclass
class _Unit:
    """One (variant, seed) run, as a Ray task receives it."""

    variant: Variant
    seed: int
    steps: int
    batch: int
    device: str

    def __str__(self) -> str:
        return f"{self.variant.label} seed {self.seed}"


def _train_unit(data: UserData, u: _Unit) -> dict:
    return train_variant(u.variant, data, u.seed, steps=u.steps, batch=u.batch, device=u.device)


def run_variants(variants: list[Variant], data: UserData, *, seeds: int, steps: int | None, batch: int, out: Path,
                 device: str = "cpu", yes: bool = False, findings: list[dict] | None = None, model: str = "",
                 log=print, settings: dict | None = None, budget_s: float = CPU_BUDGET_S,
                 executor=None) -> dict:
    """Train every variant with every seed (resuming finished runs), compare, write results.json,
    results.md and accuracy.png in ``out``. ``steps=None`` picks the steps: DEFAULT_STEPS on a GPU;
    on a CPU as many as fit ``budget_s`` by the warm-up timing (recorded in ``out`` so that a resume
    keeps them). ``executor`` (a ``RayExecutor``) trains the pending runs as Ray tasks; the driver
    writes each run's file as it comes back, so a resume works across executors."""
    import torch

    out = Path(out)
    step_s = math.nan  # seconds per step, timed once: when the steps are picked, else below
    if steps is None:
        steps, step_s = _pick_steps(variants, data, seeds=seeds, batch=batch, out=out, device=device, model=model,
                                    budget_s=budget_s, log=log)
    h = hashlib.sha256(json.dumps({"model": model, "variants": [v.key for v in variants], "steps": steps,
                                   "batch": batch, "data": data.identity, "n": [len(data.x_train), len(data.x_test)],
                                   "device": device, "torch": torch.__version__, **(settings or {})},
                                  sort_keys=True, default=str).encode()).hexdigest()[:12]
    run_dir = out / "runs" / h
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_list = list(range(seeds))
    units = [(v, s) for s in seed_list for v in variants]
    pending = [(v, s) for v, s in units if not (run_dir / f"{v.key}-{s}.json").is_file()]
    if pending and not math.isfinite(step_s):
        step_s = _time_steps(variants[0], data, batch, device)
    projected = projected_run_seconds(step_s, steps, len(data.x_test), batch) * len(pending) if pending else 0.0
    log(f"plan: {model or 'model'}: the original and {len(variants) - 1} fixed variant(s) x {seeds} seeds = "
        f"{len(units)} runs ({len(units) - len(pending)} already finished) x {steps} steps at batch {batch} on {device}")
    log(f"plan: data: {data.label}")
    log(f"plan: warm-up {step_s * 1000:.0f} ms per step -> projected {fmt_duration(projected)}"
        if pending else "plan: every run is finished; reporting")
    if str(device) == "cpu" and projected > CPU_LIMIT_S and not yes:
        raise ValidationError(f"projected {fmt_duration(projected)} on CPU, more than {fmt_duration(CPU_LIMIT_S)}: "
                              "pass --yes to run it anyway, or fewer --steps / --seeds / --rule")
    finished: dict[tuple[str, int], dict] = {}
    done = 0
    t0 = time.perf_counter()

    def record(v: Variant, s: int, r: dict) -> None:
        nonlocal done
        write_json_atomic(run_dir / f"{v.key}-{s}.json", r)
        finished[(v.key, s)] = r
        done += 1
        left = (time.perf_counter() - t0) / done * (len(pending) - done)
        log(f"[{done}/{len(pending)}] {v.label} seed {s}: test accuracy {r['accuracy']:.3f}, loss "
            f"{r['test_loss']:.3f}; about {fmt_duration(left)} left")

    for v, s in units:
        path = run_dir / f"{v.key}-{s}.json"
        if path.is_file():
            finished[(v.key, s)] = json.loads(path.read_text())
    if executor is not None and pending:
        log(f"plan: {len(pending)} runs as Ray tasks ({executor.slots()} at a time)")
        executor.map(_train_unit, [_Unit(v, s, steps, batch, str(device)) for v, s in pending],
                     on_done=lambda u, r: record(u.variant, u.seed, r), log=log, shared=data)
    else:
        for v, s in pending:
            record(v, s, train_variant(v, data, s, steps=steps, batch=batch, device=device))
    runs = [finished[(v.key, s)] for v, s in units]
    comps, symptoms, base = compare(variants, runs, seed_list, findings or [])
    res = {"schema": 1, "kind": "user-model", "model": model, "data": {"kind": data.kind, "label": data.label,
           "n_train": len(data.x_train), "n_test": len(data.x_test), "num_classes": data.num_classes,
           **data.identity}, "synthetic": data.kind == "synthetic", "proxy": data.kind == "proxy",
           "settings": {"seeds": seeds, "steps": steps, "batch": batch, "device": str(device),
                        "optimizer": "Adam lr 1e-3", "loss": variants[0].loss.__dict__, **(settings or {})},
           "findings": findings or [], "comparisons": comps, "symptoms": symptoms,
           "original": {"accuracy": stats.summarize([r["accuracy"] for r in base]).to_dict() if base else None},
           "runs": runs, "settings_hash": h,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(out / "results.json", res)
    (out / "results.md").write_text(markdown(res), encoding="utf-8")
    _plot(res, variants, out, log)
    return res


def _f(x, signed=True):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def verdict_line(c: dict) -> str:
    a = c["accuracy"]
    det = a.get("detectable")
    power = "" if c["verdict"] != "no effect detectable" else (
        "; too few seeds for p < 0.05" if det is None or not math.isfinite(det) else
        f"; smallest effect detectable at 80% power {det:.3f}")
    tb = c["time_to_baseline"]
    reach = (f"; reaches the original's accuracy at step {tb['median_step']} of {tb['original_steps']} (median, "
             f"{tb['reached']}/{tb['of']} seeds)" if tb["median_step"] else
             f"; does not reach the original's final accuracy ({tb['reached']}/{tb['of']} seeds)")
    return (f"{c['code']} fix ({c['fix'] or c['variant']}): {c['verdict']}: accuracy {_f(a['diff'])} "
            f"(95% CI {_f(a['ci_low'])} to {_f(a['ci_high'])}, p {_f(a['p'], False)}), test loss "
            f"{_f(c['loss']['diff'])} (95% CI {_f(c['loss']['ci_low'])} to {_f(c['loss']['ci_high'])}){power}{reach}")


def markdown(res: dict) -> str:
    st = res["settings"]
    lines = [f"# archlint validate: {res['model']}", "",
             f"Data: **{res['data']['label']}**; {res['data']['n_train']:,} training / {res['data']['n_test']:,} test "
             f"examples. {st['seeds']} seeds x {st['steps']} steps at batch {st['batch']} on {st['device']}, "
             f"{st['optimizer']}, loss {st['loss']['name']} ({st['loss']['source']}).", "",
             f"Original model: test accuracy {_f((res['original']['accuracy'] or {}).get('mean'), False)}.", "",
             "## Effect of each fix (fixed - original, paired by seed)", ""]
    lines += [f"- {verdict_line(c)}" for c in res["comparisons"]] or ["- no finding with a fix to test"]
    lines += ["", "## Symptoms of the original model while it trained", ""]
    if not res["symptoms"]:
        lines.append("- none")
    for s in res["symptoms"]:
        ex = ", ".join(f"{f['code']} ({f['node']})" for f in s["explained_by"]) or "no static finding explains it"
        lines.append(f"- {s['symptom']} ({s['when']}): {s['detail']}; explained by: {ex}")
    if res["synthetic"] or res["proxy"]:
        lines += ["", f"**Note:** these numbers come from a {'SYNTHETIC' if res['synthetic'] else 'PROXY'} task, not "
                  "your data: they show what the fix does to this architecture's training, not your accuracy."]
    return "\n".join(lines) + "\n"


def _plot(res: dict, variants: list[Variant], out: Path, log) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("note: matplotlib is not installed; no plot")
        return
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = ["-", "--", "-.", ":"]
    for i, v in enumerate(variants):
        rs = [r for r in res["runs"] if r["variant"] == v.key]
        if not rs:
            continue
        steps = [c["step"] for c in rs[0]["curve"]]
        mean = [sum(r["curve"][j]["accuracy"] for r in rs) / len(rs) for j in range(len(steps))]
        ax.plot(steps, mean, styles[i % 4], marker="os^dv"[i % 5], label=v.label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.set_title(f"{res['model']}: {res['data']['label']}"[:90], fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# from a model file: findings, fixes (archlint.fixes) and modules (archlint.execute)

def _output_activation(graph) -> str | None:
    from archlint.graph import OpKind

    outs = [v.producer for v in graph.outputs if v.producer is not None]
    for n in outs:
        cur = n
        while cur is not None and cur.kind in (OpKind.IDENTITY, OpKind.DROPOUT, OpKind.RESHAPE, OpKind.FLATTEN):
            cur = cur.inputs[0].producer if cur.inputs else None
        if cur is not None and cur.kind is OpKind.ACTIVATION:
            return cur.attrs.get("activation")
        if cur is not None and getattr(cur, "attrs", None) and cur.attrs.get("activation") in ("softmax", "sigmoid"):
            return cur.attrs.get("activation")
    return None


def _has_all_weights(graph) -> bool:
    table = (graph.meta or {}).get("weights")
    if table is None:
        return True
    try:
        have = table.tensors()
    except Exception:  # noqa: BLE001 - an unreadable weight file: treat as absent
        return False
    return all((ref.key in have or name in have) for name, ref in table.refs.items())


def _keras_with_weights(path: str, seed: int, workdir: Path) -> str:
    """A Keras v3 file saved without weights (config only): build it with Keras (safe mode: no
    Lambda code runs), its declared initialisers drawn from ``seed``, and save it with its weights."""
    import zipfile

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise ValidationError(f"{path} holds no weights; building them from its initialisers needs keras") from None
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    keras.utils.set_random_seed(seed)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    out = Path(workdir) / f"{Path(path).stem}-seed{seed}.keras"
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return str(out)


def _module_factory(graph, path: str | None = None, workdir: Path | None = None):
    """seed -> a torch module of ``graph``. With the file's weights when it has them (the model as
    read: an untrained file holds its initialisers' draw, a zero-initialised layer stays zero);
    a Keras file saved without weights is built by Keras with its declared initialisers drawn from
    the seed. Layers a fix inserted get their declared initialiser, drawn from the seed."""
    try:
        from archlint.execute import to_module
    except ImportError:
        raise ValidationError("validate MODEL needs the executor (archlint.execute), which this install lacks") from None
    rebuild = path is not None and str(path).endswith(".keras") and not _has_all_weights(graph)

    def build(seed: int):
        import torch

        from archlint.frontends import load_graph

        g = load_graph(_keras_with_weights(path, seed, workdir)) if rebuild else graph
        torch.manual_seed(seed)
        return to_module(g)

    return build


def variants_for_model(target: str, rules: list[str] | None, out: Path, log=print) -> tuple[list[Variant], list[dict], object]:
    """The original and one fixed variant per finding that has a rewrite (``--rule`` narrows the
    findings). Findings without a rewrite are reported as such."""
    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.frontends import load_graph

    graph = load_graph(target)
    cfg = Config(select=[r.upper() for r in rules]) if rules else Config()
    findings = check_graph(graph, cfg, path=target)
    fdicts = [{"code": f.code, "node": f.layer, "message": f.message, "fix": f.fix, "severity": str(f.severity)}
              for f in findings]
    base_loss = loss_spec(graph, _output_activation(graph))
    work = Path(out) / "built"
    variants = [Variant("original", "original", _module_factory(graph, target, work / "original"), base_loss,
                        summary="as read")]
    try:
        from archlint.fixes import fix_model
    except ImportError:
        fix_model = None
    if fix_model is None and findings:
        log("note: this install has no archlint.fixes: only the original model is trained")
    fixed_dir = Path(out) / "fixed"
    for code in dict.fromkeys(f.code for f in findings):
        if fix_model is None:
            break
        outcome = fix_model(target, Config(select=[code]))
        if not outcome.applied:
            why = "; ".join(s.why for s in outcome.skipped) or "the rule declares no rewrite"
            log(f"note: {code}: no fix to test ({why})")
            continue
        fixed_dir.mkdir(parents=True, exist_ok=True)
        saved = outcome.save(fixed_dir / f"{code}{Path(target).suffix}")
        fixed_path = saved[0] if isinstance(saved, (list, tuple)) and saved else str(fixed_dir / f"{code}{Path(target).suffix}")
        fgraph = load_graph(str(fixed_path))
        summary = "; ".join(getattr(rw, "summary", str(rw)) for rw in outcome.applied)
        layer = next((getattr(rw, "layer", None) for rw in outcome.applied), None)
        variants.append(Variant(f"fix-{code}", f"{code} fixed", _module_factory(fgraph, str(fixed_path), work / code),
                                loss_spec(fgraph, _output_activation(fgraph)), code, layer, summary))
    return variants, fdicts, graph


def _pick_steps(variants, data, *, seeds, batch, out, device, model, budget_s, log) -> tuple[int, float]:
    """(steps, seconds per step when this call timed one, else NaN)."""
    if str(device) != "cpu":
        return DEFAULT_STEPS, math.nan
    key = hashlib.sha256(json.dumps({"model": model, "variants": [v.key for v in variants], "seeds": seeds,
                                     "batch": batch, "data": data.identity, "budget_s": budget_s},
                                    sort_keys=True, default=str).encode()).hexdigest()[:12]
    memo = out / "auto-steps.json"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), int) and known[key] >= 1:
        log(f"plan: --steps not given: {known[key]} steps per run, as chosen when this run started")
        return known[key], math.nan
    step_s = _time_steps(variants[0], data, batch, device)
    steps = auto_steps(step_s, len(variants) * seeds, len(data.x_test), batch, budget_s)
    log(f"plan: --steps not given: {steps} steps per run fit the {fmt_duration(budget_s)} CPU budget "
        f"(at most {DEFAULT_STEPS}; --steps N sets them)")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(memo, {**(known if isinstance(known, dict) else {}), key: steps})
    return steps, step_s


def validate_model(target: str, *, rules: list[str] | None = None, data: str | None = None, steps: int | None = None,
                   seeds: int | None = None, batch: int = 64, device: str = "cpu", out: Path = Path("archlint-validate"),
                   yes: bool = False, log=print, executor: str = "local", ray_address: str | None = None,
                   ray_cpus_per_task: float = 1.0, ray_gpus_per_task: float | None = None) -> dict:
    variants, findings, graph = variants_for_model(target, rules, out, log)
    module = variants[0].build(0)
    ishape = graph.inputs[0].shape if graph.inputs else None
    oshape = graph.outputs[0].shape if graph.outputs else None
    if not ishape or not oshape:
        raise ValidationError(f"{target}: the model's input/output shapes are unknown; validate needs them")
    k = int(oshape[-1]) if isinstance(oshape[-1], int) else 2
    dtype = getattr(graph.inputs[0], "dtype", "") or ""
    spec = input_spec(module, tuple(ishape), k, integer_input=str(dtype).startswith("int"))
    ud = load_data(data, spec)
    seeds = seeds or 6
    ex = None
    if executor == "ray":
        from .executors import RayExecutor

        gpus = ray_gpus_per_task if ray_gpus_per_task is not None else (1.0 if str(device).startswith("cuda") else 0.0)
        ex = RayExecutor(ray_address, gpus_per_pack=gpus, cpus_per_pack=ray_cpus_per_task, log=log)
    elif executor != "local":
        raise ValidationError(f"unknown executor {executor!r}; use local or ray")
    try:
        return run_variants(variants, ud, seeds=seeds, steps=steps, batch=batch, out=out, device=device, yes=yes,
                            findings=findings, model=Path(target).name, log=log, executor=ex)
    finally:
        if ex is not None:
            ex.close()
