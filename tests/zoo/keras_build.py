"""Keras model files from the framework-neutral specs of :mod:`tests.zoo.spec`, without Keras.

``to_keras_config`` writes the model config Keras itself would save (Keras 3
or Keras 2 dialect, Sequential or functional); ``write_keras`` and ``write_h5``
put it in a ``.keras`` zip or an HDF5 file the way ``model.save`` does, with
no weights (archlint reads only the config). ``jansma_keras22_config`` is the
Keras 2.2.0-era Sequential model of the original experiment
(/work/shared/SEED_EXPERIMENT.md), with Keras 2.2's automatic layer names.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

INPUT_HWC = (32, 32, 3)
_K3_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def _keras_layer(spec: dict[str, Any], in_ch: int) -> tuple[str, dict[str, Any], int]:
    """(class_name, config without name/dtype, output channels) for one spec layer."""
    op = spec["op"]
    k = spec.get("kernel", 3)
    s = spec.get("stride", 1)
    if op == "conv" and spec.get("depthwise"):
        dm = max(1, spec["filters"] // in_ch)
        return "DepthwiseConv2D", {
            "kernel_size": [k, k], "strides": [s, s], "padding": "same", "depth_multiplier": dm,
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
            "use_bias": spec.get("bias", True),
        }, in_ch * dm
    if op == "conv":
        return "Conv2D", {
            "filters": spec["filters"], "kernel_size": [k, k], "strides": [s, s], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "linear",
            "use_bias": spec.get("bias", True),
        }, spec["filters"]
    if op == "sepconv":
        return "SeparableConv2D", {
            "filters": spec["filters"], "kernel_size": [k, k], "strides": [s, s], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "depth_multiplier": 1,
            "activation": "linear", "use_bias": spec.get("bias", True),
        }, spec["filters"]
    if op == "bn":
        return "BatchNormalization", {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True}, in_ch
    if op in ("relu", "softmax"):
        return "Activation", {"activation": op}, in_ch
    if op == "dropout":
        return "Dropout", {"rate": spec["rate"], "noise_shape": None, "seed": None}, in_ch
    if op == "spatial_dropout":
        return "SpatialDropout2D", {"rate": spec["rate"], "data_format": "channels_last"}, in_ch
    if op == "maxpool":
        p = spec.get("size", 2)
        return "MaxPooling2D", {"pool_size": [p, p], "strides": [p, p], "padding": "valid", "data_format": "channels_last"}, in_ch
    if op == "gap":
        return "GlobalAveragePooling2D", {"data_format": "channels_last", "keepdims": False}, in_ch
    if op == "flatten":
        return "Flatten", {"data_format": "channels_last"}, in_ch
    if op == "dense":
        return "Dense", {"units": spec["units"], "activation": "linear", "use_bias": True}, spec["units"]
    if op == "add":
        return "Add", {}, in_ch
    raise ValueError(f"no Keras form for spec op {op!r}")


def to_keras_config(
    layers: list[dict[str, Any]],
    *,
    keras_version: int = 3,
    functional: bool = False,
    name: str = "model",
    input_hwc: tuple[int, int, int] = INPUT_HWC,
) -> dict[str, Any]:
    """The ``{"class_name": ..., "config": ...}`` model config Keras would save."""
    if keras_version not in (2, 3):
        raise ValueError("keras_version is 2 or 3")
    if not functional and any("inputs" in s for s in layers):
        raise ValueError("a spec with branches (inputs=...) needs functional=True")
    k3 = keras_version == 3
    batch_shape = [None, *input_hwc]
    input_name = "input_layer" if k3 else "input_1"
    channels: dict[str, int] = {input_name: input_hwc[-1]}
    out_layers: list[dict[str, Any]] = []
    prev = input_name
    for i, spec in enumerate(layers):
        srcs = spec.get("inputs") or [prev]
        cls, cfg, ch = _keras_layer(spec, channels[srcs[0]])
        channels[spec["name"]] = ch
        cfg = {"name": spec["name"], "trainable": True, "dtype": _K3_DTYPE if k3 else "float32", **cfg}
        entry: dict[str, Any] = {"class_name": cls, "config": cfg}
        if k3:
            entry = {"module": "keras.layers", **entry, "registered_name": None}
        if not functional and i == 0 and not k3:
            cfg["batch_input_shape"] = batch_shape
        if functional:
            entry["name"] = spec["name"]
            if k3:
                refs = [
                    {"class_name": "__keras_tensor__", "config": {"shape": None, "keras_history": [s, 0, 0]}}
                    for s in srcs
                ]
                entry["inbound_nodes"] = [{"args": [refs] if len(refs) > 1 else refs, "kwargs": {}}]
            else:
                entry["inbound_nodes"] = [[[s, 0, 0, {}] for s in srcs]]
        out_layers.append(entry)
        prev = spec["name"]
    if k3:
        inp: dict[str, Any] = {
            "module": "keras.layers",
            "class_name": "InputLayer",
            "config": {"batch_shape": batch_shape, "dtype": "float32", "sparse": False, "name": input_name},
            "registered_name": None,
        }
    else:
        inp = {"class_name": "InputLayer", "config": {"batch_input_shape": batch_shape, "dtype": "float32", "sparse": False, "name": input_name}}
    if functional:
        inp["name"] = input_name
        inp["inbound_nodes"] = []
        body = {
            "name": name,
            "trainable": True,
            "layers": [inp, *out_layers],
            "input_layers": [input_name, 0, 0] if k3 else [[input_name, 0, 0]],
            "output_layers": [prev, 0, 0] if k3 else [[prev, 0, 0]],
        }
        cls_name = "Functional" if k3 else "Model"
    else:
        body = {"name": name, "layers": [inp, *out_layers] if k3 else out_layers}
        if k3:
            body.update(trainable=True, dtype=_K3_DTYPE, build_input_shape=batch_shape)
        cls_name = "Sequential"
    config: dict[str, Any] = {"class_name": cls_name, "config": body}
    if k3:
        config = {"module": "keras" if cls_name == "Sequential" else "keras.src.models.functional", **config,
                  "registered_name": None if cls_name == "Sequential" else "Functional"}
    return config


def keras_bytes(config: dict[str, Any], keras_version: str = "3.15.1") -> bytes:
    """A ``.keras`` archive (config.json + metadata.json, no weights), byte-for-byte reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, obj in (
            ("metadata.json", {"keras_version": keras_version, "date_saved": "2026-01-01@00:00:00"}),
            ("config.json", config),
        ):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(obj))
    return buf.getvalue()


