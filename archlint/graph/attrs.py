"""Typed attributes, one record class per op kind (the anchor: onnx-ir's typed ``Attr``).

``Node.attrs`` is an :class:`Attrs`: a ``dict`` subclass, so everything that
reads ``node.attrs.get("rate", 0.5)``, ``node.attrs["kernel"]``, ``"tied" in
node.attrs`` or ``{**node.attrs}`` works as on a plain dict, and keys a kind
does not declare are kept as they are. What the record adds:

- each kind declares its fields (:attr:`Attrs.FIELDS`: a checker, a default
  and one line of meaning), and a value of the wrong type is refused with a
  :class:`~archlint.graph.kinds.GraphError` naming the kind, the field and the
  value, when the node is built and when a field is set later;
- typed reads: ``node.attrs.rate`` is the field's value, or its declared
  default when the frontend did not set it (``node.attrs.get("rate")`` still
  says whether it was set);
- ``None`` is always accepted and means *unknown* (a layer size the file does
  not give).

:func:`attrs_for` builds the record for a kind; :data:`ATTRS` maps every
:class:`OpKind` to its class. :func:`contract_table` renders the fields as the
Markdown table of the contract (``archlint/graph/__init__.py``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from archlint.graph.kinds import GraphError, OpKind

# -- checkers ---------------------------------------------------------------------


# exact-type fast paths first: these run for every attribute of every node built

def _is_int(v: Any) -> bool:
    t = type(v)
    return t is int or (t is not bool and isinstance(v, numbers.Integral))


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is float or t is int or (t is not bool and isinstance(v, numbers.Real))


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_ints(v: Any) -> bool:
    if type(v) is not tuple and not isinstance(v, (tuple, list)):
        return False
    for x in v:
        if type(x) is not int and x is not None and not _is_int(x):
            return False
    return True


def _is_int_or_ints(v: Any) -> bool:
    return _is_int(v) or _is_ints(v)


def _is_padding(v: Any) -> bool:
    return isinstance(v, str) or _is_ints(v)


def _is_dict(v: Any) -> bool:
    return isinstance(v, Mapping)


def _is_any(v: Any) -> bool:
    return True


def _probability(value: Any) -> float | None:
    """A dropout rate as a float in [0, 1], or None when a file holds anything
    else (a string, a huge integer, NaN): rules then treat it as unknown."""
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if 0.0 <= f <= 1.0 else None


@dataclass(frozen=True)
class Field:
    """One declared attribute: what values it takes, its default, what it means."""

    check: Callable[[Any], bool]
    default: Any = None
    doc: str = ""
    #: the type in words, for the contract table and error messages
    type: str = "any"


def _f(type_: str, doc: str, default: Any = None) -> Field:
    return Field(_CHECKS[type_], default, doc, type_)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "number": _is_number,
    "bool": _is_bool,
    "str": _is_str,
    "ints": _is_ints,
    "int or ints": _is_int_or_ints,
    "str or ints": _is_padding,
    "mapping": _is_dict,
    "any": _is_any,
}

#: names a field may not take (they are dict methods, reached as ``attrs.get`` ...)
_RESERVED = frozenset(dir(dict))


# -- the records ------------------------------------------------------------------


class Attrs(dict):
    """The attributes of a node: a dict whose declared keys are checked.

    ``FIELDS`` of the base class are the ones any kind may carry (the weight
    count, the framework's module class, Keras initialisers and regularisers);
    each kind's class adds its own."""

    __slots__ = ()
    KIND: ClassVar[OpKind | None] = None
    FIELDS: ClassVar[dict[str, Field]] = {
        "params": _f("int", "trainable parameters this node owns (a tied or shared table counts once)", 0),
        "module_class": _f("str", "the framework's module class (torch ``pkg.Module``), when known"),
        "init": _f("mapping", "Keras initialisers by weight name (``kernel``, ``bias`` ...)"),
        "regularizers": _f("mapping", "Keras regularisers by weight name"),
        "custom": _f("bool", "user code archlint cannot see into (a Keras Lambda, a registered custom layer)", False),
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("FIELDS", {})
        cls.FIELDS = {**Attrs.FIELDS, **own} if cls.__base__ is Attrs else {**cls.__base__.FIELDS, **own}
        for name in own:
            if name in _RESERVED:
                raise TypeError(f"{cls.__name__}: field {name!r} hides a dict method")
            setattr(cls, name, _field_property(name))

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kw: Any) -> None:
        dict.__init__(self, data, **kw)
        fields = self.FIELDS
        for key, value in self.items():
            f = fields.get(key)
            if f is not None and value is not None and not f.check(value):
                raise self._bad(key, value, f)

    def __setitem__(self, key: str, value: Any) -> None:
        f = self.FIELDS.get(key)
        if f is not None and value is not None and not f.check(value):
            raise self._bad(key, value, f)
        super().__setitem__(key, value)

    def _bad(self, key: str, value: Any, f: Field) -> GraphError:
        kind = self.KIND.value if self.KIND is not None else "any"
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return GraphError(f"{kind} node: attribute {key!r} must be {f.type} (or None), not {shown}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as its class and items (``--jobs`` workers)
        return (type(self), (dict(self),))


def _field_property(name: str) -> property:
    def get(self: Attrs) -> Any:
        return self.get(name, self.FIELDS[name].default)

    def set_(self: Attrs, value: Any) -> None:
        self[name] = value

    return property(get, set_, doc=f"the {name!r} attribute (its declared default when not set)")


for _name in Attrs.FIELDS:
    setattr(Attrs, _name, _field_property(_name))

_WINDOW = {
    "kernel": _f("ints", "window size per spatial axis, canonical order (D, H, W)"),
    "stride": _f("ints", "step per spatial axis"),
    "dilation": _f("ints", "dilation per spatial axis"),
    "padding": _f(
        "str or ints",
        '``"valid"``, ``"same"``, or explicit pads in ONNX order (all begins, then all ends)',
        "valid",
    ),
}


class ConvAttrs(Attrs):
    """Convolutions of any rank: plain, grouped, depthwise, separable halves, transposed."""

    KIND = OpKind.CONV
    __slots__ = ()
    FIELDS = {
        "channels": _f("int", "output channels (filters)"),
        "in_channels": _f("int", "input channels"),
        **_WINDOW,
        "groups": _f("int", "channel groups (in_channels for a depthwise conv)", 1),
        "bias": _f("bool", "whether the layer adds a bias", False),
        "rank": _f("int", "number of spatial axes (1, 2, 3)"),
        "transposed": _f("bool", "a transposed (up-sampling) convolution", False),
        "depthwise": _f("bool", "one group per input channel", False),
        "depth_multiplier": _f("int", "output channels per input channel of a depthwise conv", 1),
        "separable": _f("bool", "one half of a Keras separable convolution", False),
        "weight_standardised": _f("bool", "the weight is normalised before use (NF-Net ScaledStdConv)", False),
    }


class DenseAttrs(Attrs):
    """Fully connected layers (Gemm, MatMul with a weight, Linear, Dense), on the last axis."""

    KIND = OpKind.DENSE
    __slots__ = ()
    FIELDS = {
        "units": _f("int", "output features"),
        "in_features": _f("int", "input features"),
        "bias": _f("bool", "whether the layer adds a bias", False),
        "weight": _f("str", "the weight tensor's name (ties it to an embedding table)"),
        "tied": _f("str", "the layer of the embedding whose table this projection reuses"),
    }


class _NormAttrs(Attrs):
    __slots__ = ()
    FIELDS = {
        "epsilon": _f("number", "the variance floor"),
        "channels": _f("int", "channels normalised"),
    }


class BatchNormAttrs(_NormAttrs):
    """Batch normalisation over the channel axis."""

    KIND = OpKind.BATCH_NORM
    __slots__ = ()
    FIELDS = {
        "momentum": _f("number", "running-statistics momentum, in the framework's own convention"),
        "training_mode": _f("bool", "exported in training mode (batch statistics)", False),
    }


class NormAttrs(_NormAttrs):
    """Group, instance, Lp, local-response, unit and other normalisations."""

    KIND = OpKind.NORM
    __slots__ = ()
    FIELDS = {
        "norm": _f("str", "which normalisation (see :data:`archlint.graph.names.NORMS`)"),
        "groups": _f("any", "channel groups of a group norm (as the file gives it)"),
        "affine": _f("bool", "whether it has a learnt scale"),
        "written_out": _f("bool", "fused from written-out arithmetic by the pattern pass", False),
    }


class LayerNormAttrs(NormAttrs):
    """Layer normalisation over the feature axis, the written-out mean/var/rsqrt form too."""

    KIND = OpKind.LAYER_NORM
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


class RMSNormAttrs(NormAttrs):
    """RMS normalisation, the written-out pow-mean-rsqrt-mul form too."""

    KIND = OpKind.RMS_NORM
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


class DropoutAttrs(Attrs):
    """Every dropout flavour. ``rate`` is a probability in [0, 1] or None:
    anything else a file holds (a string, NaN, 7) becomes None (unknown), never an error."""

    KIND = OpKind.DROPOUT
    __slots__ = ()
    FIELDS = {
        "rate": _f("number", "the drop probability, in [0, 1]; None when unknown"),
        "spatial": _f("bool", "whole channels dropped (Dropout2d, SpatialDropout2D)", False),
        "flavour": _f("str", "which dropout (see :data:`archlint.graph.names.DROPOUTS`)", "dropout"),
    }

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kw: Any) -> None:
        dict.__init__(self, data, **kw)
        if "rate" in self:
            dict.__setitem__(self, "rate", _probability(self["rate"]))
        fields = self.FIELDS
        for key, value in self.items():
            f = fields.get(key)
            if f is not None and value is not None and not f.check(value):
                raise self._bad(key, value, f)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _probability(value) if key == "rate" else value)


