"""`archlint check torchvision.models:NAME` works with no options: a representative
subset of the classification builders, in one process (the full walk of every builder
is benchmarks/torchvision_walk.py, which prints the table)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
if __import__("importlib").util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed", allow_module_level=True)

from archlint.api import check_graph  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.findings import Severity  # noqa: E402
from archlint.frontends import LoadOptions, load_graph  # noqa: E402
from archlint.graph import OpKind  # noqa: E402

#: builder -> (input archlint must assume, the capture it must use)
SUBSET = {
    "resnet50": ("2x3x224x224", "torch.fx"),  # the ImageNet stem; batch 2 for training-mode batch norm
    "inception_v3": ("2x3x299x299", "torch.fx"),  # its weights' crop size; aux head in training mode
    "googlenet": ("2x3x224x224", "torch.fx"),  # namedtuple outputs
    "vit_b_16": ("2x3x224x224", "torch.export"),  # model.image_size; control flow on shapes -> export
    "swin_t": ("2x3x224x224", "torch.export"),
    "efficientnet_b0": ("2x3x224x224", "torch.export"),  # stochastic depth is outside the cheap table
    "squeezenet1_0": ("2x3x224x224", "torch.fx"),
    "regnet_x_400mf": ("2x3x224x224", "torch.fx"),  # its builder calls .tolist(): built for real, not on meta
    "mobilenet_v3_small": ("2x3x224x224", "torch.export"),
}


def test_classification_builders_load_with_no_options() -> None:
    for name, (shape, capture) in SUBSET.items():
        g = load_graph(f"torchvision.models:{name}", LoadOptions())
        g.lint()
        assert g.meta["capture_mode"] == "train", name
        assert g.meta["capture"] == capture, (name, g.meta["capture"])
        assert g.meta["notes"][0].startswith(f"assumed input shape {shape} "), (name, g.meta["notes"])
        assert g.total_params > 1_000_000, name
        assert any(n.kind is OpKind.CONV for n in g.nodes), name
        if name in ("googlenet", "inception_v3"):  # default builds: auxiliary heads, whose findings are infos
            found = check_graph(g, Config())
            assert found and all(f.severity is Severity.INFO and "auxiliary head" in f.message for f in found), found
            assert g.meta["training_only_outputs"], name
