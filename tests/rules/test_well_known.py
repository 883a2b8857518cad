"""Good architectures stay quiet: the exact findings of every default rule on
rebuilt ResNet-18/50, VGG-16-BN, MobileNetV2 and DenseNet-121's first blocks,
and which catalogue rules fire on the existing fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint import lint
from archlint.api import check_graph
from archlint.config import Config
from archlint.frontends.onnx import from_model
from fixtures.rules import well_known

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "fixtures" / "onnx"

#: 1x1 stride-2 projection shortcuts (He et al. 2019 fix them in ResNet-D)
_RESNET_SHORTCUTS = {("AL023", f"layer{i}.0.downsample.0") for i in (2, 3, 4)}
#: torchvision's vgg16_bn keeps the conv bias before every BN
_VGG_CONVS = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "resnet18": _RESNET_SHORTCUTS,
    "resnet50": _RESNET_SHORTCUTS,
    "vgg16_bn": {("AL005", f"features.{i}") for i in _VGG_CONVS}
    | {("AL003", "flatten"), ("AL018", "classifier.0")},
    "mobilenet_v2": set(),
    "densenet121_blocks": set(),
    "lenet_300_100": set(),  # an MLP on pixels: no feature map to pool, no CNN head
}
PARAMS = {  # torchvision's counts: the rebuilt layer shapes are the real ones
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "vgg16_bn": 138_365_992,
    "mobilenet_v2": 3_504_872,
    "lenet_300_100": 266_610,
}


@pytest.fixture(scope="module")
def graphs():
    return {name: from_model(make(), name) for name, make in well_known.ALL.items()}


@pytest.mark.parametrize("name", sorted(well_known.ALL))
def test_well_known_findings(graphs, name: str) -> None:
    g = graphs[name]
    g.lint()
    got = {(f.code, f.layer) for f in check_graph(g, Config())}
    assert got == EXPECTED[name]
    if name in PARAMS:
        assert g.total_params == PARAMS[name]


def test_well_known_opt_in_rules(graphs) -> None:
    """Opt-in advisories: only DenseNet's pre-activation BNs cannot be folded."""
    cfg = Config(select=["AL019", "AL020"])
    for name in ("resnet18", "resnet50", "vgg16_bn", "mobilenet_v2"):
        assert check_graph(graphs[name], cfg) == [], name
    dense = {(f.code, f.layer) for f in check_graph(graphs["densenet121_blocks"], cfg)}
    assert ("AL019", "features.denseblock1.denselayer1.norm1") in dense
    assert ("AL019", "features.transition1.norm") in dense
    assert {c for c, _ in dense} == {"AL019"}


def test_vgg_messages_give_figures(graphs) -> None:
    fs = {f.code: f for f in check_graph(graphs["vgg16_bn"], Config(select=["AL018"]))}
    assert "102,764,544 of the model's 138,365,992 parameters (74%)" in fs["AL018"].message
    assert "25088 -> 4096" in fs["AL018"].message


CATALOGUE = Config(ignore=["AL001", "AL002", "AL003", "AL900"])
_ARTICLE_SHAPE = {  # true of every variant: 10 convs of 60/100 channels, four 2x2 pools on 32x32
    ("AL014", "conv2d_9"),
    ("AL014", "conv2d_10"),
    ("AL016", "max_pooling2d_1"),
    ("AL016", "max_pooling2d_2"),
    ("AL016", "max_pooling2d_3"),
}


@pytest.mark.parametrize("variant", ["control", "bn", "dropout05", "dropout03", "dropout01"])
@pytest.mark.parametrize("placement", ["before_act", "after_act", "after_pool"])
def test_article_network(variant: str, placement: str) -> None:
    """Which catalogue rules fire on the 2018 article network, by variant."""
    for head in ("dense", "gap"):
        got = {(f.code, f.layer) for f in lint(FIX / f"article_{variant}_{placement}_{head}.onnx", CATALOGUE)}
        want = set(_ARTICLE_SHAPE)
        if variant != "bn":
            want.add(("AL012", "conv2d_1"))  # 10 convolutions, no normalisation
        if variant == "bn" and placement == "before_act":
            want |= {("AL005", f"conv2d_{i}") for i in range(1, 11)}  # biased conv -> BN
        assert got == want, head


def test_residual_block_and_clean_cnn() -> None:
    assert {(f.code, f.layer) for f in lint(FIX / "residual_block.onnx", CATALOGUE)} == {("AL004", "dropout_1")}
    assert lint(FIX / "clean_cnn.onnx", CATALOGUE) == []


def test_catalogue_doc_lists_every_rule() -> None:
    from archlint.rules import ALL_RULES

    text = (ROOT / "docs" / "rules-catalogue.md").read_text()
    for r in ALL_RULES:
        assert f"| {r.code} | `{r.name}` | {r.severity.label}" in text, r.code
        assert r.summary in text, r.code
