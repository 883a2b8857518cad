"""One table of the activation, dropout and normalisation names every frontend maps.

Each row is a canonical name (what ``attrs["activation"]``, ``attrs["flavour"]``
or ``attrs["norm"]`` holds) and how each framework spells it: ONNX op types,
ATen op names (torch.export, ``.pt2``, TorchScript), Keras activation names or
layer classes, and, for dropout, the torch module classes whose decomposed
form the ONNX exporter writes. Frontends read the per-framework lookups
(:func:`activations`, :func:`dropouts`, :func:`norms`) derived from these rows,
so a new spelling is one edit here.
"""

from __future__ import annotations

from dataclasses import dataclass

from archlint.graph.kinds import OpKind


@dataclass(frozen=True)
class Spelling:
    """A canonical name and its spellings per framework."""

    name: str
    onnx: tuple[str, ...] = ()
    aten: tuple[str, ...] = ()
    keras: tuple[str, ...] = ()
    #: torch module classes (the ONNX exporter's metadata names them)
    torch_modules: tuple[str, ...] = ()
    #: dropout only: whole channels are dropped
    spatial: bool = False


#: activations: ``attrs["activation"]`` of an ACTIVATION node
ACTIVATIONS: tuple[Spelling, ...] = (
    Spelling("relu", onnx=("Relu",), aten=("relu",), keras=("relu",)),
    Spelling("relu6", aten=("relu6",), keras=("relu6",)),
    Spelling("leaky_relu", onnx=("LeakyRelu",), aten=("leaky_relu", "rrelu"), keras=("leaky_relu",)),
    Spelling("prelu", onnx=("PRelu",), aten=("prelu", "_prelu_kernel")),
    Spelling("sigmoid", onnx=("Sigmoid",), aten=("sigmoid",), keras=("sigmoid",)),
    Spelling("hard_sigmoid", onnx=("HardSigmoid",), aten=("hardsigmoid",), keras=("hard_sigmoid",)),
    Spelling("tanh", onnx=("Tanh",), aten=("tanh",), keras=("tanh",)),
    Spelling("softmax", onnx=("Softmax",), aten=("softmax", "_softmax"), keras=("softmax",)),
    Spelling("log_softmax", onnx=("LogSoftmax",), aten=("log_softmax", "_log_softmax"), keras=("log_softmax",)),
    Spelling("gelu", onnx=("Gelu",), aten=("gelu",), keras=("gelu", "gelu_approximate")),  # keras-hub's tanh approximation
    Spelling("hard_swish", onnx=("HardSwish",), aten=("hardswish",), keras=("hard_swish", "hard_silu")),
    Spelling("elu", onnx=("Elu",), aten=("elu",), keras=("elu",)),
    Spelling("selu", onnx=("Selu",), aten=("selu",), keras=("selu",)),
    Spelling("celu", onnx=("Celu",), aten=("celu",), keras=("celu",)),
    Spelling("softplus", onnx=("Softplus",), aten=("softplus",), keras=("softplus",)),
    Spelling("softsign", onnx=("Softsign",), keras=("softsign",)),
    Spelling("mish", onnx=("Mish",), aten=("mish",), keras=("mish",)),
    Spelling("thresholded_relu", onnx=("ThresholdedRelu",)),
    Spelling("swish", onnx=("Swish",), aten=("silu",), keras=("swish", "silu")),
    Spelling("exponential", keras=("exponential",)),
    Spelling("linear", keras=("linear",)),
)

#: dropout flavours: ``attrs["flavour"]`` of a DROPOUT node (``spatial``: whole channels)
DROPOUTS: tuple[Spelling, ...] = (
    Spelling("dropout", aten=("dropout", "native_dropout"), keras=("Dropout",), torch_modules=("Dropout",)),
    Spelling("spatial", aten=("feature_dropout",), keras=("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D"),
             torch_modules=("Dropout1d", "Dropout2d", "Dropout3d"), spatial=True),
    Spelling("alpha", aten=("alpha_dropout",), keras=("AlphaDropout",), torch_modules=("AlphaDropout",)),
    Spelling("feature_alpha", aten=("feature_alpha_dropout",), torch_modules=("FeatureAlphaDropout",), spatial=True),
    # multiplicative element-wise noise: a dropout flavour AL001 judges like Dropout
    Spelling("gaussian", keras=("GaussianDropout",)),
    # whole samples of a residual branch (keras_cv / keras_hub layers, custom DropPath)
    Spelling("stochastic_depth", keras=("StochasticDepth", "DropPath")),
)

#: normalisations other than batch norm: ``attrs["norm"]`` of a NORM / LAYER_NORM / RMS_NORM node
NORMS: tuple[Spelling, ...] = (
    Spelling("layer", onnx=("LayerNormalization",), aten=("layer_norm", "native_layer_norm"),
             keras=("LayerNormalization",)),
    Spelling("rms", onnx=("RMSNormalization",), aten=("rms_norm", "_fused_rms_norm"), keras=("RMSNormalization",)),
    Spelling("group", onnx=("GroupNormalization",), aten=("group_norm", "native_group_norm"),
             keras=("GroupNormalization",)),
    Spelling("instance", onnx=("InstanceNormalization",), aten=("instance_norm",)),
    Spelling("lp", onnx=("LpNormalization",)),
    Spelling("lrn", onnx=("LRN",)),
    Spelling("unit", keras=("UnitNormalization",)),
)

#: ATen batch-norm ops (every spelling torch.export and TorchScript write)
ATEN_BATCH_NORMS = frozenset({
    "batch_norm",
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional",
    "_batch_norm_with_update",
    "_batch_norm_with_update_functional",
    "_batch_norm_no_update",
    "cudnn_batch_norm",
})

_FRAMEWORKS = ("onnx", "aten", "keras")


def _lookup(rows: tuple[Spelling, ...], framework: str) -> dict[str, str]:
    if framework not in _FRAMEWORKS and framework != "torch_modules":
        raise ValueError(f"unknown framework {framework!r} (use {', '.join(_FRAMEWORKS)} or torch_modules)")
    out: dict[str, str] = {}
    for row in rows:
        for spelling in getattr(row, framework):
            if spelling in out:
                raise ValueError(f"{spelling!r} spells both {out[spelling]!r} and {row.name!r}")
            out[spelling] = row.name
    return out


def activations(framework: str) -> dict[str, str]:
    """``{framework spelling: canonical activation}`` (``"onnx"``, ``"aten"``, ``"keras"``)."""
    return _lookup(ACTIVATIONS, framework)


def dropouts(framework: str) -> dict[str, tuple[str, bool]]:
    """``{framework spelling: (flavour, spatial)}``; ``"torch_modules"`` gives the module classes."""
    spatial = {row.name: row.spatial for row in DROPOUTS}
    return {k: (v, spatial[v]) for k, v in _lookup(DROPOUTS, framework).items()}


def norms(framework: str) -> dict[str, str]:
    """``{framework spelling: canonical norm}``."""
    return _lookup(NORMS, framework)


def norm_kind(norm: str) -> OpKind:
    """The node kind of a canonical normalisation: LAYER_NORM, RMS_NORM, else NORM."""
    return {"layer": OpKind.LAYER_NORM, "rms": OpKind.RMS_NORM}.get(norm, OpKind.NORM)
