"""A live Keras 3 model -> the common graph, by running it once and recording what runs.

Keras saves a model built from a registered package class (keras-hub's ``BertBackbone``,
``GPT2Backbone`` ...) as its constructor arguments, not its layers, and keeps the
blocks (``TransformerEncoder``, ``PositionEmbedding`` ...) as subclassed layers whose
configs describe no structure. Such a model can only be seen by building it and
watching it run. This module does that on Keras's torch backend:

- every call of a Keras layer goes through a hook; a layer archlint knows (``Dense``,
  ``EinsumDense``, ``LayerNormalization``, ``MultiHeadAttention``, ``Embedding``,
  ``Dropout`` ..., or a subclass of one) becomes its node(s), converted from its
  ``get_config()`` exactly as a saved config would be (:mod:`archlint.frontends.keras`),
  with its parameter count taken from its own weights;
- what runs between known layers inside a block (residual adds, reshapes, masks,
  activations written as ``keras.ops`` calls) is recorded with a
  ``TorchFunctionMode`` and mapped to the graph's kinds by the torch function's name;
- tensors are followed by identity, so the graph has the real data flow and every
  value the real shape (batch 1, sequences of 16, images of the model's own size).

Nothing here reads a file: the caller builds the model (``keras.saving.load_model``
with ``safe_mode=True`` for a file whose classes an allow-listed package registers,
see :func:`archlint.frontends.keras.load`), or passes a live one (the Python API).
Keras and torch are imported by the caller; this module imports them lazily too.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from typing import Any

from archlint.errors import LoadError
from archlint.graph import Graph, OpKind
from archlint.graph.attrs import matmul_attrs

#: torch function names (``torch.add``, ``Tensor.__add__`` ...) -> the kind of a glue op
_ADD = {"add", "__add__", "__radd__", "add_", "sub", "__sub__", "__rsub__", "subtract", "__iadd__", "sub_"}
_MUL = {"mul", "__mul__", "__rmul__", "multiply", "mul_", "div", "__truediv__", "__rtruediv__", "true_divide", "divide",
        "div_"}
_CAT = {"cat", "concat", "concatenate", "stack", "hstack", "vstack"}
_VIEW = {"reshape", "view", "transpose", "permute", "squeeze", "unsqueeze", "expand", "expand_as", "flatten",
         "__getitem__", "narrow", "split", "chunk", "movedim", "moveaxis", "broadcast_to", "repeat", "tile",
         "unbind", "swapaxes", "select", "index_select", "take", "gather", "contiguous_view", "unflatten", "roll",
         "flip", "pad", "repeat_interleave", "tril", "triu", "take_along_dim", "index", "slice", "diagonal",
         "as_strided", "unfold", "gather_nd", "topk", "sort", "interpolate", "setitem"}
_ACT = {"softmax": "softmax", "log_softmax": "log_softmax", "relu": "relu", "gelu": "gelu", "tanh": "tanh",
        "sigmoid": "sigmoid", "silu": "swish", "elu": "elu", "selu": "selu", "softplus": "softplus",
        "leaky_relu": "leaky_relu", "relu6": "relu6", "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid",
        "mish": "mish", "erf": "erf"}
#: value-preserving or mask arithmetic (casts, copies, comparisons, selections)
_SAME = {"to", "type", "float", "double", "half", "bfloat16", "int", "long", "bool", "clone", "contiguous",
         "detach", "__neg__", "neg", "abs", "lt", "le", "gt", "ge", "eq", "ne", "__lt__", "__le__", "__gt__",
         "__ge__", "__eq__", "__ne__", "not_equal", "equal", "greater", "less", "logical_and", "logical_or", "logical_not", "__and__", "__or__",
         "__invert__", "where", "masked_fill", "minimum", "maximum", "clamp", "clip", "sqrt", "rsqrt", "pow",
         "__pow__", "square", "exp", "log", "cumsum", "mean", "sum", "amax", "amin", "max", "min", "var", "std",
         "log2", "log10", "log1p", "exp2", "expm1",
         "round", "floor", "ceil", "sign", "reciprocal", "argsort", "__rpow__", "cos", "sin", "outer", "arange", "zeros_like",
         "ones_like", "full_like", "cast", "as_tensor", "convert_to_tensor", "dropout", "argmax", "__floordiv__",
         "__mod__", "fmod", "remainder", "isnan", "isinf", "nan_to_num", "all", "any",
         "__get__", "complex", "real", "imag", "view_as_real", "view_as_complex", "one_hot"}
_MATMUL = {"matmul", "__matmul__", "einsum", "bmm", "mm", "linear", "dot", "tensordot", "inner"}
#: element-wise arithmetic by its canonical op name (what the pattern pass reads)
_ARITH = {"add": "add", "__add__": "add", "__radd__": "add", "add_": "add", "__iadd__": "add", "sub": "sub",
          "__sub__": "sub", "__rsub__": "sub", "subtract": "sub", "sub_": "sub",
          "mul": "mul", "__mul__": "mul", "__rmul__": "mul",
          "multiply": "mul", "mul_": "mul", "div": "div", "__truediv__": "div", "__rtruediv__": "div",
          "true_divide": "div", "divide": "div", "div_": "div"}
#: Fourier transforms: a product with a constant (DFT) matrix, FNet's token mixing
_FOURIER = {"fft", "fft2", "fftn", "rfft", "rfft2", "rfftn", "ifft", "ifft2", "ifftn", "irfft", "irfft2", "irfftn"}

#: default lengths for a model input's unknown dimensions
SEQ_LEN = 16
IMAGE_SIDE = 64
#: the other sides tried for an image input the model leaves free, when it does not run at 64
IMAGE_SIDES = (16, 32, 128, 256)
#: the largest generated input (elements): a longer try is skipped, not allocated
MAX_INPUT_ELEMENTS = 1 << 24


def _leaf_class(layer: Any, converter: Any) -> str | None:
    """The Keras class a layer is read as: itself or the nearest base class from Keras's
    own layers that archlint converts; None for a container (a model, a block)."""
    for cls in type(layer).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if not mod.startswith("keras"):
            continue
        if mod.startswith(("keras.src.models", "keras.src.ops", "keras.src.layers.layer", "keras.src.backend")):
            continue
        if converter.knows(cls.__name__):
            return cls.__name__
    return None


def _tensors(obj: Any, out: list[Any], depth: int = 0) -> list[Any]:
    import torch

    if depth > 8:
        return out
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _tensors(x, out, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            _tensors(x, out, depth + 1)
    elif hasattr(obj, "value") and not isinstance(obj, (int, float, str)):  # a Keras variable
        v = getattr(obj, "value", None)
        if isinstance(v, torch.Tensor):
            out.append(v)
    return out


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.leaf_depth = 0
        self.scope: list[str] = []
        self.keep: list[Any] = []  # every tensor seen, so ids are never reused

    def hold(self, ts: list[Any]) -> list[Any]:
        self.keep.extend(ts)
        return ts


@contextlib.contextmanager
def _recording(rec: _Recorder, converter: Any) -> Iterator[None]:
    import torch
    from keras import Model
    from keras.src.layers.layer import Layer
    from torch.overrides import TorchFunctionMode

    orig = Layer.__call__

    def hooked(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if rec.leaf_depth:
            return orig(layer, *args, **kwargs)
        cls = _leaf_class(layer, converter)
        path = "/".join([*rec.scope, layer.name])
        if cls is not None:
            ins = rec.hold(_tensors(args, []) + _tensors(kwargs, []))
            rec.leaf_depth += 1
            try:
                out = orig(layer, *args, **kwargs)
            finally:
                rec.leaf_depth -= 1
            rec.events.append(("leaf", layer, cls, path, ins, rec.hold(_tensors(out, [])), kwargs))
            return out
        rec.scope.append(layer.name)
        try:
            out = orig(layer, *args, **kwargs)
        finally:
            rec.scope.pop()
        if rec.scope and isinstance(layer, Model):  # a nested model: what it returns, its caller may drop
            rec.events.append(("nested", layer.name, rec.hold(_tensors(out, []))))
        return out

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if rec.leaf_depth == 0:
                outs = _tensors(out, [])
                if not outs and getattr(func, "__name__", "") == "__setitem__" and args and isinstance(args[0], torch.Tensor):
                    outs = [args[0]]  # x[i] = y writes into x (keras.ops.slice_update): x's value is new from here on
                if outs:
                    name = getattr(func, "__name__", None) or str(func)
                    rec.events.append(("op", name, "/".join(rec.scope), rec.hold(_tensors(args, []) + _tensors(kwargs, [])),
                                       rec.hold(outs), args, kwargs))
            return out

    Layer.__call__ = hooked  # type: ignore[method-assign]
    try:
        with Mode(), torch.no_grad():
            yield
    finally:
        Layer.__call__ = orig  # type: ignore[method-assign]


def _image_axes(rank: int) -> tuple[int, ...]:
    """The axes of a channels-last input that are an image's height and width: rank 4
    ``(batch, height, width, channels)``; rank 5 ``(batch, items, height, width, channels)``
    (frames of a video, masks of a prompt)."""
    return (1, 2) if rank == 4 else (2, 3) if rank == 5 else ()


def example_inputs(model: Any, length: int = SEQ_LEN, grow: set[str] | None = None, side: int = IMAGE_SIDE) -> Any:
    """Inputs for one run: each model input at its declared shape, unknown dimensions
    filled (batch 1, an image's height and width ``side``, other axes ``length``),
    integer inputs as ones (a valid token id and an all-ones padding mask). With ``grow``,
    only the inputs of those names get ``length``; the others keep :data:`SEQ_LEN`."""
    import keras
    import torch

    def make(t: Any) -> Any:
        shape = list(t.shape)
        n = length if grow is None or getattr(t, "name", None) in grow else SEQ_LEN
        for i, d in enumerate(shape):
            if d is None:
                shape[i] = 1 if i == 0 else (side if i in _image_axes(len(shape)) else n)
        if math.prod(shape) > MAX_INPUT_ELEMENTS:  # a rank-5 input with every free axis at 16000 steps
            raise ValueError(f"an input of shape {tuple(shape)} is too large to generate")
        dtype = str(getattr(t, "dtype", "float32"))
        if "int" in dtype or "bool" in dtype:
            return torch.ones(shape, dtype=getattr(torch, dtype if "int" in dtype else "bool"))
        gen = torch.Generator().manual_seed(0)
        return torch.rand(shape, generator=gen)

    return keras.tree.map_structure(make, model.input)


def _free_image_side(model: Any) -> bool:
    """Whether an input leaves an image's height or width free (:func:`_image_axes`)."""
    import keras

    inputs = keras.tree.flatten(model.input)
    return any(t.shape[i] is None for t in inputs for i in _image_axes(len(t.shape)))


def _raised_by_own_call(model: Any, e: BaseException) -> bool:
    """Whether ``e`` was raised in the model class's own ``call`` (not in a layer or an op it ran)."""
    tb, last = e.__traceback__, None
    while tb is not None:
        last, tb = tb.tb_frame.f_code, tb.tb_next
    return last is not None and last is getattr(getattr(type(model), "call", None), "__code__", None)


def _reason(e: BaseException) -> str:
    """An exception in one line: Keras's ``Exception encountered when calling X.call().``
    preamble becomes ``in X``, its message kept, its formatting and argument list dropped."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    m = re.match(r"\s*Exception encountered when calling (\S+?)\.call\(\)\.\s*(.*?)(\n\s*Arguments received|$)", text, re.S)
    if m:
        text = f"in {m.group(1)}: {m.group(2)}"
    return f"{type(e).__name__}: {' '.join(text.split())[:240]}"


def _declared_lengths(model: Any) -> set[int]:
    """The sequence lengths a model's config declares (``max_sequence_length`` ... of its
    nested encoders, keras-hub's names), at most 4096."""
    out: set[int] = set()

    def walk(obj: Any, depth: int = 0) -> None:
        if depth > 12:
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, str) and "sequence_length" in k and isinstance(v, int) and not isinstance(v, bool) \
                        and 1 < v <= 4096:
                    out.add(v)
                else:
                    walk(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v, depth + 1)

    try:
        walk(model.get_config())
    except Exception:  # noqa: BLE001 - a model without a config has no declared lengths
        pass
    return out


