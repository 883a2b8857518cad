"""A Keras weights file for a fixed model, written with h5py (Keras is never imported).

Keras refuses a ``.keras`` archive without ``model.weights.h5`` (and an ``.h5``
without ``model_weights``), so ``archlint fix`` writes one: each layer keeps the
weights the input file stored for it when their shapes still fit, and gets fresh
values drawn from its configured initialiser otherwise (a layer the fix added, a
dense layer that now reads pooled channels, a kernel whose initialiser changed).
The variable shapes come from the fixed graph (kernel size, input and output
widths). Layers with weights of a kind listed nowhere here (transposed and
separable convolutions, recurrent layers ...) stop the writing: the caller then
leaves the weights out and says so.

Layouts: Keras 3 ``model.weights.h5`` holds ``layers/<snake_case class>[_N]/vars/<i>``
in the order of ``model.layers``; Keras 2 ``.h5`` holds ``model_weights/<layer>/<layer>/<var>:0``
listed by the ``layer_names`` and ``weight_names`` attributes.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

from archlint.graph import Graph, Node, OpKind

_NO_WEIGHTS = re.compile(
    r"^(InputLayer|Activation|ReLU|Softmax|ELU|LeakyReLU|PReLU_|Dropout|SpatialDropout\dD|GaussianDropout|GaussianNoise|"
    r"AlphaDropout|Flatten|Reshape|Permute|Add|Subtract|Multiply|Average|Maximum|Minimum|Concatenate|"
    r"(Max|Average)Pooling\dD|Global(Max|Average)Pooling\dD|ZeroPadding\dD|Cropping\dD|UpSampling\dD|"
    r"Identity|Rescaling|Normalization_)$"
)


class NoWeights(Exception):
    """A layer whose variables this writer cannot lay out."""


def snake(name: str) -> str:
    """Keras' ``to_snake_case``: ``DepthwiseConv2D`` -> ``depthwise_conv2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _nodes_by_layer(graph: Graph) -> dict[str, list[Node]]:
    out: dict[str, list[Node]] = {}
    for n in graph.nodes:
        out.setdefault(n.layer, []).append(n)
    return out


