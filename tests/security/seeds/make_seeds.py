"""Build the fuzzing seeds: small valid model files of each format archlint reads.

    python tests/security/seeds/make_seeds.py        # (re)write the seed files here

ONNX seeds are the committed fixtures (fixtures/onnx); this writes the others
without Keras or TensorFlow: ``.keras`` zips (Keras 3 layout: config.json,
metadata.json, model.weights.h5), a Keras 2.2-era ``.h5`` (root attribute
``model_config``, a plain list of layers, separate Activation layers) and a
``.pt2`` from ``torch.export.save`` (needs torch; skipped without it).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _k3_layer(cls: str, name: str, inbound: list[str] | None = None, **config: object) -> dict:
    layer: dict = {
        "module": "keras.layers",
        "class_name": cls,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
        "name": name,
    }
    if inbound is not None:
        layer["inbound_nodes"] = [
            {"args": [{"class_name": "__keras_tensor__", "config": {"shape": [None], "dtype": "float32",
                                                                  "keras_history": [i, 0, 0]}} for i in inbound],
             "kwargs": {}}
        ]
    return layer


def _conv(name: str, filters: int, **kw: object) -> dict:
    return {"filters": filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
            "activation": "linear", "use_bias": True, **kw}


def keras3_sequential() -> dict:
    layers = [
        _k3_layer("InputLayer", "input_layer", batch_shape=[None, 32, 32, 3], sparse=False),
        _k3_layer("Conv2D", "conv2d", **_conv("conv2d", 16)),
        _k3_layer("Dropout", "dropout", rate=0.3, seed=None, noise_shape=None),
        _k3_layer("Activation", "activation", activation="relu"),
        _k3_layer("Conv2D", "conv2d_1", **_conv("conv2d_1", 16)),
        _k3_layer("BatchNormalization", "batch_normalization", axis=-1, momentum=0.99, epsilon=0.001),
        _k3_layer("Activation", "activation_1", activation="relu"),
        _k3_layer("MaxPooling2D", "max_pooling2d", pool_size=[2, 2], strides=[2, 2], padding="valid",
                  data_format="channels_last"),
        _k3_layer("Flatten", "flatten", data_format="channels_last"),
        _k3_layer("Dense", "dense", units=10, activation="softmax", use_bias=True),
    ]
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "sequential", "trainable": True, "dtype": "float32", "layers": layers},
            "registered_name": None, "build_config": {"input_shape": [None, 32, 32, 3]}}


def keras3_functional() -> dict:
    layers = [
        _k3_layer("InputLayer", "input_layer", batch_shape=[None, 16, 16, 3], sparse=False),
        _k3_layer("Conv2D", "conv_a", ["input_layer"], **_conv("conv_a", 8)),
        _k3_layer("Activation", "relu_a", ["conv_a"], activation="relu"),
        _k3_layer("Conv2D", "conv_b", ["relu_a"], **_conv("conv_b", 8)),
        _k3_layer("Add", "add", ["relu_a", "conv_b"]),
        _k3_layer("GlobalAveragePooling2D", "gap", ["add"], data_format="channels_last", keepdims=False),
        _k3_layer("Dense", "head", ["gap"], units=5, activation="softmax", use_bias=True),
    ]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "functional", "trainable": True, "layers": layers,
                       "input_layers": [["input_layer", 0, 0]], "output_layers": [["head", 0, 0]]},
            "registered_name": "Functional"}


def _weights_h5() -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers")
        f.create_group("vars")
    return buf.getvalue()


def write_keras(path: Path, config: dict, compression: int = zipfile.ZIP_STORED) -> None:
    meta = {"keras_version": "3.6.0", "date_saved": "2024-01-01@00:00:00"}
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", _weights_h5())


def keras2_config() -> dict:
    def layer(cls: str, name: str, **config: object) -> dict:
        return {"class_name": cls, "config": {"name": name, "trainable": True, **config}}

    conv = {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last",
            "dilation_rate": [1, 1], "activation": "linear", "use_bias": True}
    return {"class_name": "Sequential", "config": [
        layer("Conv2D", "conv2d_1", filters=32, batch_input_shape=[None, 32, 32, 3], dtype="float32", **conv),
        layer("Dropout", "dropout_1", rate=0.3, noise_shape=None, seed=None),
        layer("Activation", "activation_1", activation="relu"),
        layer("Conv2D", "conv2d_2", filters=32, **conv),
        layer("Activation", "activation_2", activation="relu"),
        layer("MaxPooling2D", "max_pooling2d_1", pool_size=[2, 2], strides=[2, 2], padding="valid",
              data_format="channels_last"),
        layer("Flatten", "flatten_1", data_format="channels_last"),
        layer("Dense", "dense_1", units=100, activation="softmax", use_bias=True),
    ]}


def write_h5(path: Path, config: dict) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.2.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["training_config"] = json.dumps({"optimizer_config": {"class_name": "RMSprop"}}).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [l["config"]["name"].encode() for l in config["config"]]


def write_pt2(path: Path) -> bool:
    try:
        import torch
        from torch import nn
    except ImportError:
        return False
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.Dropout(0.3), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    ).eval()
    ep = torch.export.export(m, (torch.randn(1, 3, 8, 8),))
    torch.export.save(ep, str(path))
    return True


def write_pt(folder: Path) -> bool:
    """Two torch.save files: a state_dict (weights only) and a pickled module (refused: code)."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return False
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    torch.save(m.state_dict(), folder / "state_dict.pt")
    torch.save(m, folder / "module.pt")
    return True


def write_cifar(folder: Path) -> None:
    """Tiny CIFAR-10 batches (2 images) in the pickle protocols the official files and numpy use."""
    import sys

    sys.path.insert(0, str(HERE.parents[2]))
    from tests.security import hostile3

    for protocol in (2, 4):
        (folder / f"batch_p{protocol}.cifar").write_bytes(hostile3.cifar_batch(2, protocol=protocol))


def main() -> None:
    for sub in ("keras", "h5", "pt2", "pt", "cifar"):
        (HERE / sub).mkdir(exist_ok=True)
    if not write_pt(HERE / "pt"):
        print("torch not installed: .pt seeds not written")
    write_cifar(HERE / "cifar")
    write_keras(HERE / "keras" / "sequential_cnn.keras", keras3_sequential())
    write_keras(HERE / "keras" / "functional_residual.keras", keras3_functional(), zipfile.ZIP_DEFLATED)
    write_h5(HERE / "h5" / "keras22_cnn.h5", keras2_config())
    if not write_pt2(HERE / "pt2" / "cnn.pt2"):
        print("torch not installed: .pt2 seed not written")


if __name__ == "__main__":
    main()
