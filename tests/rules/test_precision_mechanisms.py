"""The mechanisms behind issue 21's false-alarm fixes, each on a small constructed module, with the
near miss that must still fire."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from archlint.api import check_graph  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.findings import Severity  # noqa: E402
from archlint.frontends.torch import from_module  # noqa: E402


def _found(model: nn.Module, shape: tuple[int, ...], *codes: str) -> list:
    return check_graph(from_module(model, shape), Config(select=list(codes)))


class _Attn(nn.Module):
    """``out, _ = mha(x, x, x)``: nn.MultiheadAttention averages its attention weights by default
    (``need_weights=True``) and the caller drops them."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        out, _ = self.attn(x, x, x)
        return self.fc(out)


class _DeadConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.shortcut = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        self.shortcut(x)  # result discarded: a layer lost
        return self.conv(x)


def test_al021_a_dropped_value_without_parameters_is_info() -> None:
    found = _found(_Attn(), (2, 5, 16), "AL021")
    assert found and all(f.severity is Severity.INFO for f in found), found
    (f,) = _found(_DeadConv(), (2, 3, 8, 8), "AL021")
    assert f.severity is Severity.WARNING and f.layer == "shortcut"
