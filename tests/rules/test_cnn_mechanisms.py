"""The mechanisms behind issue 10's false-alarm fixes, one at a time, on tiny graphs:
dropout flavours (rate 0, Keras noise_shape, stochastic depth, Gaussian noise),
broadcasting in Mul/Add shapes, empty feature maps, legacy ONNX scope names,
Keras 2 training configs, and the size floors of AL003/AL018."""

from __future__ import annotations

import json

import pytest

from archlint.api import check_graph
from archlint.config import Config
from archlint.findings import Severity
from archlint.frontends._keras_training import losses, training
from archlint.frontends.keras import from_config
from archlint.frontends.onnx import _module_path_from_legacy
from archlint.graph.shapes import broadcast


def _seq(*layers: tuple[str, dict], hwc=(32, 32, 3), training_config=None):
    """A Keras 2 Sequential config (the layer list form), optionally with a training_config."""
    out = []
    for i, (cls, cfg) in enumerate(layers):
        cfg = {"name": cfg.pop("name", f"{cls.lower()}_{i}"), **cfg}
        if i == 0:
            cfg["batch_input_shape"] = [None, *hwc]
        out.append({"class_name": cls, "config": cfg})
    meta = {"training_config": json.dumps(training_config)} if training_config else None
    return from_config({"class_name": "Sequential", "config": out}, meta=meta)


def _conv(name, filters=16, k=3, **kw):
    return ("Conv2D", {"name": name, "filters": filters, "kernel_size": [k, k], "padding": kw.pop("padding", "same"),
                       "activation": kw.pop("activation", "relu"), **kw})


def _codes(graph, *codes):
    return sorted((f.code, f.layer) for f in check_graph(graph, Config(select=list(codes))))


def _drop(noise_shape=None, rate=0.3, cls="Dropout"):
    cfg = {"name": "drop", "rate": rate}
    if cls == "Dropout":
        cfg["noise_shape"] = noise_shape
    return (cls, cfg)


def _between(drop):
    return _seq(_conv("c1", use_bias=False), drop, _conv("c2"), ("BatchNormalization", {"name": "bn"}),
                ("GlobalAveragePooling2D", {"name": "gap"}), ("Dense", {"name": "out", "units": 10}))


def test_dropout_flavours() -> None:
    assert _codes(_between(_drop()), "AL001", "AL004") == [("AL001", "drop"), ("AL004", "drop")]
    # rate 0 is a no-op; noise_shape (None, 1, 1, 1) is stochastic depth; (None, 1, 1, C) is spatial
    assert _codes(_between(_drop(rate=0.0)), "AL001", "AL004", "AL007") == []
    assert _codes(_between(_drop([None, 1, 1, 1])), "AL001", "AL004", "AL006") == []
    assert _codes(_between(_drop([None, 1, 1, 16])), "AL001", "AL004") == [("AL004", "drop")]
    assert _codes(_between(_drop(cls="StochasticDepth")), "AL001", "AL004") == []
    # Gaussian noise drops nothing: its rate is no drop fraction
    assert _codes(_between(_drop(rate=0.8, cls="GaussianDropout")), "AL006") == []
    assert _codes(_between(_drop(rate=0.8)), "AL006") == [("AL006", "drop")]


def test_broadcast_shapes() -> None:
    assert broadcast([(2, 64, 1, 1), (2, 64, 28, 28)]) == (2, 64, 28, 28)
    assert broadcast([(2, 64, 28, 28), (1, 64, 1, 1)]) == (2, 64, 28, 28)
    assert broadcast([(2, 64, 28, 28), (64, 1, 1)]) == (2, 64, 28, 28)
    assert broadcast([(None, 64, 28, 28), (None, 64, 1, 1)]) == (None, 64, 28, 28)
    assert broadcast([None, (2, 64, 1, 1)]) is None