class ActivationAttrs(Attrs):
    """Element-wise non-linearities and softmax."""

    KIND = OpKind.ACTIVATION
    __slots__ = ()
    FIELDS = {
        "activation": _f("str", "canonical name (see :data:`archlint.graph.names.ACTIVATIONS`)"),
        "axis": _f("int or ints", "the softmax axis, as the framework gives it"),
        "alpha": _f("number", "the negative slope of a leaky ReLU"),
        "min": _f("number", "lower clip bound"),
        "max": _f("number", "upper clip bound"),
        "fused": _f("bool", "an activation fused into the layer before it (Keras ``activation=``)", False),
    }


class PoolAttrs(Attrs):
    """Local max / average / Lp pooling, adaptive pooling to a fixed output size."""

    KIND = OpKind.POOL
    __slots__ = ()
    FIELDS = {
        "pool": _f("str", '``"max"``, ``"avg"`` or ``"lp"``'),
        **_WINDOW,
        "adaptive": _f("bool", "adaptive pooling to ``output_size``", False),
        "output_size": _f("ints", "the output size of an adaptive pooling"),
    }


class GlobalPoolAttrs(Attrs):
    """Pooling over every spatial axis (or the named ``axes``)."""

    KIND = OpKind.GLOBAL_POOL
    __slots__ = ()
    FIELDS = {
        "pool": _f("str", '``"max"`` or ``"avg"``'),
        "keepdims": _f("bool", "the pooled axes are kept with size 1", False),
        "axes": _f("ints", "the reduced axes, when the op names them"),
    }


