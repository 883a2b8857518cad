"""Each pass of the pipeline on its own, and the pipeline load_graph runs (archlint.graph.passes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from archlint.errors import LoadError
from archlint.frontends import load_graph
from archlint.frontends import onnx as onnx_frontend
from archlint.graph import Graph, GraphBuilder, OpKind
from archlint.graph.passes import (
    PIPELINE,
    FunctionPass,
    FusePatterns,
    InferLayouts,
    InferShapes,
    PassManager,
    TieWeights,
    finish,
    pipeline,
)

ROOT = Path(__file__).resolve().parents[2]


def tied_lm() -> Graph:
    b = GraphBuilder("lm", "torch")
    b.add_input("ids", (2, 16))
    b.add(OpKind.EMBEDDING, "embedding", "wte", inputs=["ids"], outputs=["h"],
          attrs={"vocab": 100, "dim": 8, "params": 800, "weight": "wte.weight"})
    b.add(OpKind.EMBEDDING, "embedding", "wte_again", inputs=["ids"], outputs=["h2"],
          attrs={"vocab": 100, "dim": 8, "params": 800, "weight": "wte.weight"})
    b.add(OpKind.ADD, "add", "add", inputs=["h", "h2"], outputs=["s"])
    b.add(OpKind.DENSE, "linear", "lm_head", inputs=["s"], outputs=["logits"],
          attrs={"units": 100, "in_features": 8, "params": 900, "weight": "wte.weight", "bias": True})
    b.mark_output("logits")
    return b.finish()


def test_tie_weights_marks_the_tied_projection_and_counts_the_table_once() -> None:
    g = tied_lm()
    assert g.total_params == 2500
    result = TieWeights()(g)
    emb, again, _, head = g.nodes[1:5]
    assert result.modified and g.passes == ["tie-weights"]
    assert head.attrs.tied == "wte" and emb.attrs.tied == "lm_head"
    assert head.attrs.params == 100  # the bias: the table is the embedding's
    assert again.attrs.shared == "wte" and again.attrs.params == 0
    assert g.total_params == 900


def test_tie_weights_leaves_untied_graphs_alone() -> None:
    b = GraphBuilder("m", "torch")
    b.add_input("x", (1, 8))
    b.add(OpKind.DENSE, "linear", "fc", inputs=["x"], outputs=["y"], attrs={"units": 4, "params": 36, "weight": "fc.weight"})
    g = b.finish()
    assert not TieWeights()(g).modified
    assert "tied" not in g.nodes[1].attrs and g.nodes[1].attrs.params == 36


def conv_net() -> Graph:
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 3, 32, 32))
    b.add(OpKind.CONV, "Conv", "conv", inputs=["x"], outputs=["c"],
          attrs={"channels": 16, "kernel": (3, 3), "stride": (2, 2), "padding": (1, 1, 1, 1)})
    b.add(OpKind.POOL, "MaxPool", "pool", inputs=["c"], outputs=["p"], attrs={"pool": "max", "kernel": (2, 2), "stride": (2, 2)})
    b.add(OpKind.FLATTEN, "Flatten", "flat", inputs=["p"], outputs=["f"], attrs={"axis": 1})
    b.add(OpKind.DENSE, "Gemm", "fc", inputs=["f"], outputs=["y"], attrs={"units": 10})
    b.mark_output("y")
    return b.finish()


def test_infer_shapes_fills_what_the_frontend_left_out() -> None:
    g = conv_net()
    assert InferShapes()(g).modified
    assert [n.output.shape for n in g.nodes[1:5]] == [(1, 16, 16, 16), (1, 16, 8, 8), (1, 1024), (1, 10)]
    assert not InferShapes()(g).modified  # nothing left to fill


def test_infer_layouts_says_what_the_axes_mean() -> None:
    g = conv_net()
    InferShapes()(g)
    assert InferLayouts()(g).modified
    assert [n.output.layout for n in g.nodes[1:5]] == ["NCHW", "NCHW", "ND", "ND"]
    b = GraphBuilder("seq", "torch")
    b.add_input("x", (2, 16, 32))
    b.add(OpKind.LAYER_NORM, "layer_norm", "ln", inputs=["x"], outputs=["n"], attrs={"norm": "layer"})
    b.add(OpKind.DENSE, "linear", "fc", inputs=["n"], outputs=["y"], attrs={"units": 8})
    seq = b.finish()
    InferShapes()(seq)
    InferLayouts()(seq)
    assert [v.layout for n in seq.nodes[:3] for v in n.outputs] == ["NLD", "NLD", "NLD"]  # a sequence, not a 1-D map


def written_out_rms_norm(peek: bool = False) -> Graph:
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 4, 8))
    b.add(OpKind.UNKNOWN, "Pow", "pow", inputs=["x"], outputs=["sq"], attrs={"scalar": 2.0})
    b.add(OpKind.UNKNOWN, "ReduceMean", "mean", inputs=["sq"], outputs=["ms"], attrs={"axes": (-1,)})
    b.add(OpKind.IDENTITY, "Add", "eps", inputs=["ms"], outputs=["v"], attrs={"constant_add": True, "scalar": 1e-6})
    b.add(OpKind.UNKNOWN, "Sqrt", "sqrt", inputs=["v"], outputs=["r"])
    b.add(OpKind.UNKNOWN, "Reciprocal", "inv", inputs=["r"], outputs=["ir"])
    b.add(OpKind.MUL, "Mul", "norm", inputs=["x", "ir"], outputs=["y"])
    b.mark_output("y")
    if peek:  # a reader of the inner mean: the pattern is no longer self-contained
        b.add(OpKind.IDENTITY, "Identity", "peek", inputs=["ms"], outputs=["peek"])
        b.mark_output("peek")
    return b.finish()


def test_fuse_patterns_turns_written_out_rms_norm_into_one_node() -> None:
    g = written_out_rms_norm()
    assert FusePatterns()(g).modified
    assert g.kinds() == [OpKind.RMS_NORM]
    rms = g.nodes[1]
    assert rms.op_type == "RMSNorm (written out)" and rms.layer == "norm"
    assert (rms.attrs.norm, rms.attrs.epsilon, rms.attrs.written_out) == ("rms", 1e-6, True)
    assert rms.inputs == [g.nodes[0].output] and g.outputs[0].producer is rms
    g.lint()


def test_fusing_keeps_the_parameters_the_members_held() -> None:
    b = GraphBuilder("m", "keras")
    b.add_input("x", (1, 4, 8))
    b.add(OpKind.UNKNOWN, "Sqrt", "sqrt", inputs=["x"], outputs=["r"], attrs={"params": 98, "non_trainable": 2})
    b.add(OpKind.MUL, "Mul", "norm", inputs=["x", "r"], outputs=["y"])
    b.mark_output("y")
    g = b.finish()
    total = g.total_params
    sqrt, mul = g.nodes[1], g.nodes[2]
    node = g.fuse([sqrt, mul], OpKind.IDENTITY, "Fused", [g.nodes[0].output])
    g.reindex()
    assert (node.params, node.attrs["non_trainable"], g.total_params) == (98, 2, total)
    rms = written_out_rms_norm()  # the pattern pass too: a member's parameters reach the fused norm
    rms.nodes[1].attrs["params"] = 5
    FusePatterns()(rms)
    assert rms.nodes[1].kind is OpKind.RMS_NORM and rms.nodes[1].params == 5


def test_fuse_patterns_keeps_a_pattern_whose_inner_value_is_used_outside() -> None:
    g = written_out_rms_norm(peek=True)
    assert not FusePatterns()(g).modified
    assert OpKind.RMS_NORM not in g.kinds()


def test_the_pipeline_runs_in_the_declared_order_once() -> None:
    names = [p if isinstance(p, str) else p.name for p in PIPELINE]
    assert names == ["tie-weights", "shapes", "patterns", "relabels", "layouts", "weights"]
    seen: list[str] = []
    relabel = FunctionPass("test-relabel", lambda g: seen.append(str(g.nodes[1].output.shape)))
    g = conv_net()
    finish(g, [relabel])
    assert g.passes == ["tie-weights", "shapes", "patterns", "test-relabel", "layouts", "weights"]
    assert seen == ["(1, 16, 16, 16)"]  # relabels see shapes
    assert not pipeline([relabel])(g).modified  # a second run does nothing
    assert g.passes == ["tie-weights", "shapes", "patterns", "test-relabel", "layouts", "weights"] and len(seen) == 1
    with pytest.raises(ValueError, match="unique"):
        PassManager([TieWeights(), TieWeights()])


def onnx_model(nodes, inits=(), out_shape=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=list(inits)))


def test_frontends_only_build_and_load_graph_runs_the_pipeline(tmp_path: Path) -> None:
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    m = onnx_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["y"])], [shape])
    built = onnx_frontend.build_model(m)
    assert built.passes == [] and built.nodes[1].output.shape is None
    assert built.nodes[2].kind is OpKind.RESHAPE
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    g = load_graph(path)
    assert g.passes == ["tie-weights", "shapes", "patterns", "onnx-reshape-to-flatten", "onnx-hidden-layers", "layouts", "weights"]
    relu, flat = g.nodes[1:3]
    assert relu.output.shape == (1, 2, 4, 4)
    # the ONNX relabel: a Reshape to (N, -1) is a Flatten, relabelled before layouts are inferred
    assert flat.kind is OpKind.FLATTEN and flat.attrs.axis == 1 and flat.attrs["target"] == (1, -1)
    assert flat.output.shape == (1, 32) and flat.output.layout == "ND"
    assert onnx_frontend.from_model(m).kinds() == g.kinds()  # the in-memory entry point finishes the same way


@pytest.mark.parametrize("written", [
    ["late", "early", "side", "join"],  # out of order
    ["early", "late", "side", "join"],  # topological as written, but 'side' is ready before 'late': the
])                                      # linear in-order check must not keep the file order
def test_the_onnx_toposort_gives_kahns_order(written: list[str]) -> None:
    made = {
        "late": helper.make_node("Sigmoid", ["r"], ["s"], name="late"),
        "early": helper.make_node("Relu", ["x"], ["r"], name="early"),
        "side": helper.make_node("Tanh", ["x"], ["t"], name="side"),
        "join": helper.make_node("Add", ["s", "t"], ["y"], name="join"),
    }
    g = onnx_frontend.from_model(onnx_model([made[name] for name in written], out_shape=[1, 2, 4, 4]))
    # first ready, first out (Kahn's order): the two readers of x, then what each unblocks
    assert [n.name for n in g.nodes[1:5]] == ["early", "side", "late", "join"]
    g.lint()


def _kahn_fifo(nodes: list, outside: set[str]) -> list:
    """Textbook Kahn with a FIFO queue: the order the ONNX frontend promises."""
    from collections import deque

    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            producer.setdefault(o, i)
    users: list[list[int]] = [[] for _ in nodes]
    indeg = [0] * len(nodes)
    for i, n in enumerate(nodes):
        deps = {producer[x] for x in n.input if x in producer and x not in outside}
        for d in deps:
            users[d].append(i)
        indeg[i] = len(deps)
    ready = deque(i for i in range(len(nodes)) if indeg[i] == 0)
    order = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                ready.append(u)
    assert len(order) == len(nodes)
    return [nodes[i] for i in order]


def test_the_onnx_toposort_is_kahns_order_on_random_graphs_in_and_out_of_order() -> None:
    rng = np.random.default_rng(0)
    kept_as_written = 0
    for trial in range(300):
        size = int(rng.integers(1, 12))
        nodes = []
        for i in range(size):  # each node reads graph inputs, a weight and earlier nodes' outputs
            pool = ["x", "x2", "w"] + [f"v{j}" for j in range(i)]
            k = int(rng.integers(1, 4))
            reads = list(rng.choice(pool, size=min(k, len(pool)), replace=False))
            nodes.append(helper.make_node("Add", reads, [f"v{i}"], name=f"n{i}"))
        if trial % 3 == 0:  # a third as written (topological), the rest shuffled
            nodes = [nodes[i] for i in rng.permutation(size)]
        want = [n.name for n in _kahn_fifo(nodes, {"w"})]
        got = [n.name for n in onnx_frontend._toposort(nodes, {"w"})]
        assert got == want, (trial, [(n.name, list(n.input)) for n in nodes])
        kept_as_written += want == [n.name for n in nodes]
    assert 20 < kept_as_written < 300  # both paths were taken


def test_onnx_impls_and_weights_are_built_when_first_read_whichever_comes_first() -> None:
    path = ROOT / "fixtures" / "onnx" / "article_bn_before_act_dense.onnx"

    def refs(g: Graph) -> dict:
        return {k: (r.role, r.shape) for k, r in g.meta["weights"].refs.items()}

    def ops(g: Graph) -> list:
        return [n.impl.ops() for n in g.nodes if n.impl is not None]

    table_first = load_graph(path)
    r1 = refs(table_first)
    o1 = ops(table_first)
    impls_first = load_graph(path)
    o2 = ops(impls_first)
    assert o1 == o2 and refs(impls_first) == r1
    assert "onnx:BatchNormalization" in [op for calls in o1 for op in calls]
    assert {"buffer", "param"} <= {role for role, _ in r1.values()}  # BN statistics are buffers


def test_a_node_reading_its_own_output_is_a_cycle() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="one"), helper.make_node("Add", ["a", "b"], ["b"], name="self")]
    with pytest.raises(ValueError, match="cycle \\(through node 'self'\\)"):
        onnx_frontend._toposort(nodes, set())


def test_an_onnx_cycle_is_one_clear_error(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x", "b"], ["a"], name="one"), helper.make_node("Relu", ["a"], ["b"], name="two"),
             helper.make_node("Relu", ["b"], ["y"], name="three")]
    path = tmp_path / "cycle.onnx"
    path.write_bytes(onnx_model(nodes).SerializeToString())
    with pytest.raises(LoadError, match="the graph has a cycle \\(through node 'one'\\)"):
        load_graph(path)


def test_every_fixture_graph_lints_after_the_pipeline() -> None:
    for path in sorted((ROOT / "fixtures" / "onnx").glob("*.onnx"))[:6] + sorted((ROOT / "fixtures" / "keras").glob("*.keras")):
        g = load_graph(path)
        g.lint()
        assert g.passes[0] == "tie-weights" and g.passes[-1] == "weights"


def test_the_keras_frontend_only_builds_too() -> None:
    from archlint.frontends.keras import build_config, from_config

    config = {
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [
            {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 8, 8, 3]}},
            {"class_name": "Conv2D", "config": {"name": "c", "filters": 4, "kernel_size": 3}},
            {"class_name": "Flatten", "config": {"name": "f"}},
        ]},
    }
    built = build_config(config)
    assert built.passes == [] and all(v.layout is None for n in built.nodes for v in n.outputs)
    g = from_config(config)
    assert g.passes == ["tie-weights", "shapes", "patterns", "layouts", "weights"]
    assert [n.output.layout for n in g.nodes[1:3]] == ["NCHW", "ND"]
