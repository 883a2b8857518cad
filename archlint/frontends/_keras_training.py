"""The training configuration a Keras file carries, as plain metadata (no Keras import).

A ``.keras`` archive keeps ``compile_config`` beside the model config in
``config.json`` (Keras 3); a Keras 2 ``.h5`` keeps the root attribute
``training_config`` (and a tf.keras SavedModel the same dict in its root
metadata). Both hold the loss (a name, a serialised loss object, or one per
output), the optimizer and the metrics. Every layer's config holds its
initialisers and regularisers.

``training(config)`` gives ``graph.meta["training"]``::

    {"source": "compile_config", "losses": [{"output": None | int | name, "name":
     "categorical_crossentropy", "from_logits": False, "label_smoothing": 0.0}],
     "optimizer": {"name": "adam", "learning_rate": 0.001}, "metrics": ["accuracy"]}

``layer_init(cfg)`` gives a layer's ``{"kernel": {"name": "he_normal", "config": {...}}, ...}``
and ``layer_regularizers(cfg)`` the same for regularisers. Names are
snake_case (``CategoricalCrossentropy`` -> ``categorical_crossentropy``),
with Keras' short aliases spelled out (``mse`` -> ``mean_squared_error``).
"""

from __future__ import annotations

import re
from typing import Any

_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "logcosh": "log_cosh",
    "huber_loss": "huber",
    "cosine_proximity": "cosine_similarity",
    "random_normal": "random_normal",
    "normal": "random_normal",
    "uniform": "random_uniform",
    "zero": "zeros",
    "one": "ones",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
#: weight-holding arguments of Keras layers whose initialiser/regulariser is recorded
_WEIGHTS = ("kernel", "bias", "depthwise", "pointwise", "embeddings", "recurrent", "gamma", "beta")


def snake(name: str) -> str:
    """``CategoricalCrossentropy`` / ``keras.losses>categorical_crossentropy`` -> ``categorical_crossentropy``."""
    base = name.rsplit(">", 1)[-1].rsplit(".", 1)[-1]
    s = _CAMEL.sub("_", base).lower()
    return _ALIASES.get(s, s)


def serial_name(obj: Any) -> tuple[str | None, dict[str, Any]]:
    """(snake name, config) of a serialised Keras object: a string, a
    ``{"class_name", "config"}`` dict (Keras 2 and 3), or a serialised function."""
    if isinstance(obj, str):
        return snake(obj), {}
    if not isinstance(obj, dict):
        return None, {}
    cls = obj.get("class_name")
    cfg = obj.get("config")
    if cls == "function" and isinstance(cfg, str):  # Keras 3: a plain loss function
        return snake(cfg), {}
    if not isinstance(cls, str):
        return None, {}
    return snake(cls), cfg if isinstance(cfg, dict) else {}


def _num(v: Any, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError, OverflowError):
        return default


def _loss_entry(obj: Any, output: int | str | None) -> dict[str, Any] | None:
    name, cfg = serial_name(obj)
    if name is None:
        return None
    return {
        "output": output,
        "name": name,
        "from_logits": bool(cfg.get("from_logits", False)),
        "label_smoothing": _num(cfg.get("label_smoothing"), 0.0),
    }


def _is_serialised(obj: dict[str, Any]) -> bool:
    return "class_name" in obj


def losses(spec: Any) -> list[dict[str, Any]]:
    """One entry per loss: a single loss (``output`` None, it applies to every
    output), a list (``output`` is the output's position) or a dict keyed by
    output layer name."""
    if spec is None:
        return []
    if isinstance(spec, (str,)) or (isinstance(spec, dict) and _is_serialised(spec)):
        e = _loss_entry(spec, None)
        return [e] if e else []
    out: list[dict[str, Any]] = []
    if isinstance(spec, list):
        for i, s in enumerate(spec):
            e = _loss_entry(s, i)
            if e:
                out.append(e)
    elif isinstance(spec, dict):
        for k, s in spec.items():
            e = _loss_entry(s, str(k))
            if e:
                out.append(e)
    return out


def _metric_names(spec: Any) -> list[str]:
    if spec is None:
        return []
    items: list[Any] = []
    if isinstance(spec, dict) and not _is_serialised(spec):
        for v in spec.values():
            items.extend(v if isinstance(v, list) else [v])
    elif isinstance(spec, list):
        for v in spec:
            items.extend(v if isinstance(v, list) else [v])
    else:
        items = [spec]
    names = []
    for m in items:
        n, _ = serial_name(m)
        if n:
            names.append(n)
    return names


def training(compile_config: Any, source: str) -> dict[str, Any] | None:
    """``graph.meta["training"]`` from a Keras 3 ``compile_config`` or a Keras 2 ``training_config``."""
    if not isinstance(compile_config, dict):
        return None
    opt_spec = compile_config.get("optimizer", compile_config.get("optimizer_config"))
    opt_name, opt_cfg = serial_name(opt_spec)
    optimizer: dict[str, Any] | None = None
    if opt_name:
        lr = opt_cfg.get("learning_rate", opt_cfg.get("lr"))
        optimizer = {"name": opt_name, "learning_rate": lr if isinstance(lr, (int, float)) else None}
    return {
        "source": source,
        "losses": losses(compile_config.get("loss")),
        "optimizer": optimizer,
        "metrics": _metric_names(compile_config.get("metrics")),
    }


def _collect(cfg: dict[str, Any], suffix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for w in _WEIGHTS:
        spec = cfg.get(f"{w}_{suffix}")
        if spec is None:
            continue
        name, conf = serial_name(spec)
        if name:
            out[w] = {"name": name, "config": conf}
    return out


def layer_init(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The layer's initialisers by weight: ``{"kernel": {"name": "zeros", "config": {}}}``."""
    return _collect(cfg, "initializer")


def layer_regularizers(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The layer's regularisers by weight (``activity`` included)."""
    out = _collect(cfg, "regularizer")
    name, conf = serial_name(cfg.get("activity_regularizer"))
    if name:
        out["activity"] = {"name": name, "config": conf}
    return out
