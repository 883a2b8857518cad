"""Every parameter is in the graph: `show`, the HTML report and the totals equal
``sum(p.numel())`` on full-size transformers and ViTs (position embeddings,
class tokens, free parameters, constant-index gathers, frozen and scalar
parameters included; shared tables once). Built on the meta device: no weight
is allocated, so full size is cheap."""

from __future__ import annotations

import importlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from archlint.api import load_graph  # noqa: E402
from archlint.view import graph_view  # noqa: E402

MODELS = ("vit_b_16", "gpt2", "bert", "t5", "clip")


@pytest.mark.parametrize("name", MODELS)
def test_total_equals_sum_of_parameters(name: str) -> None:
    from tests.transformers._models import shim_torchvision

    shim_torchvision()
    graph = load_graph(f"tests.execute._full_size:{name}")
    with torch.device("meta"):
        model = getattr(importlib.import_module("tests.execute._full_size"), name)()[0]
    want = sum(p.numel() for p in model.parameters())
    assert graph.total_params == want
    assert graph_view(graph)["params"] == want  # what `archlint show` and the HTML report print


def test_free_parameters_are_counted_where_they_are_used() -> None:
    """ViT's class token and position embedding count at the nodes that read them."""
    from tests.transformers._models import shim_torchvision

    shim_torchvision()
    graph = load_graph("tests.execute._full_size:vit_b_16")
    reads = {n.name: n.params for n in graph.nodes if n.params}
    cat = [n for n in graph.nodes if n.kind.value == "concat" and n.params]
    assert cat and cat[0].params == 768  # the class token (1, 1, 768), expanded and concatenated
    add = [n for n in graph.nodes if n.op_type == "add" and n.params == 197 * 768]
    assert add  # the position embedding (1, 197, 768), added to the tokens
    assert sum(reads.values()) == graph.total_params
