"""The false-alarm suite: well-known, well-designed models built with random weights
give exactly the findings listed here, every one of which docs/rules-catalogue.md
explains ("Good architectures stay quiet"). A new finding on one of them is a bug
to fix at its mechanism, or a true finding to explain in the catalogue.

torchvision classification models are captured with torch.export at batch 2
(training-mode BatchNorm needs it) and their published input size; Keras
applications run on KERAS_BACKEND=torch (no TensorFlow), are saved to .keras and
linted from the file. ``python benchmarks/false_alarms.py [--keras]`` walks the
same lists and prints the findings and times.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.zoo.good_models import (
    KERAS_MODELS,
    TIMM_MODELS,
    TORCHVISION_MODELS,
    keras_findings,
    timm_findings,
    torchvision_findings,
)

ROOT = Path(__file__).resolve().parents[2]

#: ResNet v1.5 / ResNeXt / Wide ResNet: 1x1 stride-2 projection shortcuts (ResNet-D fixes them)
_SHORTCUTS = {("AL023", f"layer{i}.0.downsample.0") for i in (2, 3, 4)}
_REGNET = {("AL023", f"trunk_output.block{i}.block{i}-0.proj.0") for i in (1, 2, 3, 4)}
#: torchvision's VGG-BN convolutions keep their bias before batch norm
_VGG11 = [0, 4, 8, 11, 15, 18, 22, 25]
_VGG16 = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]
_VGG_HEAD = {("AL003", "flatten"), ("AL018", "classifier.0")}

TORCHVISION_EXPECTED: dict[str, set[tuple[str, str]]] = {
    "resnet18": _SHORTCUTS,
    "resnet50": _SHORTCUTS,
    "resnext50_32x4d": _SHORTCUTS,
    "wide_resnet50_2": _SHORTCUTS,
    "vgg11_bn": {("AL005", f"features.{i}") for i in _VGG11} | _VGG_HEAD,
    "vgg16_bn": {("AL005", f"features.{i}") for i in _VGG16} | _VGG_HEAD,
    "densenet121": set(),
    "mobilenet_v2": set(),
    "mobilenet_v3_small": set(),
    "mobilenet_v3_large": set(),
    "efficientnet_b0": set(),
    "efficientnet_v2_s": set(),
    "regnet_x_400mf": _REGNET,
    "regnet_y_400mf": _REGNET,
    "convnext_tiny": set(),
    "shufflenet_v2_x1_0": set(),
    "squeezenet1_1": {("AL012", "features.0")},  # no normalisation anywhere, 18 convolutions deep
    "googlenet": set(),
    "inception_v3": set(),
    "mnasnet1_0": set(),
    "vit_b_16": set(),
    "swin_t": set(),
}


def _keras_resnet50() -> set[tuple[str, str]]:
    """keras.applications' ResNet50 (v1): biased convolutions before every BN, stride on the 1x1s."""
    out = {("AL005", "conv1_conv")}
    blocks = {2: 3, 3: 4, 4: 6, 5: 3}
    for stage, n in blocks.items():
        for b in range(1, n + 1):
            convs = (0, 1, 2, 3) if b == 1 else (1, 2, 3)
            out |= {("AL005", f"conv{stage}_block{b}_{c}_conv") for c in convs}
        if stage > 2:
            out |= {("AL023", f"conv{stage}_block1_1_conv"), ("AL023", f"conv{stage}_block1_0_conv")}
    return out