class AttentionAttrs(Attrs):
    """Scaled dot-product attention, fused or found by the pattern pass."""

    KIND = OpKind.ATTENTION
    __slots__ = ()
    FIELDS = {
        "heads": _f("int", "attention heads"),
        "head_dim": _f("int", "features per head"),
        "scale": _f("number", "the factor on the scores (1/sqrt(head_dim) when scaled as usual)"),
        "scale_default": _f("bool", "the scale was not given, so the op's default 1/sqrt(head_dim) applies", False),
        "causal": _f("bool", "a causal mask (None: not known)"),
        "masked": _f("bool", "an attention mask is applied", False),
        "dropout": _f("number", "dropout on the attention weights", 0.0),
        "decomposed": _f("bool", "found by the pattern pass in written-out matmul/softmax arithmetic", False),
    }


class MatMulAttrs(Attrs):
    """A product with no layer weight as an operand (MatMul, bmm, einsum): of two
    activations (``q @ k^T`` and ``p @ v`` left outside a fused attention, a recurrent
    state), or of an activation and a table computed from weights or constants (a
    relative-position table gathered per position), or a Fourier transform (a product
    with the constant DFT matrix: FNet's token mixing). A product with a weight is DENSE."""

    KIND = OpKind.MATMUL
    __slots__ = ()
    FIELDS = {
        "equation": _f("str", "the einsum equation, when the op is an einsum"),
        "contracted": _f("int", "the size summed over (the shared axis of a matmul), when known"),
    }