def _signal_inputs(model: Any) -> set[str] | None:
    """The inputs that may need more than :data:`SEQ_LEN` steps: float sequences of
    unknown length (audio samples, feature frames) and the inputs named with the same
    prefix (``encoder_input_values`` and ``encoder_padding_mask``); token inputs of
    another part (``decoder_token_ids``) keep a short length. None when there are none
    or when that is every input."""
    import keras

    ts = [t for t in keras.tree.flatten(model.input) if getattr(t, "name", None)]
    signal = {t.name for t in ts if len(t.shape) == 3 and t.shape[1] is None
              and "int" not in str(t.dtype) and "bool" not in str(t.dtype)}
    prefixes = {n.split("_", 1)[0] for n in signal if "_" in n}
    grow = signal | {t.name for t in ts if "_" in t.name and t.name.split("_", 1)[0] in prefixes}
    return grow if grow and len(grow) < len(ts) else None


def from_model(model: Any, converter: Any, *, name: str = "model", path: str = "", inputs: Any = None) -> Graph:
    """Run ``model`` once (inference mode) and map what ran to a :class:`Graph`.
    ``converter`` is the saved-config converter class
    (:class:`archlint.frontends.keras.Loader`), passed in so that this module does not
    import the Keras frontend that imports it."""
    import keras

    if keras.backend.backend() != "torch":
        raise LoadError(path or name, "archlint reads a live Keras model on the torch backend: set KERAS_BACKEND=torch before importing keras")
    from archlint.frontends import _torchvision_compat
    from archlint.graph.passes import finish

    # a layer may import torchvision while it runs (keras-hub's SAM 3 calls its roi_align, which
    # has a plain-torch path): let that import work where torchvision's compiled ops do not load
    _torchvision_compat.install()

    # an audio model's convolutions need more than 16 samples, while its decoder's tokens
    # must stay within its position table: the audio inputs grow first, then every input
    grow = _signal_inputs(model) if inputs is None else None
    tries: list[tuple[int, set[str] | None, int]] = [(SEQ_LEN, None, IMAGE_SIDE)]
    # a text tower that adds its whole position table needs exactly its declared length (SigLIP: 64)
    tries += [(n, None, IMAGE_SIDE) for n in sorted(_declared_lengths(model)) if n != SEQ_LEN]
    # an image input left free whose size the model ties to another (SAM's mask prompt: four
    # times its image embedding's side) is tried at other sides
    if inputs is None and _free_image_side(model):
        tries += [(SEQ_LEN, None, s) for s in IMAGE_SIDES if s != IMAGE_SIDE]
    for n in (256, 4096, 16000):
        tries += [(n, grow, IMAGE_SIDE), (n, None, IMAGE_SIDE)] if grow else [(n, None, IMAGE_SIDE)]
    if inputs is not None:
        tries = tries[:1]
    given = inputs
    first: Exception | None = None
    for attempt, (length, names_, side) in enumerate(tries):
        rec = _Recorder()
        try:
            inputs = given if given is not None else example_inputs(model, length, names_, side)
            with _recording(rec, converter):
                out = model(inputs, training=False)
            break
        except LoadError:
            raise
        except Exception as e:  # noqa: BLE001 - a model that cannot run on its declared inputs
            if isinstance(e, NotImplementedError) and _raised_by_own_call(model, e):
                # the model's call refuses by design (keras-hub's Gemma 4 assistant, a draft model
                # run through its target's cache): no input size changes that
                raise LoadError(path or name, "the Keras model refuses to be called on its own, and archlint reads "
                                              f"a live Keras model by calling it once ({_reason(e)})") from None
            first = first or e  # the standard try's error says most: later tries only guess lengths
            if attempt + 1 < len(tries):
                continue
            raise LoadError(path or name, "the Keras model did not run on inputs of its declared shapes "
                                          f"({_reason(first)})") from None
    loader = converter(name, path or name, channels_last=True)
    loader.b.graph.format = "keras"
    vals: dict[int, str] = {}
    names = [getattr(x, "name", None) for x in keras.tree.flatten(model.input)]
    # both flattened by Keras (a dict in sorted key order), so each input keeps its own name
    for i, t in enumerate(_tensors(keras.tree.flatten(inputs), [])):
        nm = names[i] if i < len(names) and names[i] else f"input_{i}"
        vals[id(t)] = loader._input(nm, list(t.shape))
    b = loader.b
    # a model weight's tensor, and every tensor computed from weights alone, -> the weight's tensor id;
    # that id -> the first node that reads it
    source: dict[int, int] = {id(t): id(t) for w in model.weights for t in _tensors([w], [])}
    reader: dict[int, Any] = {}
    seen_layers: dict[int, str] = {}
    counts: dict[str, int] = {}
    counted: set[int] = set()  # the variables whose sizes are on a node
    for ev in rec.events:
        first = len(b.graph.nodes)
        if ev[0] == "nested":  # the outputs of a nested model (a task's backbone) say so
            for t in ev[2]:
                val = b.value(vals[id(t)]) if id(t) in vals else None
                if val is not None and val.producer is not None:
                    val.producer.attrs.setdefault("nested_output", ev[1])
            continue
        if ev[0] == "leaf":
            _, layer, cls, full, ins, outs, kwargs = ev
            known = [vals[id(t)] for t in ins if id(t) in vals]
            if not known:
                continue  # a layer run on constants only (a mask built from nothing)
            cfg = _layer_config(layer)
            spec = {"kwargs": {k: v for k, v in kwargs.items() if isinstance(v, (bool, int, float, str))}}
            in_shapes = [list(t.shape) for t in ins if id(t) in vals]
            made = loader._call({"class_name": cls, "config": cfg}, cls, cfg, full, known, "", counts.get(full, 0), spec, in_shapes)
            counts[full] = counts.get(full, 0) + 1
            _exact_params(b.graph.nodes[first:], layer, seen_layers, full)
            counted.update(id(w) for w in layer.weights)
            for t, v in zip(outs, made, strict=False):
                vals[id(t)] = v
                _set_shape(b, v, t, loader)
            continue
        _, fname, scope, ins, outs, args, fkwargs = ev
        known = [vals[id(t)] for t in ins if id(t) in vals]
        if not known:  # constant arithmetic (positions, masks of fixed shape), or a weight transformed
            roots = [source[id(t)] for t in ins if id(t) in source]
            if roots:
                source.update((id(t), roots[0]) for t in outs)
            continue
        weights = [t for t in ins if id(t) not in vals and t.dim() >= 2 and t.requires_grad]
        kind, attrs = _glue_kind(fname, outs, weights)
        if kind is OpKind.UNKNOWN and fname in _MATMUL:
            # no weight of a layer: a product of activations (scores, a recurrent state), or of an
            # activation and a table computed from weights or constants (relative positions)
            eq = args[0] if fname == "einsum" and args and isinstance(args[0], str) else None
            kind, attrs = OpKind.MATMUL, matmul_attrs([list(t.shape) for t in ins], eq)
        elif kind is OpKind.UNKNOWN and fname.removeprefix("fft_") in _FOURIER:  # torch.fft.fft2 is "fft_fft2"
            kind, attrs = OpKind.MATMUL, {}
        elif fname == "scaled_dot_product_attention":  # keras.ops.dot_product_attention on torch
            kind, attrs = OpKind.ATTENTION, _sdpa_attrs(args, fkwargs)
        op_type = fname
        if kind in (OpKind.ADD, OpKind.MUL) and len(known) == 1 and fname in _ARITH:
            scalar = _scalar_operand(fname, args, vals)
            if scalar is not None:  # x / 4.0, x + eps: arithmetic with a constant, as the other frontends record it
                op_type = _ARITH[fname]
                kind, attrs = OpKind.IDENTITY, {f"constant_{op_type}": True, "scalar": scalar[0]}
                if scalar[1]:
                    attrs["scalar_first"] = True
        base = re.sub(r"^_+|_+$", "", fname) or "op"
        lname = f"{scope}/{base}" if scope else base
        v = loader._fresh(lname)
        more = [(loader._fresh(f"{lname}:{i}"), None) for i in range(1, len(outs))]
        node = loader._add(kind, op_type, lname, known, v, attrs, shape=None, more=more)
        for t in ins:
            if id(t) in source:
                reader.setdefault(source[id(t)], node)
        for t, val in zip(outs, node.outputs, strict=False):
            vals[id(t)] = val.name
            _set_shape(b, val.name, t, loader)
    # weights no converted layer accounts for: a block's own (a position table, a class
    # token), or a layer the block runs without calling it (``self.dense.call(x)``):
    # each goes to the first node that reads it (or a tensor computed from it only), else
    # to the first node under the scope its variable path names
    for w in model.weights:
        if id(w) in counted:
            continue
        counted.add(id(w))
        vpath = str(getattr(w, "path", "") or "")
        scope = vpath.rsplit("/", 1)[0] if "/" in vpath else ""
        host = next((reader[id(t)] for t in _tensors([w], []) if id(t) in reader), None)
        while scope and host is None:
            host = next((n for n in b.graph.nodes if n.kind is not OpKind.INPUT
                         and (n.layer == scope or n.layer.endswith("/" + scope) or ("/" + scope + "/") in ("/" + n.layer + "/")
                              or n.layer.startswith(scope + "/"))), None)
            scope = scope.rsplit("/", 1)[0] if "/" in scope else ""
        if host is None:
            host = next((n for n in b.graph.nodes if n.kind is not OpKind.INPUT), None)
        if host is None:
            continue
        key = "params" if getattr(w, "trainable", True) else "non_trainable"
        host.attrs[key] = int(host.attrs.get(key, 0) or 0) + _size(w)
        host.attrs.setdefault("weights_of", vpath)
    for t in _tensors(out, []):
        if id(t) in vals:
            b.mark_output(vals[id(t)])
    graph = finish(b)
    graph.meta["keras_class"] = type(model).__name__
    graph.meta["capture"] = "keras (run once, torch backend)"
    graph.meta["non_trainable_params"] = sum(int(n.attrs.get("non_trainable", 0) or 0) for n in graph.nodes)
    return graph