def write_keras(path: str | Path, config: dict[str, Any], keras_version: str = "3.15.1") -> Path:
    p = Path(path)
    p.write_bytes(keras_bytes(config, keras_version))
    return p


def keras22_form(config: dict[str, Any]) -> dict[str, Any]:
    """Keras 2.2's Sequential form: ``config`` is the plain list of layers."""
    if config.get("class_name") == "Sequential" and isinstance(config.get("config"), dict):
        return {"class_name": "Sequential", "config": list(config["config"]["layers"])}
    return config


def write_h5(path: str | Path, config: dict[str, Any], keras_version: str = "3.15.1") -> Path:
    """An HDF5 model file as ``model.save("x.h5")`` writes it, minus the weights."""
    import h5py

    if keras_version.startswith("2.2"):
        config = keras22_form(config)
    p = Path(path)
    with h5py.File(p, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")
    return p


def jansma_keras22_config(rate: float = 0.5, *, classes: int = 100) -> dict[str, Any]:
    """The experiment's saved Sequential model (Keras 2.2.0): 10 x [Conv2D - Dropout(rate) -
    Activation(relu)] with 4 max-pools, then Flatten - Dense(classes, softmax), in Keras 2.2's
    plain-list Sequential form with its automatic layer names (conv2d_1, dropout_1, ...)."""
    layers: list[dict[str, Any]] = []
    n: dict[str, int] = {}

    def add(cls: str, base: str, **cfg: Any) -> None:
        n[base] = n.get(base, 0) + 1
        layers.append({"class_name": cls, "config": {"name": f"{base}_{n[base]}", "trainable": True, **cfg}})

    for step in [60, 60, "pool", 60, 60, "pool", 60, 60, "pool", 60, 60, "pool", 100, 100]:
        if step == "pool":
            add("MaxPooling2D", "max_pooling2d", pool_size=[2, 2], padding="valid", strides=[2, 2],
                data_format="channels_last")
            continue
        extra = {"batch_input_shape": [None, *INPUT_HWC], "dtype": "float32"} if not layers else {}
        add("Conv2D", "conv2d", **extra, filters=step, kernel_size=[3, 3], strides=[1, 1], padding="same",
            data_format="channels_last", dilation_rate=[1, 1], activation="linear", use_bias=True,
            kernel_initializer={"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
                                                                           "distribution": "uniform", "seed": None}},
            bias_initializer={"class_name": "Zeros", "config": {}}, kernel_regularizer=None,
            bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None)
        add("Dropout", "dropout", rate=rate, noise_shape=None, seed=None)
        add("Activation", "activation", activation="relu")
    add("Flatten", "flatten", data_format="channels_last")
    add("Dense", "dense", units=classes, activation="softmax", use_bias=True)
    return {"class_name": "Sequential", "config": layers}
