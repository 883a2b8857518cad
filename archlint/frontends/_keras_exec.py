"""What the Keras frontend records so its graph runs (no keras, no torch here).

Each layer call's node gets an :class:`~archlint.execute.spec.Impl`: one
``keras`` call naming the layer class, its config and its weights by role
(``kernel``, ``bias``, ``gamma`` ...). Weights are references into the file:
a ``.keras`` archive's ``model.weights.h5`` (``layers/conv2d/vars/0``: Keras
names each layer by its snake-cased class, numbered in the model's layer
order) or a legacy ``.h5`` file's ``model_weights`` group (the layer's
``weight_names``, in order). They are read with h5py when an executor asks.
"""

from __future__ import annotations

import re
from typing import Any

from archlint.execute.spec import Call, Impl, In, W, WeightRef, WeightTable

_CONV = re.compile(r"^(Conv|Convolution)([123])D(Transpose)?$")
_RNN_CELLS = {"LSTM", "GRU", "SimpleRNN"}


def snake(name: str) -> str:
    """Keras' ``to_snake_case``: ``PReLU`` -> ``p_re_lu``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def variables(cls: str, cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """A layer's weights in ``layer.weights`` order: (role, sub-object path)."""
    bias = bool(cfg.get("use_bias", True))
    if _CONV.match(cls) or cls == "Dense":
        return [("kernel", ""), *([("bias", "")] if bias else [])]
    if cls.startswith("DepthwiseConv"):
        return [("depthwise_kernel", ""), *([("bias", "")] if bias else [])]
    if cls.startswith("SeparableConv"):
        return [("depthwise_kernel", ""), ("pointwise_kernel", ""), *([("bias", "")] if bias else [])]
    if cls in ("BatchNormalization", "SyncBatchNormalization"):
        out = []
        if cfg.get("scale", True):
            out.append(("gamma", ""))
        if cfg.get("center", True):
            out.append(("beta", ""))
        return [*out, ("moving_mean", ""), ("moving_variance", "")]
    if cls in ("LayerNormalization", "GroupNormalization"):
        out = []
        if cfg.get("scale", True):
            out.append(("gamma", ""))
        if cfg.get("center", True) and not cfg.get("rms_scaling", False):
            out.append(("beta", ""))
        return out
    if cls == "RMSNormalization":
        return [("scale", "")]
    if cls == "Embedding":
        return [("embeddings", "")]
    if cls in _RNN_CELLS:
        return [("kernel", "cell"), ("recurrent_kernel", "cell"), *([("bias", "cell")] if bias else [])]
    if cls == "MultiHeadAttention":
        out = []
        for d in ("query", "key", "value", "output"):
            out.append((f"{d}_kernel", f"{d}_dense"))
            if bias:
                out.append((f"{d}_bias", f"{d}_dense"))
        return out
    if cls == "PReLU":
        return [("alpha", "")]
    if cls == "Normalization" and cfg.get("mean") is None:
        return [("mean", ""), ("variance", ""), ("count", "")]
    return []


_BUFFERS = {"moving_mean", "moving_variance", "mean", "variance", "count"}


class KerasWeights:
    """Weight references of one Keras file, by layer path."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.fmt = fmt  # "keras" (zip) or "h5"
        self.table = WeightTable(self._load, source=fmt)

    def refs(self, cls: str, cfg: dict[str, Any], keras_path: str, h5_chain: list[str]) -> dict[str, W]:
        """``role -> W`` for one layer (``keras_path``: ``layers/conv2d``;
        ``h5_chain``: the layer names from the top model down)."""
        out: dict[str, W] = {}
        counters: dict[str, int] = {}
        for i, (role, sub) in enumerate(variables(cls, cfg)):
            j = counters.get(sub, 0)
            counters[sub] = j + 1
            if self.fmt == "keras":
                key = f"{keras_path}/{sub + '/' if sub else ''}vars/{j}"
            else:
                key = f"h5:{'/'.join(h5_chain)}#{i}"
            role_kind = "buffer" if role in _BUFFERS else "param"
            self.table.add(WeightRef(key, key, None, None, role_kind))
            out[role] = W(key)
        return out

    def _load(self) -> dict[str, Any]:
        import io
        import zipfile

        import h5py
        import numpy as np

        out: dict[str, Any] = {}
        if self.fmt == "keras":
            with zipfile.ZipFile(self.path) as zf:
                if "model.weights.h5" not in zf.namelist():
                    return out  # a config-only save
                data = zf.read("model.weights.h5")
            with h5py.File(io.BytesIO(data), "r") as f:
                for key in self.table.refs:
                    if key in f:
                        out[key] = np.array(f[key])
            return out
        with h5py.File(self.path, "r") as f:
            if "model_weights" not in f:
                return out  # a config-only save
            root = f["model_weights"]
            by_chain: dict[str, list[Any]] = {}
            for key in self.table.refs:
                chain, idx = key.removeprefix("h5:").rsplit("#", 1)
                if chain not in by_chain:
                    by_chain[chain] = _h5_layer_weights(root, chain.split("/"))
                ws = by_chain[chain]
                if int(idx) < len(ws):
                    out[key] = ws[int(idx)]
        return out


def _h5_layer_weights(root: Any, chain: list[str]) -> list[Any]:
    """The arrays of the layer ``chain`` (top-level layer, then nested layer names), in order."""
    import numpy as np

    top = chain[0]
    if top not in root:
        return []
    g = root[top]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
    if len(chain) > 1:
        inner = "/".join(chain[1:])
        names = [n for n in names if f"/{inner}/" in f"/{n}" or n.startswith(inner + "/")]
    return [np.array(g[n]) for n in names]


def impl(cls: str, cfg: dict[str, Any], n_inputs: int, weights: dict[str, W], part: str | None = None) -> Impl:
    """One Keras layer call: its class (``part`` for a half of a separable
    conv), config and weights by role."""
    keep = {k: v for k, v in cfg.items() if k not in ("name", "trainable", "dtype")}
    op = f"{cls}:{part}" if part else cls
    return Impl([Call("keras", op, {"inputs": [In(i) for i in range(n_inputs)], "weights": dict(weights), "config": keep})])


def activation_impl(act: str) -> Impl:
    return Impl([Call("keras", "Activation", {"inputs": [In(0)], "weights": {}, "config": {"activation": act}})])


def op_impl(cls: str, module: str, spec: Any) -> Impl:
    """A Keras op layer (``keras.src.ops.numpy.Add`` written for ``x + 3.0``): its
    arguments in order, tensors as the node's inputs, constants as written."""
    args = spec.get("args", []) if isinstance(spec, dict) else []
    kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else {}
    n = 0
    tmpl: list[Any] = []
    for a in args:
        if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__":
            tmpl.append(In(n))
            n += 1
        else:
            tmpl.append(a)
    consts = {k: v for k, v in kwargs.items() if not (isinstance(v, dict) and v.get("class_name") == "__keras_tensor__")}
    return Impl([Call("keras", f"ops.{cls}", {"inputs": tmpl, "weights": {}, "config": consts})])
