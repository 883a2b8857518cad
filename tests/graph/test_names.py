"""One table of activation, dropout and norm names, read by all three frontends (archlint.graph.names)."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from archlint.frontends.keras import from_config
from archlint.frontends.onnx import from_model
from archlint.graph import OpKind, names


def test_each_framework_spelling_maps_to_one_canonical_name() -> None:
    assert names.activations("onnx")["LeakyRelu"] == "leaky_relu"
    assert names.activations("aten")["silu"] == names.activations("keras")["silu"] == names.activations("onnx")["Swish"] == "swish"
    assert names.activations("keras")["hard_silu"] == names.activations("aten")["hardswish"] == "hard_swish"
    assert names.dropouts("aten")["feature_dropout"] == ("spatial", True)
    assert names.dropouts("keras")["SpatialDropout2D"] == ("spatial", True)
    assert names.dropouts("torch_modules")["Dropout2d"] == ("spatial", True)
    assert names.dropouts("keras")["StochasticDepth"] == ("stochastic_depth", False)
    assert names.norms("onnx")["RMSNormalization"] == names.norms("aten")["rms_norm"] == "rms"
    assert "linear" not in names.activations("aten")  # aten.linear is a dense layer, not an activation


def test_norm_kinds() -> None:
    assert names.norm_kind("layer") is OpKind.LAYER_NORM
    assert names.norm_kind("rms") is OpKind.RMS_NORM
    assert names.norm_kind("group") is names.norm_kind("instance") is OpKind.NORM


def test_a_spelling_of_two_names_and_an_unknown_framework_are_refused() -> None:
    rows = (names.Spelling("a", onnx=("X",)), names.Spelling("b", onnx=("X",)))
    with pytest.raises(ValueError, match="'X' spells both 'a' and 'b'"):
        names._lookup(rows, "onnx")
    with pytest.raises(ValueError, match="unknown framework"):
        names.activations("tflite")


def test_the_frontends_read_the_table() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    m = helper.make_model(helper.make_graph([helper.make_node("Softsign", ["x"], ["y"])], "g", [x], [y]))
    assert [n.attrs["activation"] for n in from_model(m).of_kind(OpKind.ACTIVATION)] == ["softsign"]
    config = {
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 4]}},
            {"class_name": "Dense", "config": {"name": "d", "units": 4, "activation": "hard_silu"}},
            {"class_name": "SpatialDropout1D", "config": {"name": "drop", "rate": 0.2}},
        ]},
    }
    g = from_config(config)
    assert [n.attrs["activation"] for n in g.of_kind(OpKind.ACTIVATION)] == ["hard_swish"]
    drop = next(g.of_kind(OpKind.DROPOUT))
    assert (drop.attrs.flavour, drop.attrs.spatial, drop.attrs.rate) == ("spatial", True, 0.2)
