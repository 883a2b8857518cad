"""Auxiliary heads (issue 21): a branch that feeds only a training-only output is recognised and
its findings drop to info with a note; the same branch feeding the deployed output stays a warning."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from archlint.api import check_graph  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.findings import Severity  # noqa: E402
from archlint.frontends.torch import from_module  # noqa: E402


class _Net(nn.Module):
    """A trunk and a main head; ``side`` names an extra head with a 0.7 dropout (AL006)."""

    def __init__(self, side: str, training_only: bool) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(16, 32), nn.ReLU())
        self.fc = nn.Linear(32, 10)
        self.add_module(side, nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Dropout(0.7), nn.Linear(32, 10)))
        self.side, self.training_only = side, training_only

    def forward(self, x):
        h = self.trunk(x)
        out = self.fc(h)
        if self.training or not self.training_only:
            return out, getattr(self, self.side)(h)
        return out


def _al006(model: nn.Module) -> list:
    graph = from_module(model, (2, 16))
    return [f for f in check_graph(graph, Config(select=["AL006"]))]


def test_a_head_returned_only_in_training_is_auxiliary() -> None:
    (f,) = _al006(_Net("head2", training_only=True))
    assert f.severity is Severity.INFO
    assert "auxiliary head" in f.message and f.data["auxiliary"]


def test_a_head_named_auxiliary_is_auxiliary() -> None:
    (f,) = _al006(_Net("aux_classifier", training_only=False))
    assert f.severity is Severity.INFO and "auxiliary head" in f.message


def test_a_second_deployed_head_keeps_its_warning() -> None:
    (f,) = _al006(_Net("head2", training_only=False))
    assert f.severity is Severity.WARNING and "auxiliary" not in f.message