def _layer_config(layer: Any) -> dict[str, Any]:
    """The layer's ``get_config()``; for a layer that cannot give one (keras-hub's Gemma
    ``RMSNormalization`` is built with a dtype-policy object and does not override
    ``get_config``, so Keras's automatic config refuses), its plain attributes
    (``epsilon`` ...): the converter reads only such fields, and the parameter count
    comes from the layer's own weights either way."""
    try:
        return dict(layer.get_config())
    except NotImplementedError:
        cfg = {k: v for k, v in vars(layer).items()
               if not k.startswith("_") and isinstance(v, (bool, int, float, str, type(None)))}
        cfg["name"] = layer.name
        return cfg


def _size(w: Any) -> int:
    shape = getattr(w, "shape", None) or ()
    return int(math.prod(int(d) for d in shape)) if shape else 1


def _exact_params(nodes: list[Any], layer: Any, seen: dict[int, str], full: str) -> None:
    """The layer's own weights, counted once however often it is called: the
    converter's split over its nodes is kept, corrected to the real total."""
    weighted = [n for n in nodes if n.params or n.kind in (OpKind.CONV, OpKind.DENSE, OpKind.EMBEDDING, OpKind.RNN,
                                                            OpKind.ATTENTION, OpKind.BATCH_NORM, OpKind.LAYER_NORM,
                                                            OpKind.RMS_NORM, OpKind.NORM)]
    if id(layer) in seen:
        for n in nodes:
            if n.params or n.attrs.get("non_trainable"):
                n.attrs["params"] = 0
                n.attrs["non_trainable"] = 0
                n.attrs["shared"] = seen[id(layer)]
        return
    seen[id(layer)] = full
    trainable = sum(_size(w) for w in layer.trainable_weights)
    frozen = sum(_size(w) for w in layer.non_trainable_weights)
    if not nodes:
        return
    host = weighted[0] if weighted else nodes[0]
    diff = trainable - sum(n.params for n in nodes)
    if diff:
        host.attrs["params"] = host.params + diff
    for n in nodes:
        if n.attrs.get("non_trainable"):
            n.attrs["non_trainable"] = 0
    if frozen:
        host.attrs["non_trainable"] = frozen


