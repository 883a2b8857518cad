"""The graph core: building, edges, fusion, lint, printing (archlint.graph.core)."""

from __future__ import annotations

import pytest

from archlint.graph import ATTRS, Deferred, Graph, GraphBuilder, GraphError, Node, OpKind
from archlint.graph.attrs import ConvAttrs, FlattenAttrs, ReshapeAttrs


def chain() -> GraphBuilder:
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 3, 8, 8))
    b.add(OpKind.CONV, "Conv", "conv", inputs=["x", "conv.weight"], outputs=["c"],
          attrs={"channels": 4, "kernel": (3, 3), "padding": "same", "params": 112})
    b.add(OpKind.ACTIVATION, "Relu", "relu", inputs=["c"], outputs=["r"], attrs={"activation": "relu"})
    b.add(OpKind.ADD, "Add", "add", inputs=["c", "r"], outputs=["y"])
    b.mark_output("y")
    return b


def test_builder_makes_the_edges() -> None:
    g = chain().finish()
    x, conv, relu, add, out = g.nodes
    assert [n.kind for n in g.nodes] == [OpKind.INPUT, OpKind.CONV, OpKind.ACTIVATION, OpKind.ADD, OpKind.OUTPUT]
    assert [n.index for n in g.nodes] == [0, 1, 2, 3, 4]
    assert conv.inputs == [x.output]  # "conv.weight" names no value: a weight, dropped
    assert conv.output.consumers == [relu, add] and relu.output.producer is relu
    assert add.predecessors() == [conv, relu] and conv.successors() == [relu, add]
    assert g.inputs == [x.output] and g.outputs == [add.output]
    assert g.total_params == 112
    g.lint()


def test_names_are_made_unique_and_values_produced_once() -> None:
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 4))
    a = b.add(OpKind.IDENTITY, "Identity", "same", inputs=["x"], outputs=["a"])
    c = b.add(OpKind.IDENTITY, "Identity", "same", inputs=["a"], outputs=["c"])
    assert (a.name, c.name) == ("same", "same_1")
    with pytest.raises(GraphError, match="'c' is produced twice"):
        b.add(OpKind.IDENTITY, "Identity", "again", inputs=["a"], outputs=["c"])


def test_node_attrs_are_the_kinds_record() -> None:
    g = chain().finish()
    assert type(g.nodes[1].attrs) is ConvAttrs
    assert all(type(n.attrs) is ATTRS[n.kind] for n in g.nodes)
    # a Node built by hand with a plain dict gets its kind's record too
    n = Node("f", OpKind.FLATTEN, "Flatten", "f", attrs={"axis": 1})
    assert type(n.attrs) is FlattenAttrs and n.attrs == {"axis": 1}


def test_relabel_carries_the_attributes_into_the_new_kind() -> None:
    n = Node("r", OpKind.RESHAPE, "Reshape", "r", attrs={"target": (0, -1), "module_class": "M"})
    assert type(n.attrs) is ReshapeAttrs
    n.relabel(OpKind.FLATTEN, axis=1)
    assert n.kind is OpKind.FLATTEN and type(n.attrs) is FlattenAttrs
    assert n.attrs == {"target": (0, -1), "module_class": "M", "axis": 1}


def test_fuse_replaces_a_group_with_one_node() -> None:
    b = chain()
    g = b.graph
    conv, relu, add = g.nodes[1:4]
    fused = g.fuse([relu, add], OpKind.ACTIVATION, "Fused", [conv.output], {"activation": "gelu"})
    g.reindex()
    assert [n.kind for n in g.nodes] == [OpKind.INPUT, OpKind.CONV, OpKind.ACTIVATION, OpKind.OUTPUT]
    assert fused.name == "add" and fused.layer == "add" and fused.index == 2
    assert conv.output.consumers == [fused] and fused.output.producer is fused
    assert fused.attrs.activation == "gelu"
    g.lint()


def test_a_deferred_impl_is_built_once_when_first_read_and_fusion_keeps_it_deferred() -> None:
    b = chain()
    g = b.graph
    conv, relu, add = g.nodes[1:4]
    built: list[str] = []

    def build(node: Node) -> str:
        built.append(node.name)
        return f"impl of {node.name}"

    relu.impl = add.impl = Deferred(build)  # one record for both
    fused = g.fuse([relu, add], OpKind.ACTIVATION, "Fused", [conv.output], {"activation": "gelu"})
    assert built == []  # fusing asked only whether the members have impls
    assert [m.name for m in fused.impl.members] == ["relu", "add"]
    assert relu.impl == "impl of relu" and relu.impl == "impl of relu" and built == ["relu"]
    assert conv.impl is None and add.impl == "impl of add" and built == ["relu", "add"]


def test_fuse_refuses_nodes_not_in_the_graph() -> None:
    g = chain().finish()
    stray = Node("s", OpKind.IDENTITY, "Identity", "s", index=7)
    with pytest.raises(GraphError, match="not in the graph"):
        g.fuse([stray], OpKind.IDENTITY, "Identity", [])


def test_lint_names_the_broken_invariant() -> None:
    g = chain().finish()
    g.nodes[1], g.nodes[2] = g.nodes[2], g.nodes[1]
    with pytest.raises(GraphError, match="index"):
        g.lint()
    g = chain().finish()
    g.nodes[2].index, g.nodes[1].index = 1, 2
    g.nodes[1], g.nodes[2] = g.nodes[2], g.nodes[1]
    with pytest.raises(GraphError, match="comes before its producer"):
        g.lint()
    g = chain().finish()
    g.nodes[2].kind = OpKind.DROPOUT  # a kind changed without relabel(): its record no longer fits
    with pytest.raises(GraphError, match="attributes of another kind"):
        g.lint()


def test_printing_follows_torch_fx() -> None:
    g = chain().finish()
    text = str(g)
    assert text.splitlines()[0] == "graph m (onnx):"
    assert "%c : [#users=2] = conv[Conv layer=conv](%x) shape=None" in text
    assert g.nodes[1].describe() == "Conv(4, 3x3)"


def test_coverage_counts_unknown_op_types() -> None:
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 4))
    b.add(OpKind.UNKNOWN, "Erf", "e", inputs=["x"], outputs=["e"])
    b.add(OpKind.ACTIVATION, "Relu", "r", inputs=["e"], outputs=["r"], attrs={"activation": "relu"})
    g = b.finish()
    cov = g.coverage()
    # 'r' is known but has no shape (nothing inferred past the unknown Erf): counted apart
    assert (cov["nodes"], cov["understood"], cov["unknown"], cov["shapeless"]) == (2, 1, {"Erf": 1}, 1)
    g.nodes[-1].outputs[0].shape = (1, 4)
    cov = g.coverage()
    assert (cov["nodes"], cov["understood"], cov["unknown"], cov["shapeless"]) == (2, 1, {"Erf": 1}, 0)


def test_graph_records_no_passes_until_the_pipeline_runs() -> None:
    g: Graph = chain().finish()
    assert g.passes == []
