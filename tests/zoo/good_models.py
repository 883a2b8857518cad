"""Well-known, well-designed models, built with random weights, for the false-alarm suite.

torchvision's model definitions are plain Python; only its compiled ops
(``nms``, ``roi_align`` ...) need a matching torch build. With a CPU torch
beside a CUDA torchvision, ``import torchvision`` fails with "operator
torchvision::nms does not exist"; defining the two op schemas first (what
``archlint.frontends._torchvision_compat`` does, when it is there) lets the
classification models import and run. timm imports torchvision, so the same.

``TORCHVISION_MODELS`` / ``KERAS_MODELS`` map a name to how it is built;
``torchvision_findings`` / ``keras_findings`` return archlint's findings with
every default rule. Keras models run on KERAS_BACKEND=torch (no TensorFlow),
are saved to ``.keras`` and linted from the file, as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: name -> (builder kwargs, input shape). Batch 2: BatchNorm in training mode needs it.
TORCHVISION_MODELS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "resnet18": ({}, (2, 3, 224, 224)),
    "resnet50": ({}, (2, 3, 224, 224)),
    "resnext50_32x4d": ({}, (2, 3, 224, 224)),
    "wide_resnet50_2": ({}, (2, 3, 224, 224)),
    "vgg11_bn": ({}, (2, 3, 224, 224)),
    "vgg16_bn": ({}, (2, 3, 224, 224)),
    "densenet121": ({}, (2, 3, 224, 224)),
    "mobilenet_v2": ({}, (2, 3, 224, 224)),
    "mobilenet_v3_small": ({}, (2, 3, 224, 224)),
    "mobilenet_v3_large": ({}, (2, 3, 224, 224)),
    "efficientnet_b0": ({}, (2, 3, 224, 224)),
    "efficientnet_v2_s": ({}, (2, 3, 224, 224)),
    "regnet_x_400mf": ({}, (2, 3, 224, 224)),
    "regnet_y_400mf": ({}, (2, 3, 224, 224)),
    "convnext_tiny": ({}, (2, 3, 224, 224)),
    "shufflenet_v2_x1_0": ({}, (2, 3, 224, 224)),
    "squeezenet1_1": ({}, (2, 3, 224, 224)),
    "googlenet": ({"aux_logits": False, "init_weights": False}, (2, 3, 224, 224)),
    "inception_v3": ({"aux_logits": False, "init_weights": False}, (2, 3, 299, 299)),
    "mnasnet1_0": ({}, (2, 3, 224, 224)),
    "vit_b_16": ({}, (2, 3, 224, 224)),
    "swin_t": ({}, (2, 3, 224, 224)),
}

#: timm model names, built with random weights at batch 2, 224x224
TIMM_MODELS: tuple[str, ...] = (
    "vgg11_bn",  # fc6 written as a 7x7 convolution
    "resnet50",
    "efficientnet_b0",
    "convnext_tiny",
    "seresnext26d_32x4d",
    "nf_resnet26",  # normaliser-free: scaled weight standardisation
    "repvgg_a2",  # re-parameterisation branches
    "fastvit_t8",
    "cait_xxs24_224",  # talking-heads attention
    "mixer_b16_224",
    "lcnet_050",
)

#: keras.applications name -> input shape (H, W, C)
KERAS_MODELS: dict[str, tuple[int, int, int]] = {
    "ResNet50": (224, 224, 3),
    "ResNet50V2": (224, 224, 3),
    "VGG16": (224, 224, 3),
    "DenseNet121": (224, 224, 3),
    "MobileNet": (224, 224, 3),
    "MobileNetV2": (224, 224, 3),
    "MobileNetV3Small": (224, 224, 3),
    "EfficientNetB0": (224, 224, 3),
    "EfficientNetV2B0": (224, 224, 3),
    "ConvNeXtTiny": (224, 224, 3),
    "InceptionV3": (299, 299, 3),
    "Xception": (299, 299, 3),
}
# not built: RegNet is not in keras.applications 3; NASNetMobile refuses the torch backend


def torchvision_compat() -> None:
    """Make ``import torchvision`` work beside a torch build its compiled ops do not match."""
    try:
        from archlint.frontends import _torchvision_compat  # type: ignore[attr-defined]
    except ImportError:
        _torchvision_compat = None
    if _torchvision_compat is not None and hasattr(_torchvision_compat, "install"):
        _torchvision_compat.install()
        return
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - raises when the op is not registered
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    globals()["_TV_LIB"] = lib  # keep the registration alive


def torchvision_graph(name: str):
    import torch

    torchvision_compat()
    import torchvision.models as tvm

    from archlint.frontends.torch import from_module

    kwargs, shape = TORCHVISION_MODELS[name]
    torch.manual_seed(0)
    model = getattr(tvm, name)(weights=None, **kwargs)
    return from_module(model, shape, name=name)


def torchvision_findings(name: str) -> list:
    from archlint.api import check_graph
    from archlint.config import Config

    return check_graph(torchvision_graph(name), Config(), f"torchvision.models:{name}")


def timm_findings(name: str) -> list:
    import torch

    torchvision_compat()
    import timm

    from archlint.api import check_graph
    from archlint.config import Config
    from archlint.frontends.torch import from_module

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False)
    return check_graph(from_module(model, (2, 3, 224, 224), name=name), Config(), f"timm:{name}")


def keras_file(name: str, folder: Path) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    shape = KERAS_MODELS[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=shape)
    path = folder / f"{name}.keras"
    model.save(path)
    return path


def keras_findings(name: str, folder: Path) -> list:
    from archlint.api import lint

    return lint(keras_file(name, folder))
