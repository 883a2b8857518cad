"""How each Keras layer maps into the graph: kinds, attrs, shapes, names and params."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from archlint.api import check_graph
from archlint.config import Config
from archlint.errors import LoadError
from archlint.frontends.keras import from_config
from archlint.graph import Graph, OpKind


def ref(name: str, node: int = 0) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": None, "keras_history": [name, node, 0]}}


def L(cls: str, name: str, *srcs: str, **cfg: Any) -> dict[str, Any]:
    """A Keras 3 functional layer entry reading ``srcs``."""
    refs = [ref(s) for s in srcs]
    args = [refs] if len(refs) > 1 else refs
    nodes = [{"args": args, "kwargs": {}}] if srcs else []
    return {"module": "keras.layers", "class_name": cls, "name": name, "config": {"name": name, **cfg},
            "registered_name": None, "inbound_nodes": nodes}


def inp(name: str, *shape: int | None) -> dict[str, Any]:
    return L("InputLayer", name, batch_shape=[None, *shape])


def functional(*layers: dict[str, Any], inputs: list[str] | None = None, out: str | None = None, name: str = "m") -> dict:
    ins = inputs or [layers[0]["name"]]
    return {
        "class_name": "Functional",
        "config": {
            "name": name,
            "layers": list(layers),
            "input_layers": [[i, 0, 0] for i in ins] if len(ins) > 1 else [ins[0], 0, 0],
            "output_layers": [out or layers[-1]["name"], 0, 0],
        },
    }


def graph(*layers: dict[str, Any], **kw: Any) -> Graph:
    g = from_config(functional(*layers, **kw))
    g.lint()
    return g


def node(g: Graph, name: str):
    return next(n for n in g.nodes if n.name == name)


def codes(g: Graph, *select: str) -> list[tuple[str, str | None]]:
    return [(f.code, f.layer) for f in check_graph(g, Config(select=list(select)))]


def test_fused_activation_is_its_own_node_named_after_the_layer() -> None:
    g = graph(inp("x", 8, 8, 3), L("Conv2D", "conv2d_1", "x", filters=4, kernel_size=[3, 3], activation="relu"))
    conv, act = node(g, "conv2d_1"), node(g, "conv2d_1/relu")
    assert act.predecessors() == [conv]
    assert (act.kind, act.layer, act.op_type, act.attrs["activation"]) == (OpKind.ACTIVATION, "conv2d_1", "relu (fused)", "relu")
    assert conv.params == 3 * 3 * 3 * 4 + 4


def test_keras3_serialised_activation_function() -> None:
    act = {"module": "keras.activations", "class_name": "function", "config": "swish", "registered_name": "function"}
    g = graph(inp("x", 4), L("Dense", "d", "x", units=2, activation=act))
    assert node(g, "d/swish").attrs["activation"] == "swish"


def test_fused_activation_makes_al002_see_bn_after_activation() -> None:
    g = graph(
        inp("x", 8, 8, 3),
        L("Conv2D", "c", "x", filters=4, kernel_size=3, padding="same", activation="relu"),
        L("BatchNormalization", "bn", "c"),
    )
    assert codes(g, "AL002") == [("AL002", "bn")]
    bn = node(g, "bn")
    assert bn.attrs == {"channels": 4, "epsilon": 1e-3, "momentum": 0.99, "params": 8, "non_trainable": 8}


@pytest.mark.parametrize(
    ("cls", "kind", "attrs"),
    [
        ("Dropout", OpKind.DROPOUT, {"spatial": False, "flavour": "dropout", "rate": 0.3}),
        ("SpatialDropout1D", OpKind.DROPOUT, {"spatial": True, "flavour": "spatial", "rate": 0.3}),
        ("SpatialDropout2D", OpKind.DROPOUT, {"spatial": True, "flavour": "spatial", "rate": 0.3}),
        ("SpatialDropout3D", OpKind.DROPOUT, {"spatial": True, "flavour": "spatial", "rate": 0.3}),
        ("GaussianDropout", OpKind.DROPOUT, {"spatial": False, "flavour": "gaussian", "rate": 0.3}),
        ("AlphaDropout", OpKind.DROPOUT, {"spatial": False, "flavour": "alpha", "rate": 0.3}),
        ("GaussianNoise", OpKind.IDENTITY, {}),
    ],
)
def test_dropout_flavours(cls: str, kind: OpKind, attrs: dict) -> None:
    g = graph(
        inp("x", 8, 8, 3),
        L("Conv2D", "c1", "x", filters=4, kernel_size=3),
        L(cls, "d", "c1", rate=0.3, stddev=0.1),
        L("Conv2D", "c2", "d", filters=4, kernel_size=3),
    )
    d = node(g, "d")
    assert d.kind is kind and d.attrs == attrs
    flagged = kind is OpKind.DROPOUT and not attrs["spatial"]
    assert codes(g, "AL001") == ([("AL001", "d")] if flagged else [])


@pytest.mark.parametrize(
    ("cls", "cfg", "kind", "act"),
    [
        ("Activation", {"activation": "linear"}, OpKind.IDENTITY, "linear"),
        ("Activation", {"activation": "sigmoid"}, OpKind.ACTIVATION, "sigmoid"),
        ("Activation", {"activation": "gelu"}, OpKind.ACTIVATION, "gelu"),
        ("ReLU", {"max_value": None, "negative_slope": 0.0}, OpKind.ACTIVATION, "relu"),
        ("ReLU", {"max_value": 6.0}, OpKind.ACTIVATION, "relu6"),
        ("LeakyReLU", {"negative_slope": 0.2}, OpKind.ACTIVATION, "leaky_relu"),
        ("ELU", {"alpha": 1.0}, OpKind.ACTIVATION, "elu"),
        ("Softmax", {"axis": -1}, OpKind.ACTIVATION, "softmax"),
        ("PReLU", {"shared_axes": [1, 2]}, OpKind.ACTIVATION, "prelu"),
    ],
)
def test_activation_layers(cls: str, cfg: dict, kind: OpKind, act: str) -> None:
    g = graph(inp("x", 8, 8, 3), L(cls, "a", "x", **cfg))
    a = node(g, "a")
    assert a.kind is kind and a.attrs["activation"] == act
    if cls == "PReLU":
        assert a.params == 3  # one alpha per channel, shared over H and W


def test_lambda_and_custom_layers_are_unknown_and_never_run() -> None:
    evil = {"class_name": "__lambda__", "config": {"code": "aW1wb3J0IG9zOyBvcy5fZXhpdCg5KQ==", "defaults": None}}
    g = graph(
        inp("x", 8, 8, 3),
        L("Lambda", "lam", "x", function=evil, module="archlint_never_imported_module"),
        {**L("MyBlock", "mine", "lam", units=3), "module": "archlint_never_imported_pkg", "registered_name": "Custom>MyBlock"},
    )
    lam, mine = node(g, "lam"), node(g, "mine")
    assert (lam.kind, lam.op_type, lam.attrs) == (OpKind.UNKNOWN, "Lambda", {"class_name": "Lambda", "custom": True})
    assert (mine.kind, mine.layer) == (OpKind.UNKNOWN, "mine")
    assert not any(m.startswith("archlint_never_imported") for m in sys.modules)


def test_conv_family_shapes_and_params() -> None:
    g = graph(
        inp("seq", 100, 8),
        L("Conv1D", "c1", "seq", filters=16, kernel_size=[5], padding="valid"),
        L("Conv1D", "causal", "c1", filters=16, kernel_size=3, padding="causal", dilation_rate=2),
    )
    assert g.inputs[0].shape == (None, 8, 100)
    assert node(g, "c1").output.shape == (None, 16, 96) and node(g, "c1").params == 5 * 8 * 16 + 16
    assert node(g, "causal").output.shape == (None, 16, 96)
    g = graph(
        inp("img", 16, 16, 8),
        L("Conv2DTranspose", "up", "img", filters=4, kernel_size=3, strides=2, padding="same"),
        L("SeparableConv2D", "sep", "up", filters=6, kernel_size=3, padding="same", use_bias=True),
        L("DepthwiseConv2D", "dw", "sep", kernel_size=3, depth_multiplier=2, padding="valid", use_bias=False),
    )
    up = node(g, "up")
    assert up.attrs["transposed"] and up.output.shape == (None, 4, 32, 32) and up.params == 9 * 8 * 4 + 4
    dw1, pw1 = node(g, "sep/depthwise"), node(g, "sep/pointwise")
    assert (dw1.layer, pw1.layer) == ("sep", "sep")
    assert (dw1.attrs["groups"], dw1.attrs["depthwise"], dw1.params) == (4, True, 9 * 4)
    assert (pw1.attrs["kernel"], pw1.params, pw1.output.shape) == ((1, 1), 4 * 6 + 6, (None, 6, 32, 32))
    dw = node(g, "dw")
    assert dw.output.shape == (None, 12, 30, 30) and dw.params == 9 * 12 and dw.attrs["groups"] == 6
    g = graph(inp("vol", 8, 8, 8, 2), L("Conv3D", "c3", "vol", filters=4, kernel_size=3, padding="same", strides=2))
    assert node(g, "c3").output.shape == (None, 4, 4, 4, 4)


def test_pools_norms_padding_reshape() -> None:
    g = graph(
        inp("x", 9, 9, 4),
        L("ZeroPadding2D", "pad", "x", padding=[[1, 0], [1, 0]]),
        L("MaxPooling2D", "mp", "pad", pool_size=[2, 2], strides=None, padding="valid"),
        L("AveragePooling2D", "ap", "mp", pool_size=3, strides=1, padding="same"),
        L("LayerNormalization", "ln", "ap"),
        L("GroupNormalization", "gn", "ln", groups=2),
        L("GlobalMaxPooling2D", "gmp", "gn", keepdims=True),
        L("Reshape", "rs", "gmp", target_shape=[1, 4]),
        L("Flatten", "fl", "rs"),
        L("Dense", "fc", "fl", units=3, use_bias=False),
    )
    assert node(g, "pad").kind is OpKind.PAD and node(g, "pad").output.shape == (None, 4, 10, 10)
    assert node(g, "mp").output.shape == (None, 4, 5, 5) and node(g, "mp").attrs["pool"] == "max"
    assert node(g, "ap").output.shape == (None, 4, 5, 5) and node(g, "ap").attrs["pool"] == "avg"
    assert node(g, "ln").kind is OpKind.LAYER_NORM and node(g, "ln").attrs["norm"] == "layer"
    assert node(g, "gn").attrs["norm"] == "group" and node(g, "gn").params == 8
    gmp = node(g, "gmp")
    assert gmp.kind is OpKind.GLOBAL_POOL and gmp.attrs == {"pool": "max", "keepdims": True}
    assert gmp.output.shape == (None, 4, 1, 1)
    assert node(g, "rs").output.shape == (None, 4, 1)
    assert node(g, "fc").params == 12 and node(g, "fc").output.shape == (None, 3)


@pytest.mark.parametrize(
    ("cls", "kind"),
    [("Add", OpKind.ADD), ("Subtract", OpKind.ADD), ("Average", OpKind.ADD), ("Maximum", OpKind.ADD),
     ("Multiply", OpKind.MUL), ("Concatenate", OpKind.CONCAT)],
)
def test_merge_layers_keras3(cls: str, kind: OpKind) -> None:
    g = graph(
        inp("x", 8, 8, 3),
        L("Conv2D", "a", "x", filters=4, kernel_size=1),
        L("Conv2D", "b", "x", filters=4, kernel_size=1),
        L(cls, "m", "a", "b", axis=-1),
    )
    m = node(g, "m")
    assert m.kind is kind and [p.name for p in m.predecessors()] == ["a", "b"]
    assert m.output.shape == ((None, 8, 8, 8) if kind is OpKind.CONCAT else (None, 4, 8, 8))
    if kind is OpKind.CONCAT:
        assert m.attrs["axis"] == 1  # Keras channels-last axis -1 is the canonical channel axis


def test_keras2_functional_branches() -> None:
    def k2(cls: str, name: str, *srcs: str, **cfg: Any) -> dict:
        return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
                "inbound_nodes": [[[s, 0, 0, {}] for s in srcs]] if srcs else []}

    cfg = {
        "class_name": "Model",
        "config": {
            "name": "k2",
            "layers": [
                k2("InputLayer", "input_1", batch_input_shape=[None, 8, 8, 3]),
                k2("Conv2D", "a", "input_1", filters=4, kernel_size=[3, 3], padding="same", activation="linear"),
                k2("Dropout", "d", "a", rate=0.5),
                k2("Conv2D", "b", "d", filters=4, kernel_size=[3, 3], padding="same", activation="relu"),
                k2("Add", "add", "a", "b"),
                k2("Concatenate", "cat", "add", "input_1", axis=-1),
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["cat", 0, 0]],
        },
    }
    g = from_config(cfg)
    g.lint()
    assert [p.name for p in node(g, "add").predecessors()] == ["a", "b/relu"]
    assert node(g, "cat").output.shape == (None, 7, 8, 8)
    assert codes(g, "AL001") == [("AL001", "d")]


def test_nested_models_are_inlined_with_prefixed_names() -> None:
    inner = functional(
        inp("in_x", 8, 8, 4),
        L("Conv2D", "conv", "in_x", filters=4, kernel_size=3, padding="same"),
        L("Dropout", "drop", "conv", rate=0.2),
        name="inner",
    )
    middle = {"class_name": "Sequential", "config": {"name": "mid", "layers": [
        {"class_name": "InputLayer", "config": {"name": "mid_in", "batch_shape": [None, 8, 8, 4]}},
        {**inner, "name": "inner"},
        {"class_name": "Conv2D", "config": {"name": "after", "filters": 4, "kernel_size": 3, "padding": "same"}},
    ]}}
    g = graph(
        inp("x", 8, 8, 4),
        {**middle, "name": "mid", "inbound_nodes": [{"args": [ref("x")], "kwargs": {}}]},
        L("GlobalAveragePooling2D", "gap", "mid"),
    )
    layers = [n.layer for n in g.nodes if n.kind not in (OpKind.INPUT, OpKind.OUTPUT)]
    assert layers == ["mid/inner/conv", "mid/inner/drop", "mid/after", "gap"]
    assert codes(g, "AL001") == [("AL001", "mid/inner/drop")]
    assert node(g, "gap").predecessors()[0].layer == "mid/after"


def test_custom_functional_subclass_is_read_like_functional() -> None:
    inner = functional(inp("i", 8, 8, 3), L("Conv2D", "c", "i", filters=4, kernel_size=3), name="inner")
    inner = {**inner, "class_name": "MyBlock", "registered_name": "Custom>MyBlock"}
    g = graph(inp("x", 8, 8, 3), {**inner, "name": "blk", "inbound_nodes": [{"args": [ref("x")], "kwargs": {}}]})
    assert [n.layer for n in g.of_kind(OpKind.CONV)] == ["blk/c"]
    top = from_config({**functional(inp("x", 8, 8, 3), L("Conv2D", "c", "x", filters=2, kernel_size=1)), "class_name": "MyNet"})
    assert top.meta["keras_class"] == "MyNet" and [n.layer for n in top.of_kind(OpKind.CONV)] == ["c"]


def test_shared_layer_second_call_feeds_by_node_index() -> None:
    shared = L("Dense", "shared", "a", units=4)
    shared["inbound_nodes"].append({"args": [ref("b")], "kwargs": {}})
    merge = L("Add", "sum", "shared", "shared")
    merge["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"] = ["shared", 1, 0]
    g = graph(inp("a", 4), inp("b", 4), shared, merge, inputs=["a", "b"])
    uses = [n for n in g.nodes if n.layer == "shared"]
    assert [n.name for n in uses] == ["shared", "shared_1"] and len(g.inputs) == 2
    preds = node(g, "sum").predecessors()
    assert [p.inputs[0].name for p in preds] == ["a", "b"]


def test_channels_first_models_keep_their_layout() -> None:
    g = graph(inp("x", 3, 16, 16), L("Conv2D", "c", "x", filters=8, kernel_size=3, data_format="channels_first"))
    assert g.inputs[0].shape == (None, 3, 16, 16)
    assert node(g, "c").output.shape == (None, 8, 14, 14)


def test_empty_sequential_is_a_load_error() -> None:
    with pytest.raises(LoadError, match="Sequential model has no layers"):
        from_config({"class_name": "Sequential", "config": {"name": "s", "layers": []}})


def test_upsampling_is_a_resize_with_its_shape() -> None:
    g = graph(inp("x", 8, 8, 4), L("UpSampling2D", "up", "x", size=[2, 3], interpolation="bilinear"),
              L("Conv2D", "c", "up", filters=2, kernel_size=[3, 3], padding="same"))
    up = node(g, "up")
    assert up.kind is OpKind.RESHAPE and up.attrs["view"] == "upsample" and up.attrs["size"] == (2, 3)
    assert up.output.shape == (None, 4, 16, 24) and node(g, "c").output.shape == (None, 2, 16, 24)
    assert g.coverage()["share"] == 1.0


def test_zero_kernel_whose_units_take_different_roles_is_not_flagged() -> None:
    """AL028: zero-initialised units that reach the next weight layer as interchangeable features
    are flagged; units that enter a product each with its own partner (a gate, Deformable DETR's
    offsets and attention weights) are not."""
    zeros = {"class_name": "Zeros", "config": {}}
    plain = graph(inp("x", 8), L("Dense", "h", "x", units=4, kernel_initializer=zeros),
                  L("Activation", "a", "h", activation="tanh"), L("Dense", "y", "a", units=2))
    assert codes(plain, "AL028") == [("AL028", "h")]
    gated = graph(inp("x", 8), L("Dense", "g", "x", units=8, kernel_initializer=zeros, activation="sigmoid"),
                  L("Multiply", "gate", "g", "x"), L("Dense", "y", "gate", units=2))
    assert codes(gated, "AL028") == []


def test_activation_on_a_narrow_projection_needs_a_shortcut_to_be_flagged() -> None:
    """AL017: an inverted residual whose 1x1 projection is activated before the shortcut sum is
    flagged; a CSP block's two halves of one input summed (RT-DETR, D-FINE) have no shortcut."""
    def conv(name: str, src: str, filters: int, k: int = 1) -> dict[str, Any]:
        return L("Conv2D", name, src, filters=filters, kernel_size=[k, k], padding="same")

    inverted = graph(inp("x", 8, 8, 8), conv("e", "x", 32), L("Activation", "ea", "e", activation="relu"),
                     L("DepthwiseConv2D", "d", "ea", kernel_size=[3, 3], padding="same"), conv("p", "d", 8),
                     L("Activation", "pa", "p", activation="relu"), L("Add", "sum", "x", "pa"))
    assert codes(inverted, "AL017") == [("AL017", "pa")]
    csp = graph(inp("x", 8, 8, 32), conv("c1", "x", 8), L("Activation", "a1", "c1", activation="relu"),
                conv("c1b", "a1", 8, 3), conv("c2", "x", 8), L("Activation", "a2", "c2", activation="relu"),
                L("Add", "sum", "c1b", "a2"), conv("c3", "sum", 32))
    assert codes(csp, "AL017") == []
