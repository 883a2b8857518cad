"""Build the framework-neutral specs of :mod:`tests.zoo.spec` as torch modules.

Every spec layer becomes a submodule registered under the spec's layer name,
so module paths (``conv1``, ``b1_drop``) equal the spec names in findings.
``add`` layers have no module: the forward adds the two named inputs.
"""

from __future__ import annotations

from typing import Any


def _layer_module(layer: dict[str, Any], channels: int, features: int) -> tuple[Any, int, int]:
    """(module, channels after, flat features after) for one spec layer."""
    from torch import nn

    op = layer["op"]
    if op == "conv":
        k = layer.get("kernel", 3)
        filters = layer["filters"]
        groups = channels if layer.get("depthwise") else layer.get("groups", 1)
        mod = nn.Conv2d(
            channels, filters, k, stride=layer.get("stride", 1), padding=k // 2,
            groups=groups, bias=layer.get("bias", True),
        )
        return mod, filters, features
    if op == "bn":
        return nn.BatchNorm2d(channels), channels, features
    if op == "relu":
        return nn.ReLU(), channels, features
    if op == "softmax":
        return nn.Softmax(dim=1), channels, features
    if op == "dropout":
        return nn.Dropout(layer["rate"]), channels, features
    if op == "spatial_dropout":
        return nn.Dropout2d(layer["rate"]), channels, features
    if op == "maxpool":
        return nn.MaxPool2d(layer.get("size", 2)), channels, features
    if op == "gap":
        return nn.AdaptiveAvgPool2d(1), channels, features
    if op == "flatten":
        return nn.Flatten(), channels, features
    if op == "dense":
        return nn.Linear(features, layer["units"]), layer["units"], layer["units"]
    raise ValueError(f"unknown spec op {op!r}")


def to_module(layers: list[dict[str, Any]], input_shape: tuple[int, int, int] = (3, 32, 32)) -> Any:
    """An ``nn.Module`` running the spec's layers in order (``add`` joins two inputs)."""
    import torch
    from torch import nn

    class SpecNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.plan: list[tuple[str, str, list[str]]] = []
            c, h, w = input_shape
            features = c * h * w
            shapes: dict[str, tuple[int, int, int]] = {}
            prev = "input"
            shapes[prev] = (c, h, w)
            for layer in layers:
                name, op = layer["name"], layer["op"]
                inputs = layer.get("inputs") or [prev]
                c, h, w = shapes[inputs[0]]
                features = c * h * w
                if op == "add":
                    self.plan.append((name, op, inputs))
                    shapes[name] = (c, h, w)
                    prev = name
                    continue
                mod, c2, f2 = _layer_module(layer, c, features)
                self.add_module(name, mod)
                if op == "conv":
                    s = layer.get("stride", 1)
                    h, w = (h - 1) // s + 1, (w - 1) // s + 1
                elif op == "maxpool":
                    h, w = h // 2, w // 2
                elif op == "gap":
                    h = w = 1
                elif op in ("flatten", "dense"):
                    c2, h, w = f2, 1, 1
                shapes[name] = (c2, h, w)
                self.plan.append((name, op, inputs))
                prev = name

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            values: dict[str, torch.Tensor] = {"input": x}
            prev = "input"
            for name, op, inputs in self.plan:
                if op == "add":
                    y = values[inputs[0]] + values[inputs[1]]
                else:
                    y = getattr(self, name)(values[inputs[0]])
                values[name] = y
                prev = name
            return values[prev]

    return SpecNet()