def test_empty_feature_map_is_one_error() -> None:
    g = _seq(_conv("c1", padding="valid", k=5), ("MaxPooling2D", {"name": "p1", "pool_size": [4, 4]}),
             _conv("c2", padding="valid", k=5), _conv("c3", padding="valid"), ("Flatten", {"name": "f"}),
             ("Dense", {"name": "out", "units": 10}), hwc=(12, 12, 1))
    fs = check_graph(g, Config(select=["AL014"]))
    assert [(f.layer, f.severity) for f in fs] == [("c2", Severity.ERROR)]
    assert "empty feature map" in fs[0].message
    # 'same' padding never empties the map: the old advisory
    g = _seq(_conv("c1"), ("MaxPooling2D", {"name": "p1", "pool_size": [8, 8]}), _conv("c2", k=5),
             ("GlobalAveragePooling2D", {"name": "gap"}), ("Dense", {"name": "out", "units": 10}), hwc=(16, 16, 1))
    assert [(f.layer, f.severity) for f in check_graph(g, Config(select=["AL014"]))] == [("c2", Severity.INFO)]


def test_legacy_onnx_scope_names() -> None:
    assert _module_path_from_legacy("/layer2/layer2.0/downsample/downsample.0/Conv") == "layer2.0.downsample.0"
    assert (_module_path_from_legacy("/features/features.2/features.2.0/block/block.0/block.0.0/Conv")
            == "features.2.0.block.0.0")
    assert _module_path_from_legacy("/conv1/Conv") == "conv1"


def test_keras2_training_config_forms() -> None:
    t = training({"loss": "binary_crossentropy", "metrics": ["acc"],
                  "optimizer_config": {"class_name": "SGD", "config": {"lr": 0.01}}}, "training_config")
    assert t["losses"] == [{"output": None, "name": "binary_crossentropy", "from_logits": False, "label_smoothing": 0.0}]
    assert t["optimizer"] == {"name": "sgd", "learning_rate": 0.01}
    assert [e["output"] for e in losses(["mse", "categorical_crossentropy"])] == [0, 1]
    assert [(e["output"], e["name"]) for e in losses({"age": "mae", "cls": {"class_name": "CategoricalCrossentropy",
                                                                              "config": {"from_logits": True}}})] \
        == [("age", "mean_absolute_error"), ("cls", "categorical_crossentropy")]
    assert losses({"module": "keras.losses", "class_name": "function", "config": "mse"})[0]["name"] == "mean_squared_error"


def test_loss_per_output_and_from_an_h5_training_config() -> None:
    tc = {"loss": "categorical_crossentropy", "optimizer_config": {"class_name": "Adam", "config": {}}}
    g = _seq(_conv("c1"), ("GlobalAveragePooling2D", {"name": "gap"}),
             ("Dense", {"name": "out", "units": 10, "activation": "sigmoid"}), training_config=tc)
    assert g.meta["training"]["source"] == "training_config"
    assert _codes(g, "AL025") == [("AL025", "out")]
    g = _seq(_conv("c1"), ("GlobalAveragePooling2D", {"name": "gap"}),
             ("Dense", {"name": "out", "units": 10, "activation": "softmax"}), training_config=tc)
    assert _codes(g, "AL025") == []


def test_size_floors_scale_with_the_model() -> None:
    """LeNet-5's 59k-parameter head is not a finding; a 500k-parameter one is."""
    def lenet(fc1: int):
        return _seq(_conv("c1", 6, 5), ("MaxPooling2D", {"name": "p1"}), _conv("c2", 16, 5, padding="valid"),
                    ("MaxPooling2D", {"name": "p2"}), ("Flatten", {"name": "flatten"}),
                    ("Dense", {"name": "fc1", "units": fc1, "activation": "relu"}),
                    ("Dense", {"name": "out", "units": 10, "activation": "softmax"}), hwc=(28, 28, 1))
    assert _codes(lenet(120), "AL003", "AL018") == []
    assert _codes(lenet(1200), "AL003", "AL018") == [("AL003", "flatten"), ("AL018", "fc1")]


def test_classifier_after_global_pooling_is_not_dominant() -> None:
    g = _seq(_conv("c1", 16), ("GlobalAveragePooling2D", {"name": "gap"}),
             ("Dense", {"name": "out", "units": 100000, "activation": "softmax"}))
    assert _codes(g, "AL018") == []