def matmul_attrs(shapes: Sequence[Sequence[int | None] | None], equation: str | None = None) -> dict[str, Any]:
    """A MATMUL's attributes from its two operands' shapes, in the framework's own axis
    order (numpy ``matmul`` rules, or the einsum ``equation``): the size summed over,
    when every dimension it needs is known."""
    attrs: dict[str, Any] = {}
    if equation is not None:
        eq = equation.replace(" ", "")
        attrs["equation"] = eq
        lhs, _, rhs = eq.partition("->")
        terms = lhs.split(",")
        if not rhs or len(terms) != 2 or "." in lhs or len(shapes) != 2:
            return attrs
        sizes: dict[str, int | None] = {}
        for term, shape in zip(terms, shapes, strict=False):
            if shape is None or len(shape) != len(term):
                return attrs
            sizes.update(zip(term, shape, strict=False))
        summed = [sizes[c] for c in set(lhs) - set(rhs) - {","}]
        if all(isinstance(d, int) for d in summed):
            attrs["contracted"] = math.prod(summed)  # type: ignore[arg-type]
        return attrs
    first = shapes[0] if shapes else None
    if first and isinstance(first[-1], int):
        attrs["contracted"] = int(first[-1])
    return attrs


class EmbeddingAttrs(Attrs):
    """A lookup in a weight table."""

    KIND = OpKind.EMBEDDING
    __slots__ = ()
    FIELDS = {
        "vocab": _f("int", "rows of the table (the vocabulary)"),
        "dim": _f("int", "columns of the table (the embedding width)"),
        "weight": _f("str", "the table's tensor name (ties it to an output projection)"),
        "tied": _f("str", "the layer of the dense projection that reuses this table"),
        "shared": _f("str", "the layer of another lookup in the same table (counted once)"),
    }


class RNNAttrs(Attrs):
    """LSTM, GRU and simple RNN layers."""

    KIND = OpKind.RNN
    __slots__ = ()
    FIELDS = {
        "cell": _f("str", '``"lstm"``, ``"gru"`` or ``"rnn"``'),
        "units": _f("int", "output features (both directions of a bidirectional layer)"),
        "hidden": _f("int", "hidden size of one direction"),
        "layers": _f("int", "stacked layers", 1),
        "bidirectional": _f("bool", "runs in both directions", False),
        "dropout": _f("number", "dropout on the inputs (between stacked layers in torch)", 0.0),
        "recurrent_dropout": _f("number", "dropout on the recurrent state", 0.0),
        "variational": _f("bool", "one dropout mask reused over the time steps (Keras)", False),
        "return_sequences": _f("bool", "the whole sequence is returned, not the last step"),
    }


class FlattenAttrs(Attrs):
    """Flatten from ``axis`` on."""

    KIND = OpKind.FLATTEN
    __slots__ = ()
    FIELDS = {"axis": _f("int", "the first flattened axis", 1)}


class ReshapeAttrs(Attrs):
    """Reshape, transpose, squeeze and the views shape inference looks through."""

    KIND = OpKind.RESHAPE
    __slots__ = ()
    FIELDS = {
        "target": _f("ints", "the target shape, canonical order; index 0 is the batch and is not read"),
        "perm": _f("ints", "the axis permutation of a transpose"),
        "view": _f("str", "which view op (``squeeze``, ``unsqueeze``, ``view`` ...)"),
    }


class ConcatAttrs(Attrs):
    """Concatenation along ``axis`` (canonical order)."""

    KIND = OpKind.CONCAT
    __slots__ = ()
    FIELDS = {
        "axis": _f("int", "the joined axis", 1),
        "merge": _f("str", "the Keras merge layer's operation"),
    }


