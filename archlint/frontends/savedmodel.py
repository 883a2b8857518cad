"""TensorFlow SavedModel folders (``saved_model.pb`` inside).

A SavedModel written by ``model.save("folder")`` in Keras 2 / tf.keras keeps
the Keras model config in ``keras_metadata.pb`` (a ``SavedMetadata`` proto
whose ``root`` node's metadata is the model's JSON). Its message classes ship
with TensorFlow, so this frontend imports tensorflow, only when called; without
it the user gets a :class:`MissingExtraError` naming the ``keras`` extra.

The config then goes through the Keras frontend (:func:`archlint.frontends.keras.build_config`),
so findings are the same as for the ``.keras`` / ``.h5`` form of the model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, MissingExtraError
from archlint.graph import Graph

_PROTO_MODULES = (
    "tf_keras.protobuf.saved_metadata_pb2",
    "keras.protobuf.saved_metadata_pb2",
    "keras.src.protobuf.saved_metadata_pb2",
    "tensorflow.python.keras.protobuf.saved_metadata_pb2",
)
MAX_METADATA_BYTES = 256 * 1024 * 1024


def load(path: str | Path, options: Any = None) -> Graph:
    del options
    p = Path(path)
    try:
        import tensorflow  # noqa: F401 - only to learn whether the extra is installed
    except ImportError:
        raise MissingExtraError(path, "a TensorFlow SavedModel folder", "keras") from None
    meta_file = p / "keras_metadata.pb"
    if not meta_file.is_file():
        raise LoadError(
            path,
            "SavedModel without keras_metadata.pb (written by tf.saved_model.save or Keras 3 model.export): "
            "it holds TensorFlow graphs, not a Keras architecture; save the model with model.save('model.keras')",
        )
    if meta_file.stat().st_size > MAX_METADATA_BYTES:
        raise LoadError(path, "keras_metadata.pb is larger than archlint reads")
    proto = _metadata_class()
    if proto is None:
        raise LoadError(path, "this TensorFlow install cannot read keras_metadata.pb (no saved_metadata_pb2 module)")
    msg = proto()
    try:
        msg.ParseFromString(meta_file.read_bytes())
    except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise LoadError(path, f"keras_metadata.pb is corrupt ({type(e).__name__})") from None
    root = next((n for n in msg.nodes if n.node_path == "root"), None)
    if root is None:
        raise LoadError(path, "keras_metadata.pb has no root object")
    from archlint.frontends._limits import parse_json

    meta = parse_json(root.metadata, path, "keras_metadata.pb root metadata")
    if not isinstance(meta, dict):
        raise LoadError(path, "keras_metadata.pb root metadata is not a model")
    from archlint.frontends.keras import build_config

    config = {"class_name": meta.get("class_name"), "config": meta.get("config")}
    extra = {"training_config": meta["training_config"]} if isinstance(meta.get("training_config"), dict) else {}
    graph = build_config(config, name=p.name, path=str(path), meta={"saved_model": True, **extra})
    graph.format = "savedmodel"
    return graph


def _metadata_class() -> Any:
    for mod in _PROTO_MODULES:
        try:
            return importlib.import_module(mod).SavedMetadata
        except (ImportError, AttributeError):
            continue
    return None
