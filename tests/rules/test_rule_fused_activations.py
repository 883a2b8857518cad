"""Frontends may keep a layer's activation as an attribute (Keras
``Dense(10, activation="relu")``) instead of an ACTIVATION node; the rules read both."""

from __future__ import annotations

from archlint.api import check_graph
from archlint.config import Config
from archlint.graph import Graph, GraphBuilder, OpKind


def _mlp(*layers: tuple[str, int | str, str | None]) -> Graph:
    """``("dense", units, activation)`` or ``("act", name, None)`` on a (N, 64) input."""
    b = GraphBuilder("mlp", "keras")
    b.add_input("x", (None, 64))
    cur, width = "x", 64
    for i, (kind, arg, act) in enumerate(layers):
        name = f"{kind}_{i}"
        if kind == "dense":
            attrs = {"units": arg, "in_features": width, "bias": True, "params": width * int(arg) + int(arg)}
            if act:
                attrs["activation"] = act
            b.add(OpKind.DENSE, "Dense", name, inputs=[cur], outputs=[name], attrs=attrs)
            width = int(arg)
        else:
            b.add(OpKind.ACTIVATION, "Activation", name, inputs=[cur], outputs=[name], attrs={"activation": arg})
        cur = name
    b.mark_output(cur)
    g = b.finish()
    g.lint()
    return g


def _found(g: Graph, code: str) -> list[str | None]:
    return [f.layer for f in check_graph(g, Config(select=[code]))]


def test_fused_relu_is_a_nonlinearity_between_dense_layers() -> None:
    assert _found(_mlp(("dense", 32, "relu"), ("dense", 10, "softmax")), "AL009") == []
    assert _found(_mlp(("dense", 32, "linear"), ("dense", 10, "softmax")), "AL009") == ["dense_1"]


def test_activation_layer_after_fused_activation() -> None:
    g = _mlp(("dense", 32, "relu"), ("dense", 10, "relu"), ("act", "softmax", None))
    assert _found(g, "AL008") == ["act_2"]
    assert _found(_mlp(("dense", 32, "relu"), ("dense", 10, None), ("act", "softmax", None)), "AL008") == []


def test_fused_hidden_softmax() -> None:
    assert _found(_mlp(("dense", 32, "softmax"), ("dense", 10, "softmax")), "AL011") == ["dense_0"]
    assert _found(_mlp(("dense", 32, "relu"), ("dense", 10, "softmax")), "AL011") == []


def test_fused_saturating_stack() -> None:
    deep = _mlp(*[("dense", 32, "sigmoid")] * 4, ("dense", 10, "softmax"))
    assert _found(deep, "AL010") == ["dense_0"]
    shallow = _mlp(*[("dense", 32, "sigmoid")] * 3, ("dense", 10, "sigmoid"))  # the output sigmoid does not count
    assert _found(shallow, "AL010") == []