@pytest.mark.parametrize("stride_conv", [False, True])
def test_al016_names_the_downsampler(stride_conv: bool) -> None:
    """The finding sits on the pooling or strided convolution, never on a stride-1 convolution."""
    down = (_conv("down", 8, strides=[2, 2]) if stride_conv else ("MaxPooling2D", {"name": "down"}))
    g = _seq(_conv("c1", 32), _conv("c2", 32), down, _conv("c3", 8), ("GlobalAveragePooling2D", {"name": "gap"}),
             ("Dense", {"name": "out", "units": 10}))
    assert _codes(g, "AL016") == [("AL016", "down")]


def test_al002_fix_names_a_fused_activation() -> None:
    """Not "move 'bn' between 'c1' and 'c1'": the activation is fused into c1."""
    g = _seq(_conv("c1"), ("BatchNormalization", {"name": "bn"}), _conv("c2"),
             ("GlobalAveragePooling2D", {"name": "gap"}), ("Dense", {"name": "out", "units": 10}))
    (f,) = check_graph(g, Config(select=["AL002"]))
    assert "between 'c1' and 'c1'" not in f.fix
    assert "between convolution 'c1' and its activation" in f.fix and 'activation="relu"' in f.fix
    g = _seq(_conv("c1", activation="linear"), ("ReLU", {"name": "act"}), ("BatchNormalization", {"name": "bn"}),
             _conv("c2"), ("GlobalAveragePooling2D", {"name": "gap"}), ("Dense", {"name": "out", "units": 10}))
    (f,) = check_graph(g, Config(select=["AL002"]))
    assert f.fix == "move 'bn' between 'c1' and 'act'"


def test_se_multiply_is_no_upsampling() -> None:
    """``scale[N, C, 1, 1] * x`` broadcasts; AL016 must still see the stages after a
    squeeze-and-excitation block (it used to take them for a decoder and skip them)."""
    from fixtures.make_fixtures import Net
    from archlint.frontends.onnx import from_model

    net = Net("se")
    net.conv(32, bias=False)
    x = net.relu()
    net.gap()
    net.conv(8)
    net.relu()
    net.conv(32)
    s = net.act("Sigmoid")
    net.at(net.op("Mul", "multiply", [f"{s}:0", f"{x}:0"]), 32, 32)
    pool = net.maxpool()
    net.conv(16, bias=False)
    net.relu()
    net.gap()
    net.flatten()
    net.dense(10)
    g = from_model(net.model(), "se")
    mul = next(n for n in g.nodes if n.op_type == "Mul")
    assert mul.output.shape == (1, 32, 32, 32)
    assert _codes(g, "AL016") == [("AL016", pool)]


def test_al029_fixed_initialisers_restart_after_a_normalisation_and_keep_a_residual_path() -> None:
    """BERT/GPT-2-style blocks (Dense layers with truncated_normal(0.02), LayerNorm and residual
    adds between them) keep their variance; the same Dense stack without them shrinks it."""
    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.graph import GraphBuilder, OpKind

    def build(norms: bool) -> list[str]:
        b = GraphBuilder("m", "keras")
        b.add_input("x", (1, 64))
        cur = "x"
        init = {"kernel": {"name": "truncated_normal", "config": {"stddev": 0.02}}}
        for i in range(6):
            up = b.add(OpKind.DENSE, "Dense", f"up{i}", inputs=[cur], outputs=[f"u{i}"],
                       attrs={"units": 256, "in_features": 64, "bias": True, "init": init})
            up.outputs[0].shape = (1, 256)
            down = b.add(OpKind.DENSE, "Dense", f"down{i}", inputs=[f"u{i}"], outputs=[f"d{i}"],
                         attrs={"units": 64, "in_features": 256, "bias": True, "init": init})
            down.outputs[0].shape = (1, 64)
            if norms:
                add = b.add(OpKind.ADD, "Add", f"add{i}", inputs=[cur, f"d{i}"], outputs=[f"a{i}"])
                add.outputs[0].shape = (1, 64)
                ln = b.add(OpKind.LAYER_NORM, "LayerNormalization", f"ln{i}", inputs=[f"a{i}"], outputs=[f"n{i}"],
                           attrs={"norm": "layer"})
                ln.outputs[0].shape = (1, 64)
                cur = f"n{i}"
            else:
                cur = f"d{i}"
        b.mark_output(cur)
        return [f.code for f in check_graph(b.finish(), Config(select=["AL029"]))]

    assert build(norms=False) == ["AL029"]
    assert build(norms=True) == []