def variables(cls: str, cfg: dict[str, Any], nodes: list[Node]) -> list[tuple[str, tuple[int, ...]]]:
    """``[(name, shape), ...]`` of a layer's variables in Keras order."""
    if isinstance(cfg.get("layers"), list):
        raise NoWeights(f"{cls} (a nested model)")
    main = next((n for n in nodes if n.kind not in (OpKind.ACTIVATION,)), None)
    if _NO_WEIGHTS.match(cls) or main is None or not main.params:
        if main is not None and main.params:
            raise NoWeights(cls)
        return []
    a = main.attrs
    bias = bool(cfg.get("use_bias", True))
    if main.kind is OpKind.CONV and re.match(r"^Conv[123]D$|^Convolution[123]D$", cls):
        k, cin, f, g = tuple(a["kernel"]), a["in_channels"], a["channels"], int(a.get("groups") or 1)
        return [("kernel", (*k, cin // g, f))] + ([("bias", (f,))] if bias else [])
    if main.kind is OpKind.CONV and re.match(r"^DepthwiseConv[12]D$", cls):
        k, cin, f = tuple(a["kernel"]), a["in_channels"], a["channels"]
        return [("depthwise_kernel", (*k, cin, f // cin))] + ([("bias", (f,))] if bias else [])
    if main.kind is OpKind.DENSE and cls == "Dense":
        return [("kernel", (a["in_features"], a["units"]))] + ([("bias", (a["units"],))] if bias else [])
    if main.kind is OpKind.BATCH_NORM:
        c = a["channels"]
        out = [("gamma", (c,))] if cfg.get("scale", True) else []
        out += [("beta", (c,))] if cfg.get("center", True) else []
        return out + [("moving_mean", (c,)), ("moving_variance", (c,))]
    if main.kind is OpKind.LAYER_NORM and cls == "LayerNormalization":
        d = main.output.shape[-1] if main.output.shape else None
        if not isinstance(d, int):
            raise NoWeights(f"{cls} (width unknown)")
        out = [("gamma", (d,))] if cfg.get("scale", True) else []
        return out + ([("beta", (d,))] if cfg.get("center", True) else [])
    raise NoWeights(cls)


def _init(spec: Any, shape: tuple[int, ...], rng: Any, default: str) -> Any:
    import numpy as np

    name = spec.get("class_name") if isinstance(spec, dict) else spec
    cfg = spec.get("config", {}) if isinstance(spec, dict) else {}
    key = snake(str(name or default)).replace("_", "")
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
    fan_out = math.prod(shape[:-2]) * shape[-1] if len(shape) > 1 else shape[0]
    if key == "zeros":
        return np.zeros(shape, "float32")
    if key == "ones":
        return np.ones(shape, "float32")
    if key == "constant":
        return np.full(shape, float(cfg.get("value", 0.0)), "float32")
    if key in ("henormal", "hetruncatednormal"):
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), shape).astype("float32")
    if key in ("randomnormal", "truncatednormal"):
        return rng.normal(float(cfg.get("mean", 0.0)), float(cfg.get("stddev", 0.05)), shape).astype("float32")
    if key == "randomuniform":
        return rng.uniform(float(cfg.get("minval", -0.05)), float(cfg.get("maxval", 0.05)), shape).astype("float32")
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype("float32")


def layer_values(layers: list[dict[str, Any]], graph: Graph, old: dict[str, list[Any]], seed: int = 0,
                 reinit: frozenset[str] = frozenset()) -> list[tuple[dict[str, Any], list[tuple[str, Any]]]]:
    """Each config layer with its variables' values (old ones where shapes still fit)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_layer = _nodes_by_layer(graph)
    out = []
    for layer in layers:
        cls = str(layer.get("class_name"))
        cfg = layer.get("config") or {}
        name = cfg.get("name") or layer.get("name")
        shapes = variables(cls, cfg, by_layer.get(name, []))
        kept = [] if name in reinit else old.get(name) or []
        values = []
        for i, (var, shape) in enumerate(shapes):
            if i < len(kept) and tuple(kept[i].shape) == shape and len(kept) == len(shapes):
                values.append((var, kept[i]))
            elif var in ("kernel", "depthwise_kernel"):
                values.append((var, _init(cfg.get("kernel_initializer") or cfg.get("depthwise_initializer"),
                                          shape, rng, "GlorotUniform")))
            elif var in ("gamma", "moving_variance"):
                values.append((var, np.ones(shape, "float32")))
            else:
                values.append((var, np.zeros(shape, "float32")))
        out.append((layer, values))
    return out


def keras3_weights(config: dict[str, Any], layers: list[dict[str, Any]], graph: Graph,
                   old: dict[str, list[Any]], reinit: frozenset[str] = frozenset()) -> bytes:
    """``model.weights.h5`` for a ``.keras`` archive."""
    import h5py

    sequential = config.get("class_name") == "Sequential"
    buf = io.BytesIO()
    seen: dict[str, int] = {}
    with h5py.File(buf, "w") as f:
        top = f.create_group("layers")
        for layer, values in layer_values(layers, graph, old, reinit=reinit):
            cls = str(layer.get("class_name"))
            if sequential and cls == "InputLayer":
                continue
            base = snake(cls)
            k = seen.get(base, 0)
            seen[base] = k + 1
            g = top.create_group(base if k == 0 else f"{base}_{k}").create_group("vars")
            g.attrs["name"] = (layer.get("config") or {}).get("name") or layer.get("name")
            for i, (_var, v) in enumerate(values):
                g.create_dataset(str(i), data=v)
        f.create_group("vars").attrs["name"] = (config.get("config") or {}).get("name", "model") \
            if isinstance(config.get("config"), dict) else "model"
    return buf.getvalue()


def keras2_weights(f: Any, layers: list[dict[str, Any]], graph: Graph, old: dict[str, list[Any]],
                   reinit: frozenset[str] = frozenset()) -> None:
    """``model_weights`` of a Keras 2 ``.h5`` (``f`` open for writing, the group absent)."""
    import numpy as np

    mw = f.create_group("model_weights")
    names = []
    for layer, values in layer_values(layers, graph, old, reinit=reinit):
        name = (layer.get("config") or {}).get("name") or layer.get("name")
        names.append(name)
        g = mw.create_group(name)
        wnames = [f"{name}/{var}:0" for var, _ in values]
        g.attrs["weight_names"] = np.array([w.encode() for w in wnames], dtype="S") if wnames else np.array([], "S")
        for w, (_var, v) in zip(wnames, values):
            g.create_dataset(w, data=v)
    mw.attrs["layer_names"] = np.array([n.encode() for n in names], dtype="S")
    mw.attrs["backend"] = b"tensorflow"
    mw.attrs["keras_version"] = b"2.15.0"


def read_keras3(data: bytes, layers: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The stored values per layer name of a ``model.weights.h5``."""
    import h5py
    import numpy as np

    out: dict[str, list[Any]] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        top = f.get("layers")
        if top is None:
            return out
        for key in top:
            g = top[key].get("vars")
            if g is None:
                continue
            name = g.attrs.get("name")
            name = name.decode() if isinstance(name, bytes) else name
            out[str(name)] = [np.asarray(g[str(i)]) for i in range(len(g))]
    return out


def read_keras2(path: Any) -> dict[str, list[Any]]:
    """The stored values per layer name of a Keras 2 ``.h5``'s ``model_weights``."""
    import h5py
    import numpy as np

    out: dict[str, list[Any]] = {}
    with h5py.File(path, "r") as f:
        mw = f.get("model_weights")
        if mw is None:
            return out
        for name in mw:
            g = mw[name]
            wn = [w.decode() if isinstance(w, bytes) else str(w) for w in g.attrs.get("weight_names", [])]
            try:
                out[name] = [np.asarray(g[w]) for w in wn]
            except KeyError:
                continue
    return out
