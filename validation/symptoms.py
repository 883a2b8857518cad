"""Symptoms: what dynamic checkers watch while a network trains, recorded beside archlint's static
findings.

DeepDiagnosis and AUTOTRAINER watch a training run for dead ReLUs, vanishing or exploding
gradients, saturated sigmoid/tanh units, a loss that does not fall and NaN/Inf. Every training
loop of ``archlint validate`` (the per-rule reference experiments and the user's own model) calls
:func:`probe` at a few checkpoints (one forward and backward pass on a fixed batch, no optimizer
step) and :func:`diagnose` at the end; :func:`explain` pairs each symptom with the static
findings that can cause it, so a report says "dead ReLUs (0.91 of layer 3) -- explained by AL028
on layer 3" instead of two unrelated lists.

Thresholds are fixed here, stated in every report, and deliberately coarse: a symptom is a flag
for a reader, not a verdict.
"""

from __future__ import annotations

import math
from typing import Callable

#: a ReLU unit (a channel of a convolution) is dead when it outputs 0 for every example of the
#: probe batch; a layer is reported when at least this fraction of its units are dead
DEAD_FRACTION = 0.5
#: a sigmoid output below 0.01 / above 0.99, a tanh output beyond +-0.99, is saturated; a layer is
#: reported when at least this fraction of its outputs are
SATURATED_FRACTION = 0.5
#: the gradient norms of the weight layers span more than this factor (smallest / largest)
VANISHING_RATIO = 1e-4
#: a weight layer's gradient norm above this is exploding
EXPLODING_NORM = 1e3
#: the loss did not fall: the mean of the last tenth of the steps is at least this share of the
#: mean of the first twentieth
NOT_FALLING = 0.98

#: which static findings can explain which symptom (rule codes)
EXPLAINS = {
    "dead-relu": ("AL028", "AL029", "AL006", "AL013"),
    "vanishing-gradients": ("AL010", "AL012", "AL013", "AL029", "AL011", "AL028", "AL026", "AL025"),
    "exploding-gradients": ("AL029", "AL102", "AL012", "AL013"),
    "saturated-units": ("AL010", "AL029", "AL011"),
    "loss-not-falling": ("AL026", "AL028", "AL025", "AL011", "AL008", "AL006", "AL007", "AL029", "AL010"),
    "nan-inf": ("AL106", "AL107", "AL029", "AL102"),
}
THRESHOLDS = {
    "dead_fraction": DEAD_FRACTION, "saturated_fraction": SATURATED_FRACTION,
    "vanishing_ratio": VANISHING_RATIO, "exploding_norm": EXPLODING_NORM, "not_falling": NOT_FALLING,
}


def _kind(module) -> str | None:
    name = type(module).__name__
    if name in ("ReLU", "ReLU6"):
        return "relu"
    if name in ("Sigmoid", "Hardsigmoid"):
        return "sigmoid"
    if name in ("Tanh", "Hardtanh"):
        return "tanh"
    return None


def probe(model, run: Callable[[], "torch.Tensor"]) -> dict:  # noqa: F821
    """One forward and backward pass of ``run()`` (which returns the loss of a fixed batch) with
    hooks on every ReLU / sigmoid / tanh module. Gradients are cleared before and after: the
    optimizer never sees them."""
    import torch

    acts: dict[str, dict] = {}
    handles = []

    def hook(name, kind):
        def fn(_m, _inp, out):
            if not torch.is_tensor(out):
                return
            o = out.detach().float()
            if kind == "relu":
                # a unit = a channel (dim 1) of a map, or a feature (last dim) of a vector/sequence
                dim = 1 if o.dim() == 4 else o.dim() - 1
                alive = (o > 0).transpose(0, dim).reshape(o.shape[dim], -1).any(dim=1)
                acts[name] = {"kind": kind, "dead": float(1.0 - alive.float().mean())}
            elif kind == "sigmoid":
                acts[name] = {"kind": kind, "saturated": float(((o < 0.01) | (o > 0.99)).float().mean())}
            else:
                acts[name] = {"kind": kind, "saturated": float((o.abs() > 0.99).float().mean())}
        return fn

    for name, m in model.named_modules():
        k = _kind(m)
        if k:
            handles.append(m.register_forward_hook(hook(name or type(m).__name__, k)))
    model.zero_grad(set_to_none=True)
    try:
        loss = run()
        finite_loss = bool(torch.isfinite(loss).all())
        if loss.requires_grad:
            loss.backward()
    finally:
        for h in handles:
            h.remove()
    grads = []
    for name, p in model.named_parameters():
        if p.grad is not None and p.dim() >= 2:  # weight matrices / kernels, not biases or norms
            g = float(p.grad.detach().float().norm())
            grads.append({"layer": name.rsplit(".", 1)[0], "norm": g})
    model.zero_grad(set_to_none=True)
    return {"loss": float(loss.detach()) if finite_loss else None, "finite": finite_loss,
            "activations": acts, "grad_norms": grads}