class MergeAttrs(Attrs):
    """Element-wise merges of several data inputs (``ADD`` also stands for subtract, average, max, min)."""

    __slots__ = ()
    FIELDS = {"merge": _f("str", "the Keras merge layer's operation (add, subtract, average ...)")}


class AddAttrs(MergeAttrs):
    KIND = OpKind.ADD
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


class MulAttrs(MergeAttrs):
    KIND = OpKind.MUL
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


class IdentityAttrs(Attrs):
    """Ops that keep a value's meaning: casts, copies, and arithmetic with a constant."""

    KIND = OpKind.IDENTITY
    __slots__ = ()
    FIELDS = {
        "scalar": _f("number", "the one-element constant operand"),
        "scalar_first": _f("bool", "the constant is the first operand (``1 / x``)", False),
        "constant_add": _f("bool", "adds a constant", False),
        "constant_sub": _f("bool", "subtracts a constant", False),
        "constant_mul": _f("bool", "multiplies by a constant", False),
        "constant_div": _f("bool", "divides by a constant", False),
        "constant_where": _f("bool", "selects with a constant", False),
        "activation": _f("str", '``"linear"``: a Keras Activation("linear")'),
    }


class PadAttrs(Attrs):
    """Padding and cropping."""

    KIND = OpKind.PAD
    __slots__ = ()
    FIELDS = {
        "pads": _f("any", "(begin, end) per spatial axis (Keras)"),
        "crop": _f("bool", "cropping rather than padding", False),
    }


class UnknownAttrs(Attrs):
    """Ops outside the closed set: the rules see through nothing."""

    KIND = OpKind.UNKNOWN
    __slots__ = ()
    FIELDS = {
        "scalar": _f("number", "the one-element constant operand"),
        "class_name": _f("str", "the Keras layer class"),
        "domain": _f("str", "the ONNX op domain"),
    }


class InputAttrs(Attrs):
    KIND = OpKind.INPUT
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


class OutputAttrs(Attrs):
    KIND = OpKind.OUTPUT
    __slots__ = ()
    FIELDS: ClassVar[dict[str, Field]] = {}


#: the record class of each kind
ATTRS: dict[OpKind, type[Attrs]] = {
    cls.KIND: cls
    for cls in (
        InputAttrs, OutputAttrs, ConvAttrs, DenseAttrs, BatchNormAttrs, NormAttrs, LayerNormAttrs, RMSNormAttrs,
        AttentionAttrs, MatMulAttrs, EmbeddingAttrs, RNNAttrs, DropoutAttrs, ActivationAttrs, PoolAttrs, GlobalPoolAttrs,
        FlattenAttrs, ReshapeAttrs, AddAttrs, MulAttrs, ConcatAttrs, IdentityAttrs, PadAttrs, UnknownAttrs,
    )
    if cls.KIND is not None
}
assert set(ATTRS) == set(OpKind), "every kind has its attribute record"


def attrs_for(kind: OpKind, data: Mapping[str, Any] | None = None) -> Attrs:
    """A new record of ``kind``'s class holding ``data`` (copied, then checked)."""
    return ATTRS[kind](data or ())


def contract_table() -> str:
    """The declared fields of every kind as Markdown (the contract's attribute table)."""
    lines = ["| kind | attribute | type | default | meaning |", "|---|---|---|---|---|"]
    for kind, cls in ATTRS.items():
        own = {k: f for k, f in cls.FIELDS.items() if k not in Attrs.FIELDS}
        for name, f in own.items():
            default = "" if f.default is None else f"`{f.default!r}`"
            lines.append(f"| {kind.value} | `{name}` | {f.type} | {default} | {f.doc} |")
    for name, f in Attrs.FIELDS.items():
        default = "" if f.default is None else f"`{f.default!r}`"
        lines.append(f"| (any) | `{name}` | {f.type} | {default} | {f.doc} |")
    return "\n".join(lines)


__all__ = [
    "ATTRS",
    "Attrs",
    "Field",
    "attrs_for",
    "contract_table",
    *(c.__name__ for c in ATTRS.values()),
]
