"""Keras frontend: the model config of a ``.keras`` or ``.h5`` file into the common graph.

Imports neither keras nor tensorflow. A ``.keras`` file is a zip archive whose
``config.json`` holds the model config; an ``.h5``/``.hdf5`` file written by
``model.save`` holds it as the root attribute ``model_config`` (Keras 3 and
Keras 2.x, including the Keras 2.2 form where a Sequential ``config`` is a
plain list of layers). Only that JSON is read: weights are never opened,
Lambda and custom layers are never deserialised (they become UNKNOWN nodes
with their names), no module named in the config is imported.

Naming (see docs/keras.md):

- every node's ``layer`` is the Keras layer name;
- a fused ``activation=`` argument becomes a second node ``<layer>/<act>``
  with the same ``layer`` and op_type ``"<act> (fused)"``;
- SeparableConv2D becomes a depthwise CONV ``<layer>/depthwise`` and a 1x1
  CONV ``<layer>/pointwise``, both with the layer's name;
- layers of a nested model (a Sequential or functional model used as a layer)
  are inlined as ``<inner model>/<layer>`` (``a/b/<layer>`` when deeper).

Shapes are converted from Keras' channels-last layout to the IR's canonical
``(N, C, *spatial)``; parameter counts are computed from the config and the
propagated shapes (trainable weights, as the ONNX frontend counts them).
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import select
import signal
import time
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, plain_reason
from archlint.frontends._keras_training import layer_init, layer_regularizers, training
from archlint.graph import WEIGHT_KINDS, Graph, GraphBuilder, Node, OpKind, names
from archlint.graph.attrs import matmul_attrs
from archlint.graph.passes import finish
from archlint.graph.shapes import matmul_shape, output_shape

#: largest config.json archlint reads from a .keras archive (uncompressed)
MAX_CONFIG_BYTES = 64 * 1024 * 1024
#: the metadata.json fields archlint keeps (strings only)
_META_KEYS = ("keras_version", "backend", "date_saved")
#: most layers archlint inlines (nested models included)
MAX_LAYERS = 200_000
#: nested models called many times multiply layers: at most this many layer calls
#: per layer object written in the file (plus EXPANSION_SLACK), so a few hundred
#: bytes of models nested in models cannot stand for millions of layers
EXPANSION_FACTOR = 16
EXPANSION_SLACK = 10_000
#: address space the h5py child may add to what it inherits (RLIMIT_AS)
H5_MEMORY_BYTES = 512 * 1024 * 1024
#: seconds the HDF5 reader may take for the root attributes before the file counts as corrupt
H5_TIMEOUT_S = 10.0

_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"

_ACT_NAMES = names.activations("keras")
_DROPOUTS = names.dropouts("keras")
_MERGES = {
    "Add": (OpKind.ADD, "add"),
    "Subtract": (OpKind.ADD, "subtract"),
    "Average": (OpKind.ADD, "average"),
    "Maximum": (OpKind.ADD, "maximum"),
    "Minimum": (OpKind.ADD, "minimum"),
    "Multiply": (OpKind.MUL, "multiply"),
    "Concatenate": (OpKind.CONCAT, "concatenate"),
}
_NORMS = names.norms("keras")
_RNNS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn", "CuDNNLSTM": "lstm", "CuDNNGRU": "gru"}
#: layers that pass features through unchanged as far as the rules care
_PASSTHROUGH = {
    "GaussianNoise",  # additive noise, not dropout
    "ActivityRegularization",
    "Masking",
    "Rescaling",
    "Normalization",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomContrast",
    "RandomBrightness",
}
_CONV = re.compile(r"^(Conv|Convolution)([123])D(Transpose)?$|^Deconvolution([23])D$")
_SEPARABLE = re.compile(r"^Separable(Conv|Convolution)([12])D$")
_DEPTHWISE = re.compile(r"^DepthwiseConv([12])D$")
_POOL = re.compile(r"^(Max|Average|Avg)Pool(ing)?([123])D$")
_GLOBAL_POOL = re.compile(r"^Global(Max|Average|Avg)Pool(ing)?([123])D$")
_PADDING = re.compile(r"^ZeroPadding([123])D$")
_CROPPING = re.compile(r"^Cropping([123])D$")
_UPSAMPLING = re.compile(r"^UpSampling([123])D$")

Shape = tuple[int | None, ...]

#: layer classes the converter reads by name (beside the patterns below)
KNOWN_LAYERS = frozenset({
    "Dense", "EinsumDense", "BatchNormalization", "SyncBatchNormalization", "Embedding", "ReversibleEmbedding",
    "MultiHeadAttention", "Bidirectional", "Flatten", "Reshape", "Permute", "Activation", "ReLU", "LeakyReLU",
    "PReLU", "ELU", "Softmax", "ThresholdedReLU", "Split", "GetItem", "Pad", "Resizing", "LayerScale",
    "CustomScaleLayer", "Matmul", "Einsum",
    *_NORMS, *_RNNS, *_DROPOUTS, *_MERGES, *_PASSTHROUGH,
})
KNOWN_LAYER_PATTERNS = (_CONV, _SEPARABLE, _DEPTHWISE, _POOL, _GLOBAL_POOL, _PADDING, _CROPPING, _UPSAMPLING)


# -- reading the files -------------------------------------------------------


def load(path: str | Path, options: Any = None) -> Graph:
    """Read a ``.keras`` or ``.h5``/``.hdf5`` model file; raise :class:`LoadError`."""
    del options  # nothing in a Keras config needs trust: code is never run
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise LoadError(path, f"cannot read: {e.strerror or e}") from None
    if size == 0:
        raise LoadError(path, "empty file, not a Keras model")
    if p.suffix.lower() == ".keras":
        if not head.startswith(_ZIP_MAGIC):
            hint = " (it is an HDF5 file: rename it to .h5)" if head.startswith(_HDF5_MAGIC) else ""
            raise LoadError(path, f"not a zip archive, so not a Keras .keras file{hint}")
        config, meta = read_keras_zip(p)
        fmt = "keras"
    else:
        if not head.startswith(_HDF5_MAGIC):
            hint = " (it is a zip archive: a Keras 3 .keras file? rename it)" if head.startswith(_ZIP_MAGIC) else ""
            raise LoadError(path, f"not an HDF5 file, so not a Keras .h5 model{hint}")
        config, meta = read_h5(p)
        fmt = "h5"
    package = registered_package(config)
    if package is not None:
        return _load_through_keras(p, config, package)
    try:
        graph = build_config(config, name=p.stem, path=str(path), meta=meta, weights_format=fmt)
    except (TypeError, AttributeError, KeyError, IndexError) as e:
        # a config of the wrong shape somewhere deep (a list where a name belongs ...)
        raise LoadError(path, f"malformed Keras model config: {plain_reason(e)}") from None
    cov = graph.coverage()
    if cov["unknown"] or cov["shapeless"]:  # the count may miss weights: say how many the file holds
        total = file_param_total(p)
        if total is not None:
            graph.meta["file_params"] = total
    return graph


#: packages whose registered classes archlint builds through Keras itself (safe_mode on)
KERAS_PACKAGES = ("keras_hub", "keras_nlp", "keras_cv")


def registered_package(config: Any) -> str | None:
    """The allow-listed package (keras-hub ...) whose registered class the model's
    top level is, e.g. ``"keras_hub>BertBackbone"``: its config holds constructor
    arguments, not layers, so only building it shows its structure."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) \
            or config.get("class_name") in _MODEL_CLASSES:  # a list there is unhashable: not a package class
        return None
    reg = config.get("registered_name")
    module = config.get("module")
    for name in (reg.split(">", 1)[0] if isinstance(reg, str) and ">" in reg else None,
                 module.split(".", 1)[0] if isinstance(module, str) else None):
        if name in KERAS_PACKAGES:
            return name
    return None


def foreign_modules(config: Any, depth: int = 0, out: set[str] | None = None) -> set[str]:
    """Every module the config names (``module`` fields, ``registered_name``
    packages) outside Keras and the allow-listed packages: Keras would import
    them while deserialising, so their presence stops the build."""
    out = set() if out is None else out
    if depth > 200:
        out.add("(nested too deeply)")
        return out
    if isinstance(config, dict):
        mod = config.get("module")
        if isinstance(mod, str) and mod.split(".", 1)[0] not in ("keras", *KERAS_PACKAGES):
            out.add(mod)
        reg = config.get("registered_name")
        if isinstance(reg, str) and ">" in reg and reg.split(">", 1)[0] not in ("keras", *KERAS_PACKAGES):
            out.add(reg.split(">", 1)[0])
        if config.get("class_name") in ("Lambda", "__lambda__", "TFOpLambda"):
            out.add("(a Lambda layer)")
        for v in config.values():
            foreign_modules(v, depth + 1, out)
    elif isinstance(config, list):
        for v in config:
            foreign_modules(v, depth + 1, out)
    return out