KERAS_EXPECTED: dict[str, set[tuple[str, str]]] = {
    "ResNet50": _keras_resnet50(),
    "ResNet50V2": {("AL023", f"max_pooling2d{s}") for s in ("", "_1", "_2")},  # 1x1 stride-2 pool shortcuts
    "VGG16": {("AL012", "block1_conv1"), ("AL003", "flatten"), ("AL018", "fc1")},
    "DenseNet121": set(),
    "MobileNet": {("AL013", "conv_pw_10")},  # MobileNetV1: 28 weight layers, no skip connection
    "MobileNetV2": set(),
    "MobileNetV3Small": set(),
    "EfficientNetB0": set(),
    "EfficientNetV2B0": set(),
    "ConvNeXtTiny": set(),
    "InceptionV3": set(),
    "Xception": {("AL023", f"conv2d{s}") for s in ("", "_1", "_2", "_3")},  # 1x1 stride-2 residual convs
}
TIMM_EXPECTED: dict[str, set[tuple[str, str]]] = {
    # VGG-11-BN as timm writes it: fc6 is a 7x7 convolution over the 7x7 map (the dense head, AL003)
    "vgg11_bn": {("AL005", f"features.{i}") for i in _VGG11} | {("AL003", "pre_logits.fc1")},
    "resnet50": _SHORTCUTS,
    "efficientnet_b0": set(),
    "convnext_tiny": set(),
    "seresnext26d_32x4d": set(),
    "nf_resnet26": set(),
    "repvgg_a2": set(),
    "fastvit_t8": set(),
    "cait_xxs24_224": set(),
    "mixer_b16_224": set(),
    "lcnet_050": {("AL013", "blocks.4.2.conv_pw")},  # a plain stack of 33 weight layers, like MobileNetV1
}
#: the timm models the test builds (the ones issue 10 fixed a false alarm on)
TIMM_IN_TESTS = ["vgg11_bn", "nf_resnet26", "repvgg_a2", "cait_xxs24_224"]

#: the Keras models the test builds (the benchmark walks all of KERAS_MODELS)
KERAS_IN_TESTS = ["ResNet50", "VGG16", "DenseNet121", "MobileNet", "MobileNetV2", "EfficientNetB0", "Xception"]


def _needs(*modules: str) -> None:
    """Skip unless installed, without importing: torchvision must first be made importable
    beside a CPU torch (``torchvision_compat``), which an import here would pre-empt."""
    for m in modules:
        if importlib.util.find_spec(m) is None:
            pytest.skip(f"{m} is not installed")


def test_lists_cover_every_model() -> None:
    assert set(TORCHVISION_EXPECTED) == set(TORCHVISION_MODELS)
    assert set(KERAS_EXPECTED) == set(KERAS_MODELS)
    assert set(TIMM_EXPECTED) == set(TIMM_MODELS)


@pytest.mark.parametrize("name", sorted(TORCHVISION_MODELS))
def test_torchvision_model(name: str) -> None:
    _needs("torch", "torchvision")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    got = {(f.code, f.layer) for f in torchvision_findings(name)}
    assert got == TORCHVISION_EXPECTED[name]


@pytest.mark.parametrize("name", TIMM_IN_TESTS)
def test_timm_model(name: str) -> None:
    _needs("torch", "torchvision", "timm")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    got = {(f.code, f.layer) for f in timm_findings(name)}
    assert got == TIMM_EXPECTED[name]


@pytest.mark.parametrize("name", KERAS_IN_TESTS)
def test_keras_application(name: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if os.environ["KERAS_BACKEND"] != "torch":
        pytest.skip("the suite builds Keras models on the torch backend")
    pytest.importorskip("keras")
    got = {(f.code, f.layer) for f in keras_findings(name, tmp_path)}
    assert got == KERAS_EXPECTED[name]


def test_catalogue_explains_every_finding() -> None:
    """Every rule that fires on a good model has its sentence in the catalogue."""
    text = (ROOT / "docs" / "rules-catalogue.md").read_text()
    section = text.split("## Good architectures stay quiet", 1)[1].split("\n## ", 1)[0]
    fired = {c for s in (*TORCHVISION_EXPECTED.values(), *KERAS_EXPECTED.values(), *TIMM_EXPECTED.values())
             for c, _ in s}
    for name in (*TORCHVISION_EXPECTED, *KERAS_EXPECTED, *TIMM_EXPECTED):
        assert f"`{name}`" in section, name
    for code in fired:
        assert code in section, code
