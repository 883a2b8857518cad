"""Small models for the visual outputs, built with onnx.helper (no torch)."""

from __future__ import annotations

from pathlib import Path

import onnx

from tests.zoo.onnx_build import to_onnx

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"

#: names a hostile file could carry: markup, quotes, a script, a line break
HOSTILE = [
    "conv<script>alert(1)</script>",
    'drop"><img src=x onerror=alert(2)>',
    "relu'</text></svg><b>x",
    "conv2\nsecond line &amp;",
]


def hostile_model(tmp: Path) -> Path:
    layers = [
        {"name": HOSTILE[0], "op": "conv", "filters": 8},
        {"name": HOSTILE[1], "op": "dropout", "rate": 0.3},
        {"name": HOSTILE[2], "op": "relu"},
        {"name": HOSTILE[3], "op": "conv", "filters": 8},
        {"name": "relu2", "op": "relu"},
    ]
    p = tmp / "hostile.onnx"
    onnx.save(to_onnx(layers, name="hostile"), p)
    return p


def scoped_model(tmp: Path, blocks: int = 3) -> Path:
    """Torch-style module paths: stem.conv, stages.N.conv1 ... with residual adds."""
    layers = [{"name": "stem.conv", "op": "conv", "filters": 8}, {"name": "stem.relu", "op": "relu"}]
    prev = "stem.relu"
    for b in range(blocks):
        layers += [
            {"name": f"stages.{b}.conv1", "op": "conv", "filters": 8, "inputs": [prev]},
            {"name": f"stages.{b}.bn1", "op": "bn"},
            {"name": f"stages.{b}.relu", "op": "relu"},
            {"name": f"stages.{b}.conv2", "op": "conv", "filters": 8},
            {"name": f"stages.{b}.bn2", "op": "bn"},
            {"name": f"stages.{b}", "op": "add", "inputs": [f"stages.{b}.bn2", prev]},
        ]
        prev = f"stages.{b}"
    p = tmp / "scoped.onnx"
    onnx.save(to_onnx(layers, name="scoped"), p)
    return p