def _load_through_keras(path: Path, config: dict[str, Any], package: str) -> Graph:
    """Build a model whose class an allow-listed package registers with Keras itself
    (``safe_mode=True``), then read it by running it once
    (:mod:`archlint.frontends.keras_live`). Only the allow-listed package and Keras are
    imported, and only when every module the config names is one of theirs."""
    import importlib.util

    cls = config.get("class_name")
    # Keras drops the top-level compile_config when it loads with compile=False (as here), so
    # the loss a task model compiled itself with (keras-hub's DepthAnything: a plain function
    # Keras writes as module "builtins") is never deserialised: it is not read here either
    foreign = foreign_modules({k: v for k, v in config.items() if k != "compile_config"})
    if foreign:
        raise LoadError(path, f"the {cls!r} model names code outside Keras and {package} "
                              f"({', '.join(sorted(foreign)[:3])}): archlint builds registered models only "
                              "when every class comes from Keras or an allow-listed package")
    if importlib.util.find_spec(package) is None or importlib.util.find_spec("torch") is None:
        need = "keras-hub" if package in ("keras_hub", "keras_nlp") else package.replace("_", "-")
        raise LoadError(path, f"model config holds a {cls!r}, a class registered by {package}, saved as its "
                              f"constructor arguments, not its layers: pip install {need} torch to let archlint "
                              "build it through Keras (safe mode), or lint the live model with archlint.check(model)")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras

        importlib.import_module(package)  # registers its classes with Keras
        from archlint.frontends.keras_live import from_model

        with _quiet_build():
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001 - Keras raises many types on a file it cannot build
        raise LoadError(path, f"Keras could not build the {cls!r} model ({type(e).__name__}: {str(e)[:200]})") from None
    graph = from_model(model, Loader, name=path.stem, path=str(path))
    graph.meta["keras_class"] = cls
    graph.meta["built_with"] = package
    graph.meta["file_params"] = int(model.count_params())
    return graph


def _quiet_build() -> Any:
    """Keras and the package print while they build: keep stdout clean for JSON reports."""
    import contextlib
    import sys

    return contextlib.redirect_stdout(sys.stderr)