def _sdpa_attrs(args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """torch's ``scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)``,
    queries ``(N, heads, L, head_dim)``: the attention's attributes, as the torch frontend reads them."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
    a = {**dict(zip(names, args if isinstance(args, (list, tuple)) else (), strict=False)), **kwargs}
    q = tuple(getattr(a.get("query"), "shape", ()) or ())
    attrs: dict[str, Any] = {"heads": int(q[1]) if len(q) == 4 else None, "head_dim": int(q[-1]) if q else None,
                             "causal": bool(a.get("is_causal")) or None, "masked": a.get("attn_mask") is not None,
                             "dropout": float(a.get("dropout_p") or 0.0)}
    scale = a.get("scale")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        attrs["scale"] = float(scale)
    else:  # the op's default, 1/sqrt(head_dim)
        attrs["scale"] = 1 / math.sqrt(int(q[-1])) if q and q[-1] else None
        attrs["scale_default"] = True
    return attrs


def _scalar_operand(fname: str, args: Any, vals: dict[int, str]) -> tuple[float, bool] | None:
    """The one-element constant operand of an add/sub/mul/div (a Python number, or a
    tensor of one element that no model value is), and whether it comes first
    (``1 / x``; a reflected ``__rtruediv__`` has it second in ``args``)."""
    import torch

    for i, a in enumerate(args if isinstance(args, (list, tuple)) else ()):
        if isinstance(a, bool):
            continue
        if isinstance(a, (int, float)):
            value = float(a)
        elif isinstance(a, torch.Tensor) and id(a) not in vals and a.numel() == 1 and not a.is_complex():
            value = float(a.item())
        else:
            continue
        return value, i == 0 or fname.startswith("__r")
    return None


def _set_shape(b: Any, vname: str, t: Any, loader: Any) -> None:
    val = b.value(vname)
    if val is not None and hasattr(t, "shape"):
        val.shape = loader._canon(list(t.shape))


def _glue_kind(fname: str, outs: list[Any], weights: list[Any]) -> tuple[OpKind, dict[str, Any]]:
    base = fname.strip("_") if fname not in _ADD | _MUL else fname
    if fname in _ADD:
        return OpKind.ADD, {"merge": "add"}
    if fname in _MUL:
        return OpKind.MUL, {"merge": "multiply"}
    if fname in _CAT:
        return OpKind.CONCAT, {"axis": 1}
    if fname in _VIEW or base in _VIEW:
        return OpKind.RESHAPE, {"view": base}
    if fname in _ACT:
        return OpKind.ACTIVATION, {"activation": _ACT[fname]}
    if fname == "embedding":  # F.embedding(ids, table): a lookup in a weight, or a gather from an activation
        if weights:
            w = weights[0]
            return OpKind.EMBEDDING, {"vocab": int(w.shape[0]), "dim": int(w.shape[-1])}
        return OpKind.RESHAPE, {"view": "gather"}
    if fname in _MATMUL and weights:  # x @ W with a layer's own weight: a dense layer written out
        w = weights[0]
        units = int(w.shape[-1])
        return OpKind.DENSE, {"units": units, "in_features": int(w.shape[0]) if w.dim() == 2 else None, "bias": False}
    if fname in _SAME or base in _SAME:
        return OpKind.IDENTITY, {"op": base}
    return OpKind.UNKNOWN, {"op": base}