def diagnose(probes: list[dict], losses: list[float]) -> list[dict]:
    """Symptoms of one training run from its probes (first = at initialisation, last = at the
    end) and its per-step training losses. Each symptom: {symptom, detail, value, layer, when}."""
    out: list[dict] = []
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad or any(not p["finite"] for p in probes):
        step = bad[0] if bad else None
        out.append({"symptom": "nan-inf", "value": len(bad), "layer": None, "when": step,
                    "detail": f"non-finite training loss at {len(bad)} of {len(losses)} steps"
                              + (f" (first at step {step})" if step is not None else "")})
    finite = [v for v in losses if math.isfinite(v)]
    if len(finite) >= 20:
        head = finite[: max(1, len(finite) // 20)]
        tail = finite[-max(1, len(finite) // 10):]
        h, t = sum(head) / len(head), sum(tail) / len(tail)
        if h > 0 and t >= NOT_FALLING * h:
            out.append({"symptom": "loss-not-falling", "value": t / h, "layer": None, "when": "training",
                        "detail": f"training loss {h:.3f} at the start, {t:.3f} at the end"})
    for when, p in (("init", probes[0]), ("end", probes[-1])) if probes else ():
        for layer, a in p["activations"].items():
            if a["kind"] == "relu" and a["dead"] >= DEAD_FRACTION:
                out.append({"symptom": "dead-relu", "value": a["dead"], "layer": layer, "when": when,
                            "detail": f"{a['dead']:.0%} of the units of {layer} output 0 for the whole probe batch"})
            if a["kind"] in ("sigmoid", "tanh") and a["saturated"] >= SATURATED_FRACTION:
                out.append({"symptom": "saturated-units", "value": a["saturated"], "layer": layer, "when": when,
                            "detail": f"{a['saturated']:.0%} of the outputs of {layer} ({a['kind']}) are saturated"})
        norms = [g for g in p["grad_norms"] if math.isfinite(g["norm"])]
        if any(not math.isfinite(g["norm"]) for g in p["grad_norms"]):
            out.append({"symptom": "nan-inf", "value": None, "layer": None, "when": when,
                        "detail": "non-finite gradient"})
        if len(norms) >= 2:
            lo = min(norms, key=lambda g: g["norm"])
            hi = max(norms, key=lambda g: g["norm"])
            if hi["norm"] == 0.0:
                out.append({"symptom": "vanishing-gradients", "value": 0.0, "layer": None, "when": when,
                            "detail": "every weight layer's gradient is exactly 0"})
            elif lo["norm"] / hi["norm"] < VANISHING_RATIO:
                out.append({"symptom": "vanishing-gradients", "value": lo["norm"] / hi["norm"], "layer": lo["layer"],
                            "when": when, "detail": f"gradient norm of {lo['layer']} is {lo['norm']:.2e}, "
                                                    f"{hi['norm'] / max(lo['norm'], 1e-300):.1e}x below {hi['layer']}"})
            if hi["norm"] > EXPLODING_NORM:
                out.append({"symptom": "exploding-gradients", "value": hi["norm"], "layer": hi["layer"], "when": when,
                            "detail": f"gradient norm of {hi['layer']} is {hi['norm']:.2e}"})
    return out


def explain(symptoms: list[dict], findings: list[dict]) -> list[dict]:
    """Each symptom with the static findings (dicts with at least ``code``) that can cause it."""
    out = []
    for s in symptoms:
        codes = EXPLAINS.get(s["symptom"], ())
        hits = [f for f in findings if f.get("code") in codes]
        out.append({**s, "explained_by": [{"code": f["code"], "node": f.get("node") or f.get("layer"),
                                           "message": f.get("message", "")} for f in hits]})
    return out


def summary_line(symptoms: list[dict]) -> str:
    if not symptoms:
        return "no symptoms"
    seen = dict.fromkeys(s["symptom"] for s in symptoms)
    return ", ".join(seen)