def read_keras_zip(path: Path) -> tuple[Any, dict[str, Any]]:
    """``config.json`` (and ``metadata.json``) of a ``.keras`` archive, size-capped."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "config.json" not in names:
                what = "model.weights.h5 only" if "model.weights.h5" in names else f"{len(names)} entries"
                raise LoadError(path, f"no config.json inside the .keras archive ({what}): not a saved Keras model")
            config_text = _read_member(zf, "config.json", path)
            meta: dict[str, Any] = {}
            if "metadata.json" in names:
                try:
                    raw = _parse_json(_read_member(zf, "metadata.json", path), path, "metadata.json")
                    # only the fields archlint uses, as text: "notes": 5 must not reach the report
                    meta = {k: raw[k] for k in _META_KEYS if isinstance(raw, dict) and isinstance(raw.get(k), str)}
                except LoadError:
                    meta = {}
    except zipfile.BadZipFile as e:
        raise LoadError(path, f"corrupt .keras zip archive ({e})") from None
    except (NotImplementedError, UnicodeDecodeError) as e:  # unknown zip feature, member names not UTF-8
        raise LoadError(path, f"the .keras archive uses an unsupported zip feature ({type(e).__name__})") from None
    except OSError as e:
        raise LoadError(path, f"cannot read the .keras archive: {e.strerror or e}") from None
    return _parse_json(config_text, path, "config.json"), meta


def _read_member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > MAX_CONFIG_BYTES:
        raise LoadError(
            path,
            f"{name} is {info.file_size / 2**20:.0f} MiB uncompressed, over archlint's "
            f"{MAX_CONFIG_BYTES // 2**20} MiB limit for a model config",
        )
    try:
        with zf.open(info) as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)  # bounded: the header may lie
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise LoadError(path, f"{name} in the .keras archive is corrupt ({e})") from None
    except NotImplementedError as e:
        raise LoadError(path, f"{name} uses an unsupported zip feature ({e})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise LoadError(path, f"{name} inflates past archlint's {MAX_CONFIG_BYTES // 2**20} MiB limit (zip bomb?)")
    return data


def _parse_json(data: bytes | str, path: Path, what: str) -> Any:
    from archlint.frontends._limits import parse_json

    return parse_json(data, path, what)


def read_h5(path: Path) -> tuple[Any, dict[str, Any]]:
    """The root ``model_config`` attribute of a Keras HDF5 file: read directly when
    :mod:`archlint.frontends._hdf5` understands the file, else with h5py."""
    from archlint.frontends._hdf5 import TooLarge, read_root_attrs

    try:
        with open(path, "rb") as fh:
            fast = read_root_attrs(
                fh, path.stat().st_size, ("model_config", "keras_version", "backend", "training_config")
            )
    except OSError:
        fast = None
    except TooLarge as e:
        raise LoadError(path, f"not read: {e} (a memory bomb?)") from None
    if fast and "model_config" in fast:
        meta = {k: _text(fast[k]) for k in ("keras_version", "backend", "training_config") if k in fast}
        return _parse_json(_text(fast["model_config"]), path, "model_config"), meta
    return _read_h5py(path)


def _read_h5py(path: Path) -> tuple[Any, dict[str, Any]]:
    """The root ``model_config`` attribute of a Keras HDF5 file, read with h5py
    in a forked child with a time limit: a corrupt file can make the HDF5
    library loop forever in C, where no signal reaches it."""
    if not hasattr(os, "fork"):
        return _config_from_h5(path, *_read_h5_attrs(path))

    def work() -> dict[str, Any]:
        raw, meta = _read_h5_attrs(path)
        text = _text(raw)
        return {"raw": text if isinstance(text, str) else None, "meta": meta}

    msg = _in_h5py_child(path, work)
    return _config_from_h5(path, msg.get("raw"), msg.get("meta") or {})


def _in_h5py_child(path: Path, work: Any) -> dict[str, Any]:
    """Run ``work() -> dict`` (h5py reading ``path``) in a forked child with a time
    and an address-space limit, and return its JSON answer; a :class:`LoadError`
    raised there comes back as one."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: read, send JSON back, exit without cleanup handlers
        os.close(rfd)
        try:
            _limit_address_space(H5_MEMORY_BYTES)
            try:
                msg = work()
            except LoadError as e:
                msg = {"error": e.problem}
            data = json.dumps(msg, default=str).encode()
            while data:
                data = data[os.write(wfd, data) :]
        finally:
            os._exit(0)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + H5_TIMEOUT_S
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                raise LoadError(path, f"reading the HDF5 file did not finish in {H5_TIMEOUT_S:g} s (corrupt file?)")
            chunk = os.read(rfd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunks) > 2 * MAX_CONFIG_BYTES >> 20:  # the child may only send a config's worth
                raise LoadError(path, f"the HDF5 model_config is larger than archlint's {MAX_CONFIG_BYTES // 2**20} MiB limit")
    finally:
        os.close(rfd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    try:
        msg = json.loads(b"".join(chunks))
    except ValueError:
        raise LoadError(path, "not a readable HDF5 file (the reader stopped unexpectedly)") from None
    if "error" in msg:
        raise LoadError(path, msg["error"])
    return msg


#: weight arrays counted in a weights file before the count stops (a hostile file's fan-out)
MAX_WEIGHT_ARRAYS = 200_000


def file_param_total(path: Path) -> int | None:
    """The number of weights the file stores for the model (what Keras's
    ``count_params()`` counts, non-trainable statistics included): the arrays
    under ``layers/`` in a ``.keras`` archive's ``model.weights.h5``, under
    ``model_weights`` in a ``.h5``. Read with h5py in the limited child; None
    where the file has no weights or cannot be read."""
    if not hasattr(os, "fork"):
        return None

    def work() -> dict[str, Any]:
        import h5py

        count = [0, 0]

        def visit(_name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                count[1] += 1
                if count[1] > MAX_WEIGHT_ARRAYS:
                    raise LoadError(path, "too many weight arrays")
                count[0] += math.prod(obj.shape or ())

        try:
            if path.suffix.lower() == ".keras":
                with zipfile.ZipFile(path) as zf:
                    if "model.weights.h5" not in zf.namelist():
                        return {"total": None}
                    with zf.open("model.weights.h5") as fh, h5py.File(fh, "r") as f:
                        if "layers" not in f:
                            return {"total": None}
                        f["layers"].visititems(visit)
            else:
                with h5py.File(path, "r") as f:
                    if "model_weights" not in f:
                        return {"total": None}
                    f["model_weights"].visititems(visit)
        except LoadError:
            return {"total": None}
        except Exception:  # noqa: BLE001 - h5py and zipfile raise many types on corrupt files
            return {"total": None}
        return {"total": count[0]}

    try:
        total = _in_h5py_child(path, work).get("total")
    except LoadError:
        return None
    return total if isinstance(total, int) and total > 0 else None


def _limit_address_space(extra: int) -> None:
    """In the h5py child: at most ``extra`` bytes of address space beyond what
    the process (a fork of archlint) already maps, so a corrupt file cannot
    make the HDF5 library allocate gigabytes (it fails, the parent reports)."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + extra
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no rlimits: the time limit still holds


def _read_h5_attrs(path: Path) -> tuple[Any, dict[str, Any]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            if "model_config" not in attrs:
                fix = ("save the whole model with model.save('model.keras') or model.save('model.h5'), "
                       "not model.save_weights()")
                if "layer_names" in attrs or "model_weights" in f or len(f.keys()):
                    raise LoadError(path, f"holds weights, not an architecture (no model_config attribute): {fix}")
                raise LoadError(path, f"an HDF5 file without a Keras model (no model_config attribute): {fix}")
            raw = attrs["model_config"]
            meta = {k: _text(attrs[k]) for k in ("keras_version", "backend", "training_config") if k in attrs}
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001 - h5py raises many types on corrupt files
        raise LoadError(path, f"not a readable HDF5 file (truncated or corrupt: {plain_reason(e)})") from None
    return raw, meta


def _config_from_h5(path: Path, raw: Any, meta: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    text = _text(raw)
    if not isinstance(text, str):
        raise LoadError(path, "model_config attribute is not a JSON string")
    return _parse_json(text, path, "model_config"), meta


def _text(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if hasattr(v, "tolist") and not isinstance(v, str):  # numpy scalar or 0-d array
        v = v.tolist()
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return v


# -- config into graph -------------------------------------------------------


def from_config(config: Any, *, name: str = "model", path: str = "", meta: dict[str, Any] | None = None) -> Graph:
    """A Keras model config (the ``{"class_name": ..., "config": ...}`` dict) as a
    finished graph: built, then the pass pipeline (``load_graph`` does the same for a file)."""
    return finish(build_config(config, name=name, path=path, meta=meta))


def build_config(config: Any, *, name: str = "model", path: str = "", meta: dict[str, Any] | None = None,
                 weights_format: str | None = None) -> Graph:
    """A Keras model config (the ``{"class_name": ..., "config": ...}`` dict) into a graph, as built.

    ``weights_format`` ("keras" or "h5"): the file at ``path`` holds the weights;
    its nodes then record how to run them (:mod:`archlint.frontends._keras_exec`)."""
    path = path or name
    if not isinstance(config, dict) or "class_name" not in config:
        raise LoadError(path, "model config is not a Keras model (expected an object with class_name and config)")
    cls = config.get("class_name")
    body = config.get("config")
    if not isinstance(cls, str):
        raise LoadError(path, f"model config's class_name is a {type(cls).__name__}, not a name")
    if cls not in _MODEL_CLASSES:
        kind = _model_kind(body)
        if kind is None:
            what = "a layer" if isinstance(body, dict) and "layers" not in body and "name" in body else "no layer list"
            raise LoadError(
                path,
                f"model config holds a {cls!r}, not a model (Sequential, Functional or Model): {what}; "
                "a subclassed model's config does not describe its layers, so archlint cannot see them",
            )
        config = {**config, "class_name": kind}  # a subclass of Sequential or Functional
    loader = Loader(name, path, channels_last=_data_format(config) != "channels_first")
    if weights_format:
        from archlint.frontends._keras_exec import KerasWeights

        loader.weights = KerasWeights(path, weights_format)
    written = _count_objects(config, path)
    loader.max_layers = min(MAX_LAYERS, EXPANSION_FACTOR * written + EXPANSION_SLACK)
    loader.written = written
    try:
        outs = loader.model(config, inputs=None, prefix="")
    except RecursionError:
        raise LoadError(path, "model config nested too deeply to read") from None
    except (TypeError, KeyError, IndexError, AttributeError, ValueError) as e:
        raise LoadError(path, f"malformed Keras model config: {plain_reason(e)}") from None
    for v in outs:
        loader.b.mark_output(v)
    graph = loader.b.finish()
    if loader.weights is not None:
        graph.meta["weights"] = loader.weights.table
    meta = dict(meta or {})
    raw_training = meta.pop("training_config", None)
    graph.meta.update(meta)
    graph.meta["keras_class"] = cls  # the saved class name, custom subclasses included
    graph.meta["non_trainable_params"] = sum(int(n.attrs.get("non_trainable", 0) or 0) for n in graph.nodes)
    train = _training_meta(config, raw_training, path)
    if train is not None:
        graph.meta["training"] = train
    return graph


def _training_meta(config: dict[str, Any], raw_training: Any, path: str | Path = "") -> dict[str, Any] | None:
    """The loss, optimizer and metrics: Keras 3 ``compile_config`` in config.json, or the
    Keras 2 ``training_config`` (a JSON string in an .h5, a dict in SavedModel metadata). The
    string goes through the capped parser: a memory bomb is refused, a broken one ignored."""
    if isinstance(config.get("compile_config"), dict):
        return training(config["compile_config"], "compile_config")
    if isinstance(raw_training, str):
        from archlint.frontends._limits import JSONBombError, parse_json

        try:
            raw_training = parse_json(raw_training, path, "the model's training_config")
        except JSONBombError:
            raise
        except LoadError:
            return None
    if isinstance(raw_training, dict):
        return training(raw_training, "training_config")
    return None


#: the largest integer a Keras config may hold (a width, a kernel size, a seed)
MAX_CONFIG_INT = 2**63


def _count_objects(config: Any, path: str = "") -> int:
    """How many JSON objects with a ``class_name`` the config holds (an
    explicit stack: no recursion, whatever the nesting). An integer beyond
    int64 (``"units": 10**2500``) is refused here: no layer has such a size,
    and arithmetic on it breaks every message and report."""
    n = 0
    stack = [config]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            n += "class_name" in x
            vals: Any = x.values()
        elif isinstance(x, list):
            vals = x
        else:
            continue
        for v in vals:
            if isinstance(v, (dict, list)):
                stack.append(v)
            elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_CONFIG_INT:
                digits = int(v.bit_length() * 0.30103) + 1
                raise LoadError(path, f"the model config holds an integer of about {digits:,} digits, not a layer setting")
    return n


def _model_kind(body: Any) -> str | None:
    """For a custom model class: "Functional" or "Sequential" when its config has their shape."""
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        return None
    return "Functional" if "input_layers" in body and "output_layers" in body else "Sequential"


def _data_format(config: Any, depth: int = 0) -> str | None:
    """The first ``data_format`` named anywhere in the config."""
    if depth > 200:
        return None
    if isinstance(config, dict):
        df = config.get("data_format")
        if df in ("channels_first", "channels_last"):
            return df
        for v in config.values():
            if isinstance(v, (dict, list)):
                found = _data_format(v, depth + 1)
                if found:
                    return found
    elif isinstance(config, list):
        for v in config:
            found = _data_format(v, depth + 1)
            if found:
                return found
    return None


def _tup(v: Any, n: int, default: int = 1) -> tuple[int, ...]:
    if v is None:
        return (default,) * n
    if isinstance(v, (int, float)):
        return (int(v),) * n
    out = tuple(int(x) for x in v)
    if not out:
        return (default,) * n
    return (out + (out[-1],) * n)[:n]


def _act_name(act: Any) -> str | None:
    """A Keras activation (string, or Keras 3 serialised function) as a name."""
    if act is None:
        return None
    if isinstance(act, dict):
        inner = act.get("config")
        act = inner if isinstance(inner, str) else act.get("registered_name") or act.get("class_name")
    if not isinstance(act, str):
        return "custom"
    key = act.rsplit(">", 1)[-1].rsplit(".", 1)[-1].lower()
    return _ACT_NAMES.get(key, key)


Ref = tuple[str, int, int]


def _refs(obj: Any, out: list[Ref], depth: int = 0, shapes: dict[Ref, Any] | None = None) -> None:
    """Collect tensor references from a Keras 3 node's args/kwargs, and the shape
    Keras recorded for each referenced tensor (``shapes``, channels-last)."""
    if depth > 50:
        return
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            cfg = obj.get("config") or {}
            h = cfg.get("keras_history") or []
            if len(h) >= 3:
                ref = (str(h[0]), int(h[1]), int(h[2]))
                out.append(ref)
                if shapes is not None and isinstance(cfg.get("shape"), list):
                    shapes.setdefault(ref, cfg["shape"])
            return
        for v in obj.values():
            _refs(v, out, depth + 1, shapes)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out, depth + 1, shapes)


def node_refs(node: Any, shapes: dict[Ref, Any] | None = None) -> list[Ref]:
    """Input references of one inbound node, in Keras 2 or Keras 3 form; Keras 3
    also records each input's shape, collected into ``shapes``."""
    out: list[Ref] = []
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        _refs(node.get("args", []), out, shapes=shapes)
        _refs(node.get("kwargs", {}), out, shapes=shapes)
        return out
    if isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str):  # a single bare ref
            node = [node]
        for ref in node:  # Keras 2: [["name", node_idx, tensor_idx, {kwargs}], ...]
            if isinstance(ref, list) and len(ref) >= 3 and isinstance(ref[0], str):
                out.append((ref[0], int(ref[1]), int(ref[2])))
    return out


def _io_refs(spec: Any) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers``: one ``[name, i, j]`` or a list of them."""
    if not isinstance(spec, list) or not spec:
        return []
    if isinstance(spec[0], str):
        return [(spec[0], int(spec[1]), int(spec[2]))]
    out: list[tuple[str, int, int]] = []
    for r in spec:
        out.extend(_io_refs(r))
    return out


def _noise_shape_flavour(noise_shape: Any, channels_last: bool) -> tuple[str, bool]:
    """A Keras ``Dropout``'s kind from its ``noise_shape``: ``(None, 1, 1, 1)`` keeps or
    drops whole samples (stochastic depth, as keras.applications' EfficientNet
    uses it); ``(None, 1, 1, C)`` whole channels (spatial dropout); anything else,
    element-wise."""
    if not isinstance(noise_shape, (list, tuple)) or len(noise_shape) < 2:
        return "dropout", False
    rest = list(noise_shape[1:])
    if all(d == 1 for d in rest):
        return "stochastic_depth", False
    spatial = rest[:-1] if channels_last else rest[1:]
    channel = rest[-1] if channels_last else rest[0]
    if spatial and all(d == 1 for d in spatial) and channel != 1:
        return "spatial", True
    return "dropout", False


def _weights_config(nodes: list[Node], cfg: dict[str, Any]) -> None:
    """Each weight node's initialisers and regularisers (``attrs["init"]``,
    ``attrs["regularizers"]``); a separable convolution's depthwise and
    pointwise halves get theirs as ``kernel``."""
    init = layer_init(cfg)
    regs = layer_regularizers(cfg)
    if not init and not regs:
        return
    for n in nodes:
        if n.kind not in WEIGHT_KINDS and n.kind not in (OpKind.BATCH_NORM, OpKind.NORM):
            continue
        i, r = dict(init), dict(regs)
        half = "pointwise" if n.op_type.endswith("(pointwise)") else "depthwise" if n.attrs.get("depthwise") else None
        if half:
            for d in (i, r):
                if half in d:
                    d["kernel"] = d[half]
        if i:
            n.attrs["init"] = i
        if r:
            n.attrs["regularizers"] = r



def _getitem_shape(keras_in: Any, index: Any) -> list[int | None] | None:
    """The Keras shape of ``x[index]`` (``GetItem``) from the input's recorded shape:
    an integer drops an axis, a slice keeps it (its length where the bounds say),
    ``None`` adds one; anything else, unknown."""
    if not isinstance(keras_in, list):
        return None
    items = index if isinstance(index, list) else [index]
    out: list[int | None] = []
    axis = 0
    for it in items:
        if isinstance(it, bool):
            return None
        if isinstance(it, int):
            axis += 1
            continue
        if it is None:
            out.append(1)
            continue
        if isinstance(it, dict) and it.get("class_name") == "__slice__":
            if axis >= len(keras_in):
                return None
            c = it.get("config") or {}
            d = keras_in[axis]
            start, stop, step = c.get("start"), c.get("stop"), c.get("step")
            if d is None or not all(v is None or isinstance(v, int) for v in (start, stop, step)) or step == 0:
                out.append(None if (start, stop, step) != (None, None, None) or d is None else d)
            else:
                out.append(len(range(d)[slice(start, stop, step)]))
            axis += 1
            continue
        return None
    if axis > len(keras_in):
        return None
    return [*out, *keras_in[axis:]]


class Loader:
    """Converts Keras layer configs to graph nodes (a saved file's, or a live model's
    layers in :mod:`archlint.frontends.keras_live`)."""

    @staticmethod
    def knows(class_name: str) -> bool:
        """Whether a Keras layer class of this name is converted (not left unknown)."""
        return class_name in KNOWN_LAYERS or any(rx.match(class_name) for rx in KNOWN_LAYER_PATTERNS)

    def __init__(self, name: str, path: str, *, channels_last: bool) -> None:
        self.b = GraphBuilder(name, "keras")
        self.path = path
        self.channels_last = channels_last
        self.layers = 0
        self.max_layers = MAX_LAYERS
        self.written = 0
        self._suffix: dict[str, int] = {}  # base name -> next "#i" to try (8,000 same-named layers stay linear)
        self.seeded = 0  # values whose shape came from the file's records, not inference
        self.weights: Any = None  # KerasWeights when the file's weights are referenced (archlint.execute)
        self._saved: list[tuple[str, list[str], dict[str, str]]] = [("", [], {})]  # (weights path, h5 chain, names)

    # -- values and shapes --
    def _fresh(self, base: str) -> str:
        if not self.b.has(base):
            return base
        i = self._suffix.get(base, 1)
        while self.b.has(f"{base}#{i}"):
            i += 1
        self._suffix[base] = i + 1
        return f"{base}#{i}"

    def _canon(self, keras_shape: Any) -> Shape | None:
        """A Keras batch shape (channels-last) as canonical ``(N, C, *spatial)``."""
        if not isinstance(keras_shape, (list, tuple)):
            return None
        dims = tuple(None if d is None else int(d) for d in keras_shape)
        if self.channels_last and len(dims) >= 3:
            return (dims[0], dims[-1], *dims[1:-1])
        return dims

    def _shape(self, v: str) -> Shape | None:
        val = self.b.value(v)
        return val.shape if val is not None else None

    def _channels(self, v: str) -> int | None:
        s = self._shape(v)
        if not s or len(s) < 2:
            return None
        return s[1]

    # -- models --
    def model(self, config: dict[str, Any], inputs: list[str] | None, prefix: str) -> list[str]:
        cls = config.get("class_name")
        body = config.get("config")
        if cls == "Sequential":
            return self._sequential(body, inputs, prefix)
        return self._functional(body if isinstance(body, dict) else {}, inputs, prefix)

    def _count(self) -> None:
        self.layers += 1
        if self.layers > self.max_layers:
            if self.max_layers < MAX_LAYERS:
                raise LoadError(
                    self.path,
                    f"nested models expand to more than {self.max_layers:,} layer calls from "
                    f"{self.written:,} objects in the file (models called many times inside models?), "
                    "more than archlint reads",
                )
            raise LoadError(self.path, f"more than {MAX_LAYERS:,} layers, more than archlint reads")

    def _input(self, name: str, keras_shape: Any) -> str:
        node = self.b.add_input(self._fresh(name), self._canon(keras_shape))
        node.layer = name
        return node.output.name

    def _sequential(self, body: Any, inputs: list[str] | None, prefix: str) -> list[str]:
        if isinstance(body, list):  # Keras 2.2: the config is the layer list itself
            layers, build_shape = body, None
        elif isinstance(body, dict):
            layers, build_shape = body.get("layers") or [], body.get("build_input_shape")
        else:
            raise LoadError(self.path, "Sequential model config has no layer list")
        cur: str | None = inputs[0] if inputs else None
        self._name_layers(layers, sequential=True)
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise LoadError(self.path, f"layer {i} of a Sequential model is not an object")
            cls = layer.get("class_name")
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            lname = str(cfg.get("name") or layer.get("name") or f"{str(cls).lower()}_{i}")
            if cls == "InputLayer":
                if cur is None:
                    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                    cur = self._input(prefix + lname, shape)
                continue
            if cur is None:
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or build_shape
                if shape is None and cfg.get("input_shape") is not None:
                    shape = [None, *cfg["input_shape"]]
                cur = self._input(f"{prefix}{lname}_input", shape)
            outs = self.layer(layer, [cur], prefix, lname)
            cur = outs[0]
        if cur is None:
            raise LoadError(self.path, "Sequential model has no layers")
        return [cur]

    def _functional(self, body: dict[str, Any], inputs: list[str] | None, prefix: str) -> list[str]:
        layers = body.get("layers") or []
        tensors: dict[Ref, str] = {}
        recorded: dict[Ref, Any] = {}  # the shape Keras wrote beside each reference to a tensor
        in_refs = _io_refs(body.get("input_layers"))
        given = dict(zip((r[0] for r in in_refs), inputs or [], strict=False))
        pending: list[tuple[dict[str, Any], str, int, list[Ref], Any]] = []
        self._name_layers(layers, sequential=False)
        for layer in layers:
            if not isinstance(layer, dict):
                raise LoadError(self.path, "a layer of a functional model is not an object")
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            lname = str(layer.get("name") or cfg.get("name") or layer.get("class_name"))
            if layer.get("class_name") == "InputLayer":
                if inputs is not None and lname in given:
                    tensors[(lname, 0, 0)] = given[lname]
                else:
                    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
                    tensors[(lname, 0, 0)] = self._input(prefix + lname, shape)
                continue
            for k, node in enumerate(layer.get("inbound_nodes") or []):
                pending.append((layer, lname, k, node_refs(node, recorded), node))
        # Kahn's order: each call waits on its first missing input; producing
        # a tensor wakes its waiters (a chain listed in reverse stays linear)
        waiting: dict[Ref, list[int]] = {}
        ready: list[int] = []

        def schedule(i: int) -> None:
            missing = next((r for r in pending[i][3] if r not in tensors), None)
            if missing is None:
                heapq.heappush(ready, i)
            else:
                waiting.setdefault(missing, []).append(i)

        for i in range(len(pending)):
            schedule(i)
        done = 0
        while ready:
            i = heapq.heappop(ready)  # the file's order among calls that are ready
            layer, lname, k, refs, call = pending[i]
            outs = self.layer(
                layer, [tensors[r] for r in refs], prefix, lname, call=k,
                spec=call if isinstance(call, dict) else None,
                in_shapes=[recorded.get(r) for r in refs],
            )
            done += 1
            for t, v in enumerate(outs):
                self._seed(v, recorded.get((lname, k, t)))
                tensors[(lname, k, t)] = v
                for j in waiting.pop((lname, k, t), ()):
                    schedule(j)
        if done < len(pending):
            for layer, lname, k, refs, _ in pending:
                missing = next((r for r in refs if r not in tensors), None)
                if missing is not None:
                    what = f"output {missing[2]} of '{missing[0]}'" if missing[2] else f"'{missing[0]}'"
                    raise LoadError(self.path, f"layer '{prefix}{lname}' reads {what} (node {missing[1]}), which no layer produces")
        outs = []
        for r in _io_refs(body.get("output_layers")):
            if r not in tensors:
                raise LoadError(self.path, f"model output '{r[0]}' is not produced by any layer")
            outs.append(tensors[r])
        return outs

    def _seed(self, v: str, keras_shape: Any) -> None:
        """Give a value the shape Keras recorded for it where inference found none
        (past a layer archlint does not know, shapes go on)."""
        val = self.b.value(v)
        if val is None or val.shape is not None or not isinstance(keras_shape, (list, tuple)):
            return
        try:
            val.shape = self._canon(keras_shape)
        except (TypeError, ValueError):
            return
        self.seeded += 1

    # -- layers --
    def layer(
        self,
        layer: dict[str, Any],
        ins: list[str],
        prefix: str,
        lname: str,
        call: int = 0,
        *,
        spec: dict[str, Any] | None = None,
        in_shapes: list[Any] | None = None,
    ) -> list[str]:
        """Add the node(s) for one call of one layer; return its output values.
        ``spec`` is the call's Keras 3 record (``args``, ``kwargs``), ``in_shapes``
        the shapes Keras recorded for its inputs. A second call of a layer (a shared
        layer, a nested model used twice) reuses its weights: its nodes add none."""
        self._count()
        cls = str(layer.get("class_name"))
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        full = prefix + lname
        if ins and len(ins) >= 1:  # a Keras 3 layer records the shape it was built for
            build = layer.get("build_config")
            shape = build.get("input_shape") if isinstance(build, dict) else None
            self._seed(ins[0], shape if isinstance(shape, list) and (not shape or not isinstance(shape[0], list)) else None)
        first = len(self.b.graph.nodes)
        outs = self._call(layer, cls, cfg, full, ins, prefix, call, spec, in_shapes)
        if call > 0:
            for n in self.b.graph.nodes[first:]:
                if n.params:
                    n.attrs["shared"] = full
                    n.attrs["params"] = 0
        return outs

    def _call(
        self,
        layer: dict[str, Any],
        cls: str,
        cfg: dict[str, Any],
        full: str,
        ins: list[str],
        prefix: str,
        call: int,
        spec: dict[str, Any] | None,
        in_shapes: list[Any] | None,
    ) -> list[str]:
        kind = cls if cls in _MODEL_CLASSES else _model_kind(layer.get("config"))
        if kind is not None:  # a nested model (a custom subclass of Sequential / Functional too)
            wpath, chain, names = self._saved[-1]
            lname = full[len(prefix):]
            self._saved.append((f"{wpath}layers/{names.get(lname, lname)}/", [*chain, lname], {}))
            try:
                return self.model({**layer, "class_name": kind}, ins, prefix=full + "/")
            finally:
                self._saved.pop()
        out = self._fresh(full if call == 0 else f"{full}:{call}")
        first = len(self.b.graph.nodes)
        node = self._convert(cls, cfg, full, ins, out, spec or {}, in_shapes or [])
        _weights_config(self.b.graph.nodes[first:], cfg)
        if self.weights is not None:
            self._record(cls, cfg, full[len(prefix):], self.b.graph.nodes[first:], spec, layer.get("module"))
        outs = [v.name for v in node.outputs]
        act = _act_name(cfg.get("activation")) if node.kind in (OpKind.CONV, OpKind.DENSE) else None
        if act and act != "linear":
            node = self._add(
                OpKind.ACTIVATION, f"{act} (fused)", full, [node.output.name], self._fresh(f"{full}/{act}"),
                {"activation": act, "fused": True}, name=f"{full}/{act}",
            )
            if self.weights is not None:
                from archlint.frontends._keras_exec import activation_impl

                node.impl = activation_impl(act)
            outs[0] = node.output.name
        return outs

    def _name_layers(self, layers: list[Any], *, sequential: bool) -> None:
        """The names Keras saves this container's layers under (``conv2d``, ``conv2d_1`` ...,
        in the config's order; a Sequential model's input layer is not saved)."""
        if self.weights is None:
            return
        from archlint.frontends._keras_exec import snake, unique

        used: dict[str, int] = {}
        names = self._saved[-1][2]
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            cls = str(layer.get("class_name"))
            if sequential and cls == "InputLayer":
                continue
            cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
            lname = str(layer.get("name") or cfg.get("name") or cls)
            names.setdefault(lname, unique(snake(cls), used))

    def _record(self, cls: str, cfg: dict[str, Any], lname: str, nodes: list[Node], spec: Any = None,
                module: Any = None) -> None:
        """How to run the node(s) of one layer call: the layer class, its config, its weights
        (a Keras op such as ``x + 3.0``: its call's arguments, constants included)."""
        from archlint.frontends._keras_exec import impl, op_impl

        args = spec.get("args") if isinstance(spec, dict) else None
        constant = isinstance(args, list) and any(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
        if len(nodes) == 1 and ((isinstance(module, str) and module.startswith("keras.src.ops")) or constant):
            # a Keras op (an .h5 file does not name its module: a constant argument tells)
            nodes[0].impl = op_impl(cls, module, spec)
            return

        wpath, chain, names = self._saved[-1]
        refs = self.weights.refs(cls, cfg, f"{wpath}layers/{names.get(lname, lname)}", [*chain, lname])
        if len(nodes) == 2 and cls.startswith("SeparableConv"):
            dw, pw = nodes
            dw.impl = impl(cls, cfg, len(dw.inputs), {"depthwise_kernel": refs["depthwise_kernel"]}, part="depthwise")
            pw.impl = impl(cls, cfg, 1, {k: v for k, v in refs.items() if k != "depthwise_kernel"}, part="pointwise")
            return
        for n in nodes:
            n.impl = impl(cls, cfg, len(n.inputs), refs)

    def _add(
        self,
        kind: OpKind,
        op_type: str,
        layer: str,
        ins: list[str],
        out: str,
        attrs: dict[str, Any],
        *,
        name: str | None = None,
        shape: Shape | None = None,
        more: Sequence[tuple[str, Shape | None]] = (),
    ) -> Node:
        """Add a node; ``more`` names a multi-output layer's further outputs
        (an RNN's states, a split's parts) with their shapes."""
        node = self.b.add(kind, op_type, layer, inputs=ins, outputs=(out, *(o for o, _ in more)), attrs=attrs, name=name)
        try:
            node.outputs[0].shape = shape if shape is not None else output_shape(node)
        except (TypeError, ValueError, IndexError, ZeroDivisionError):
            node.outputs[0].shape = None
        for v, (_, s) in zip(node.outputs[1:], more, strict=True):
            v.shape = s
        return node

    def _convert(
        self, cls: str, cfg: dict[str, Any], full: str, ins: list[str], out: str,
        spec: dict[str, Any], in_shapes: list[Any],
    ) -> Node:
        x = ins[0] if ins else None
        xs = self._shape(x) if x else None
        cin = self._channels(x) if x else None
        bias = bool(cfg.get("use_bias", True))

        m = _CONV.match(cls)
        if m:
            rank = int(m.group(2) or m.group(4))
            transposed = bool(m.group(3)) or cls.startswith("Deconvolution")
            k = _tup(cfg.get("kernel_size"), rank)
            filters = int(cfg.get("filters") or 0) or None
            groups = int(cfg.get("groups") or 1)
            attrs = self._conv_attrs(cfg, rank, k, filters, cin, groups)
            if transposed:
                attrs["transposed"] = True
            if filters and cin:
                attrs["params"] = math.prod(k) * (cin // groups) * filters + (filters if bias else 0)
            return self._add(OpKind.CONV, cls, full, ins, out, attrs)
        m = _DEPTHWISE.match(cls)
        if m:
            attrs = self._depthwise(cfg, int(m.group(1)), cin, bias)
            return self._add(OpKind.CONV, cls, full, ins, out, attrs)
        m = _SEPARABLE.match(cls)
        if m:
            rank = int(m.group(2))
            dw = self._depthwise(cfg, rank, cin, False)
            dw["separable"] = True
            ch = dw["channels"]
            mid = self._fresh(f"{full}/depthwise")
            self._add(OpKind.CONV, f"{cls} (depthwise)", full, ins, mid, dw, name=f"{full}/depthwise")
            filters = int(cfg.get("filters") or 0) or None
            pw: dict[str, Any] = {
                "channels": filters, "in_channels": ch, "kernel": (1,) * rank, "stride": (1,) * rank,
                "dilation": (1,) * rank, "groups": 1, "padding": "valid", "bias": bias, "rank": rank,
                "separable": True,
            }
            if filters and ch:
                pw["params"] = ch * filters + (filters if bias else 0)
            return self._add(OpKind.CONV, f"{cls} (pointwise)", full, [mid], out, pw, name=f"{full}/pointwise")
        if cls == "Dense":
            units = int(cfg.get("units") or cfg.get("output_dim") or 0) or None
            fin = (xs[-1] if xs is not None and len(xs) == 2 else cin) if xs else None
            attrs = {"units": units, "in_features": fin, "bias": bias}
            if units and fin:
                attrs["params"] = fin * units + (units if bias else 0)
            shape = None
            if xs is not None and len(xs) > 2:  # Dense on the channel axis of a feature map
                shape = (xs[0], units, *xs[2:])
            return self._add(OpKind.DENSE, cls, full, ins, out, attrs, shape=shape)
        if cls in ("Matmul", "Einsum") and len(ins) == 2:  # keras.ops.matmul / einsum of two tensors
            eq = cfg.get("subscripts") if cls == "Einsum" else None
            eq = eq if isinstance(eq, str) else None
            keras_in = [tuple(s) if isinstance(s, (list, tuple)) else None for s in in_shapes[:2]]
            return self._add(OpKind.MATMUL, cls, full, ins, out, matmul_attrs(keras_in, eq),
                             shape=self._canon(matmul_shape(keras_in, eq)))
        if cls == "EinsumDense":
            return self._einsum_dense(cls, cfg, full, ins, out, xs, in_shapes[0] if in_shapes else None)
        if cls in ("BatchNormalization", "SyncBatchNormalization"):
            per = int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))
            attrs = {
                "channels": cin,
                "epsilon": cfg.get("epsilon", 1e-3),
                "momentum": cfg.get("momentum", 0.99),
                "params": per * cin if cin else 0,
                "non_trainable": 2 * cin if cin else 0,  # moving mean and variance (Keras counts them)
            }
            return self._add(OpKind.BATCH_NORM, cls, full, ins, out, attrs)
        if cls in _NORMS:
            c = (xs[-1] if len(xs) == 2 else cin) if xs else None
            per = int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))
            attrs = {"norm": _NORMS[cls], "params": per * c if c and cls != "UnitNormalization" else 0}
            if cls == "GroupNormalization":
                attrs["groups"] = cfg.get("groups")
            kind = names.norm_kind(_NORMS[cls])
            return self._add(kind, cls, full, ins, out, attrs)
        if cls in ("Embedding",):
            vocab = int(cfg.get("input_dim") or 0) or None
            dim = int(cfg.get("output_dim") or 0) or None
            attrs = {"vocab": vocab, "dim": dim, "params": vocab * dim if vocab and dim else 0}
            shape = (xs[0], dim, *xs[1:]) if xs is not None else None  # (B, L) ids -> canonical (B, D, L)
            node = self._add(OpKind.EMBEDDING, cls, full, ins, out, attrs, shape=shape)
            node.output.layout = "NDL"
            return node
        if cls in _RNNS:
            attrs = self._rnn_attrs(cls, cfg, cin)
            return self._rnn(cls, full, ins, out, attrs, cfg, xs, directions=1)
        if cls == "Bidirectional":
            inner = cfg.get("layer") if isinstance(cfg.get("layer"), dict) else {}
            icls = str(inner.get("class_name"))
            icfg = inner.get("config") if isinstance(inner.get("config"), dict) else {}
            if icls in _RNNS:
                attrs = self._rnn_attrs(icls, icfg, cin)
                merge = cfg.get("merge_mode", "concat")
                attrs.update(bidirectional=True, merge=merge)
                if attrs.get("params"):
                    attrs["params"] *= 2  # a forward and a backward copy (backward_layer has the same shape)
                if merge == "concat" and attrs.get("units"):
                    attrs["units"] *= 2
                return self._rnn(f"Bidirectional({icls})", full, ins, out, attrs, icfg, xs, directions=2)
        if cls == "Split":
            return self._split(cls, cfg, full, ins, out, xs)
        if cls == "GetItem":
            args = spec.get("args") if isinstance(spec.get("args"), list) else []
            keras_in = in_shapes[0] if in_shapes else None
            shape = _getitem_shape(keras_in, args[1] if len(args) > 1 else None)
            return self._add(OpKind.RESHAPE, cls, full, ins, out, {"view": "getitem"},
                             shape=self._canon(shape) if shape is not None else None)
        if cls == "Pad":
            return self._pad(cls, cfg, full, ins, out, in_shapes[0] if in_shapes else None)
        if cls == "Resizing":
            h, w = cfg.get("height"), cfg.get("width")
            shape = None
            if xs is not None and len(xs) == 4 and isinstance(h, int) and isinstance(w, int):
                shape = (xs[0], xs[1], h, w)
            return self._add(OpKind.RESHAPE, cls, full, ins, out,
                             {"view": "resize", "size": (h, w), "interpolation": cfg.get("interpolation")}, shape=shape)
        if cls == "ReversibleEmbedding":
            vocab = int(cfg.get("input_dim") or 0) or None
            dim = int(cfg.get("output_dim") or 0) or None
            tied = bool(cfg.get("tie_weights", True))
            if spec.get("kwargs", {}).get("reverse") if isinstance(spec.get("kwargs"), dict) else False:
                # hidden states -> logits through the embedding table (transposed when tied)
                attrs = {"units": vocab, "in_features": dim, "bias": False,
                         "params": 0 if tied else (vocab or 0) * (dim or 0)}
                if tied:
                    attrs.update(tied=full, shared=full)
                shape = (xs[0], vocab, *xs[2:]) if xs is not None and len(xs) >= 2 else None
                return self._add(OpKind.DENSE, f"{cls} (reverse)", full, ins, out, attrs, shape=shape)
            attrs = {"vocab": vocab, "dim": dim, "params": vocab * dim if vocab and dim else 0}
            if tied:
                attrs["tied"] = full
            shape = (xs[0], dim, *xs[1:]) if xs is not None else None
            node = self._add(OpKind.EMBEDDING, cls, full, ins, out, attrs, shape=shape)
            node.output.layout = "NDL"
            return node
        if cls == "MultiHeadAttention":
            heads = int(cfg.get("num_heads") or 0) or None
            key_dim = int(cfg.get("key_dim") or 0) or None
            value_dim = int(cfg.get("value_dim") or 0) or key_dim
            attrs = {"heads": heads, "head_dim": key_dim, "scale": 1 / math.sqrt(key_dim) if key_dim else None,
                     "scale_default": True, "causal": None, "dropout": float(cfg.get("dropout") or 0.0)}
            if heads and key_dim and cin:
                b_ = bool(cfg.get("use_bias", True))
                attrs["params"] = (2 * (cin * heads * key_dim + (heads * key_dim if b_ else 0))
                                   + cin * heads * value_dim + (heads * value_dim if b_ else 0)
                                   + heads * value_dim * cin + (cin if b_ else 0))
            node = self._add(OpKind.ATTENTION, cls, full, ins, out, attrs, shape=xs)
            node.output.layout = "NDL"
            return node
        if cls in _DROPOUTS:
            flavour, spatial = _DROPOUTS[cls]
            if cls == "Dropout":
                flavour, spatial = _noise_shape_flavour(cfg.get("noise_shape"), self.channels_last)
            rate = cfg.get("rate", cfg.get("drop_rate", cfg.get("survival_probability")))
            if cls == "StochasticDepth" and "rate" not in cfg and "survival_probability" in cfg:
                try:
                    rate = 1.0 - float(cfg["survival_probability"])
                except (TypeError, ValueError):
                    rate = None
            return self._add(OpKind.DROPOUT, cls, full, ins, out, {"rate": rate, "spatial": spatial, "flavour": flavour})
        act = self._activation(cls, cfg, xs)
        if act is not None:
            kind, attrs = act
            return self._add(kind, cls, full, ins, out, attrs)
        m = _POOL.match(cls)
        if m:
            rank = int(m.group(3))
            k = _tup(cfg.get("pool_size"), rank, 2)
            stride = _tup(cfg.get("strides"), rank) if cfg.get("strides") is not None else k
            attrs = {"pool": "max" if m.group(1) == "Max" else "avg", "kernel": k, "stride": stride,
                     "padding": str(cfg.get("padding", "valid")).lower()}
            return self._add(OpKind.POOL, cls, full, ins, out, attrs)
        m = _GLOBAL_POOL.match(cls)
        if m:
            attrs = {"pool": "max" if m.group(1) == "Max" else "avg", "keepdims": bool(cfg.get("keepdims", False))}
            return self._add(OpKind.GLOBAL_POOL, cls, full, ins, out, attrs)
        if cls == "Flatten":
            return self._add(OpKind.FLATTEN, cls, full, ins, out, {})
        if cls == "Reshape":
            target = cfg.get("target_shape")
            attrs = {}
            if isinstance(target, (list, tuple)):
                t = tuple(-1 if d is None else int(d) for d in target)
                canon = (t[-1], *t[:-1]) if self.channels_last and len(t) >= 2 else t
                attrs["target"] = (0, *canon)  # shapes.py reads target[1:]
            return self._add(OpKind.RESHAPE, cls, full, ins, out, attrs)
        if cls == "Permute":
            return self._add(OpKind.RESHAPE, cls, full, ins, out, {"dims": cfg.get("dims")})
        if cls in _MERGES:
            kind, how = _MERGES[cls]
            attrs = {"merge": how}
            if kind is OpKind.CONCAT:
                attrs["axis"] = self._axis(int(cfg.get("axis", -1)), xs)
            return self._add(kind, cls, full, ins, out, attrs)
        m = _PADDING.match(cls) or _CROPPING.match(cls)
        if m:
            rank = int(m.group(1))
            crop = cls.startswith("Cropping")
            pads = self._pads(cfg.get("cropping" if crop else "padding"), rank, 0 if crop else 1)
            shape = None
            if xs is not None and len(xs) == rank + 2:
                sign = -1 if crop else 1
                shape = (xs[0], xs[1], *(None if d is None else d + sign * (lo + hi) for d, (lo, hi) in zip(xs[2:], pads, strict=False)))
            attrs = {"pads": pads, "crop": crop}
            return self._add(OpKind.PAD, cls, full, ins, out, attrs, shape=shape)
        m = _UPSAMPLING.match(cls)
        if m:
            rank = int(m.group(1))
            size = _tup(cfg.get("size"), rank, 2)
            shape = None
            if xs is not None and len(xs) == rank + 2:
                shape = (xs[0], xs[1], *(None if d is None else d * s for d, s in zip(xs[2:], size, strict=False)))
            # repeats each pixel (or interpolates): a resize, read as Resizing is
            return self._add(OpKind.RESHAPE, cls, full, ins, out,
                             {"view": "upsample", "size": size, "interpolation": cfg.get("interpolation")}, shape=shape)
        if cls == "Normalization" and cin and (cfg.get("mean") is None or cfg.get("variance") is None):
            # feature-wise standardisation adapted to data: its mean, variance and count are
            # non-trainable weights (given as constants in the config, they are not weights)
            return self._add(OpKind.IDENTITY, cls, full, ins, out, {"non_trainable": 2 * cin + 1})
        if cls in _PASSTHROUGH:
            return self._add(OpKind.IDENTITY, cls, full, ins, out, {})
        if cls == "LayerScale":  # keras.applications ConvNeXt: x * gamma, one learned scale per channel
            return self._add(OpKind.IDENTITY, cls, full, ins, out,
                             {"constant_mul": True, "learned_scale": True, "params": cin or 0})
        if cls == "CustomScaleLayer":  # keras.applications InceptionResNetV2: x + scale * branch
            return self._add(OpKind.ADD, cls, full, ins, out, {"merge": "add", "scale": cfg.get("scale")})
        # Lambda, TFOpLambda, custom and unsupported layers: named, never deserialised
        attrs = {"class_name": cls}
        if cls in ("Lambda", "TFOpLambda", "SlicingOpLambda") or "registered_name" in cfg:
            attrs["custom"] = True
        return self._add(OpKind.UNKNOWN, cls, full, ins, out, attrs)

    def _rnn_attrs(self, cls: str, cfg: dict[str, Any], cin: int | None) -> dict[str, Any]:
        units = int(cfg.get("units") or 0) or None
        gates = {"lstm": 4, "gru": 3}.get(_RNNS[cls], 1)
        attrs: dict[str, Any] = {
            "cell": _RNNS[cls], "units": units, "hidden": units, "layers": 1,
            "dropout": float(cfg.get("dropout") or 0.0),
            "recurrent_dropout": float(cfg.get("recurrent_dropout") or 0.0),
            "variational": True,  # Keras reuses one mask over the time steps
            "return_sequences": bool(cfg.get("return_sequences", False)),
        }
        if cfg.get("return_state"):
            attrs["return_state"] = True
        if units and cin:
            attrs["params"] = gates * (cin * units + units * units + units * (2 if cfg.get("reset_after", True) and gates == 3 else 1))
        return attrs

    def _rnn(
        self, op_type: str, full: str, ins: list[str], out: str, attrs: dict[str, Any],
        cfg: dict[str, Any], xs: Shape | None, *, directions: int,
    ) -> Node:
        """An RNN node; with ``return_state`` its states are further outputs, in Keras's
        order (forward then backward; LSTM: h then c), each ``(N, hidden)``."""
        units = attrs["units"]
        shape = None
        if xs is not None and len(xs) == 3:
            shape = (xs[0], units, xs[2]) if attrs["return_sequences"] else (xs[0], units)
        more: list[tuple[str, Shape | None]] = []
        if cfg.get("return_state"):
            per = 2 if attrs["cell"] == "lstm" else 1
            batch = xs[0] if xs else None
            names = ("h", "c")[:per]
            for d in range(directions):
                for nm in names:
                    tag = nm if directions == 1 else f"{('forward', 'backward')[d]}_{nm}"
                    more.append((self._fresh(f"{out}/{tag}"), (batch, attrs["hidden"])))
        node = self._add(OpKind.RNN, op_type, full, ins, out, attrs, shape=shape, more=more)
        node.output.layout = "NDL" if attrs["return_sequences"] else "ND"
        for v in node.outputs[1:]:
            v.layout = "ND"
        return node

    def _split(self, cls: str, cfg: dict[str, Any], full: str, ins: list[str], out: str, xs: Shape | None) -> Node:
        """``keras.ops.split``: equal sections or split points along one axis."""
        sections = cfg.get("indices_or_sections", 1)
        axis = int(cfg.get("axis", 0))
        caxis = self._axis(axis, xs) % len(xs) if xs is not None else None
        size = xs[caxis] if xs is not None and caxis is not None else None
        if isinstance(sections, int) and sections > 0:
            sizes: list[int | None] = [size // sections if size else None] * sections
        elif isinstance(sections, list) and all(isinstance(i, int) for i in sections):
            bounds = [0, *sections, size] if size else None
            sizes = [b - a for a, b in zip(bounds, bounds[1:], strict=False)] if bounds else [None] * (len(sections) + 1)
        else:
            raise LoadError(self.path, f"layer '{full}': Split with indices_or_sections {sections!r}")
        shapes: list[Shape | None] = []
        for n in sizes:
            shapes.append(None if xs is None or caxis is None else (*xs[:caxis], n, *xs[caxis + 1:]))
        more = [(self._fresh(f"{out}:{i}"), sh) for i, sh in enumerate(shapes[1:], start=1)]
        return self._add(OpKind.RESHAPE, cls, full, ins, out, {"view": "split", "axis": caxis, "sections": sizes},
                         shape=shapes[0] if shapes else None, more=more)

    def _pad(self, cls: str, cfg: dict[str, Any], full: str, ins: list[str], out: str, keras_in: Any) -> Node:
        """``keras.ops.pad``: ``pad_width`` per Keras axis; spatial pads as ZeroPadding's."""
        width = cfg.get("pad_width")
        pw = [(int(p[0]), int(p[1])) for p in width] if isinstance(width, list) and all(
            isinstance(p, list) and len(p) == 2 for p in width) else None
        shape = None
        if pw is not None and isinstance(keras_in, list) and len(keras_in) == len(pw):
            shape = self._canon([None if d is None else d + lo + hi for d, (lo, hi) in zip(keras_in, pw, strict=True)])
        pads: list[tuple[int, int]] | None = None
        if pw is not None and len(pw) >= 3:
            spatial = pw[1:-1] if self.channels_last else pw[2:]
            if all(p == (0, 0) for p in (pw[0], pw[-1] if self.channels_last else pw[1])):
                pads = spatial
        attrs: dict[str, Any] = {"pads": pads, "crop": False, "mode": cfg.get("mode", "constant")}
        if pads is None:
            attrs["pad_width"] = pw
        return self._add(OpKind.PAD, cls, full, ins, out, attrs, shape=shape)

    def _einsum_dense(
        self, cls: str, cfg: dict[str, Any], full: str, ins: list[str], out: str, xs: Shape | None, keras_in: Any,
    ) -> Node:
        """``EinsumDense`` (keras-hub's and MultiHeadAttention's projections): a dense
        layer whose kernel the equation shapes; its size follows from the equation,
        the input's shape and ``output_shape``."""
        eq = str(cfg.get("equation") or "")
        m = re.fullmatch(r"\s*([a-z.]+)\s*,\s*([a-z]+)\s*->\s*([a-z.]+)\s*", eq)
        oshape = cfg.get("output_shape")
        oshape = [oshape] if isinstance(oshape, int) else list(oshape) if isinstance(oshape, (list, tuple)) else []
        units = oshape[-1] if oshape and isinstance(oshape[-1], int) else None
        attrs: dict[str, Any] = {"units": units, "in_features": xs[1] if xs is not None and len(xs) >= 2 else None,
                                 "bias": bool(cfg.get("bias_axes")), "equation": eq}
        keras_out: list[Any] | None = None
        if m and isinstance(keras_in, list) and "." not in eq:
            a, k, o = m.groups()
            dims: dict[str, Any] = dict(zip(a, keras_in, strict=False)) if len(a) == len(keras_in) else {}
            for letter, d in zip(o[len(o) - len(oshape):], oshape, strict=False):
                if isinstance(d, int):
                    dims[letter] = d
            kernel = [dims.get(c) for c in k]
            bias = [dims.get(c) for c in str(cfg.get("bias_axes") or "")]
            if dims and all(isinstance(d, int) for d in kernel + bias):
                attrs["params"] = math.prod(kernel) + (math.prod(bias) if bias else 0)
                attrs["kernel_shape"] = tuple(kernel)
            keras_out = [dims.get(c) for c in o]
            if keras_out:
                keras_out[0] = keras_in[0] if keras_in else None
        shape = self._canon(keras_out) if keras_out else None
        return self._add(OpKind.DENSE, cls, full, ins, out, attrs, shape=shape)

    def _depthwise(self, cfg: dict[str, Any], rank: int, cin: int | None, bias: bool) -> dict[str, Any]:
        """Attrs of a depthwise convolution: one group per input channel, like ONNX Conv(group=C)."""
        k = _tup(cfg.get("kernel_size"), rank)
        dm = int(cfg.get("depth_multiplier") or 1)
        ch = cin * dm if cin else None
        attrs = self._conv_attrs(cfg, rank, k, ch, cin, cin or 1)
        attrs.update(depthwise=True, depth_multiplier=dm, bias=bias)
        if ch:
            attrs["params"] = math.prod(k) * ch + (ch if bias else 0)
        return attrs

    def _conv_attrs(
        self, cfg: dict[str, Any], rank: int, k: tuple[int, ...], channels: int | None, cin: int | None, groups: int
    ) -> dict[str, Any]:
        dil = _tup(cfg.get("dilation_rate"), rank)
        padding: Any = str(cfg.get("padding", "valid")).lower()
        if padding == "causal":  # Conv1D: pad (k-1)*d at the start only
            padding = (dil[0] * (k[0] - 1), 0)
        return {
            "channels": channels,
            "in_channels": cin,
            "kernel": k,
            "stride": _tup(cfg.get("strides"), rank),
            "dilation": dil,
            "groups": groups,
            "padding": padding,
            "bias": bool(cfg.get("use_bias", True)),
            "rank": rank,
        }

    def _pads(self, v: Any, rank: int, default: int) -> list[tuple[int, int]]:
        if v is None:
            return [(default, default)] * rank
        if isinstance(v, int):
            return [(v, v)] * rank
        out = []
        for d in list(v)[:rank]:
            out.append((int(d), int(d)) if isinstance(d, int) else (int(d[0]), int(d[1])))
        if rank == 1 and len(out) == 2 and isinstance(v[0], int):  # Conv1D padding=(lo, hi)
            out = [(int(v[0]), int(v[1]))]
        return out + [(default, default)] * (rank - len(out))

    def _axis(self, axis: int, xs: Shape | None) -> int:
        """A Keras (channels-last) axis as the canonical axis."""
        if xs is None or not self.channels_last or len(xs) < 3:
            return axis
        r = len(xs)
        a = axis % r
        if a == 0:
            return 0
        return 1 if a == r - 1 else a + 1

    def _activation(self, cls: str, cfg: dict[str, Any], xs: Shape | None) -> tuple[OpKind, dict[str, Any]] | None:
        if cls == "Activation":
            act = _act_name(cfg.get("activation")) or "linear"
            if act == "linear":
                return OpKind.IDENTITY, {"activation": "linear"}
            return OpKind.ACTIVATION, {"activation": act}
        if cls == "ReLU":
            if cfg.get("max_value") == 6:
                return OpKind.ACTIVATION, {"activation": "relu6"}
            if cfg.get("negative_slope"):
                return OpKind.ACTIVATION, {"activation": "leaky_relu", "alpha": cfg["negative_slope"]}
            return OpKind.ACTIVATION, {"activation": "relu"}
        if cls == "LeakyReLU":
            return OpKind.ACTIVATION, {"activation": "leaky_relu", "alpha": cfg.get("negative_slope", cfg.get("alpha"))}
        if cls == "PReLU":
            params = 0
            if xs is not None and len(xs) >= 2 and all(d is not None for d in xs[1:]):
                dims = [*xs[2:], xs[1]] if self.channels_last and len(xs) >= 3 else list(xs[1:])
                for a in cfg.get("shared_axes") or []:
                    if 1 <= int(a) <= len(dims):
                        dims[int(a) - 1] = 1
                params = math.prod(dims)  # type: ignore[arg-type]
            return OpKind.ACTIVATION, {"activation": "prelu", "params": params}
        if cls == "ELU":
            return OpKind.ACTIVATION, {"activation": "elu"}
        if cls == "ThresholdedReLU":
            return OpKind.ACTIVATION, {"activation": "thresholded_relu"}
        if cls == "Softmax":
            return OpKind.ACTIVATION, {"activation": "softmax", "axis": cfg.get("axis", -1)}
        return None
