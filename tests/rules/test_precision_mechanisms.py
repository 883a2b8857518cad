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


AL107_MODELS = '''
import torch
from torch import nn


class _Scores(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(16, 16)

    def scores(self, x):
        return self.q(x) @ x.transpose(1, 2)


class DtypeAware(_Scores):
    """XLNet's pattern: 1e30 in float32, a float16-safe constant in half precision."""

    def forward(self, x):
        s = self.scores(x)
        mask = torch.ones_like(s) == 0
        s = s.masked_fill(mask, -65504.0 if s.dtype == torch.float16 else -1e30)
        return torch.softmax(s, -1) @ x


class Literal(_Scores):
    def forward(self, x):
        s = self.scores(x)
        return torch.softmax(s.masked_fill(torch.ones_like(s) == 0, -1e9), -1) @ x


class AddedMinimum(_Scores):
    """float16's minimum added to the scores: a negative score overflows to -inf in half precision."""

    def forward(self, x):
        s = self.scores(x)
        s = s + torch.zeros_like(s) * torch.finfo(s.dtype).min
        return torch.softmax(s, -1) @ x
'''


@pytest.mark.parametrize(("name", "expect"), [("DtypeAware", None), ("Literal", "beyond float16"),
                                               ("AddedMinimum", "overflows to -inf")])
def test_al107_judges_the_constant_used_in_half_precision(tmp_path, name: str, expect: str | None) -> None:
    from archlint.frontends import LoadOptions, load_graph

    path = tmp_path / "al107_models.py"
    path.write_text(AL107_MODELS)
    graph = load_graph(f"{path}:{name}", LoadOptions(input_shape=(2, 5, 16)))
    assert "constants" in graph.meta["half_precision"]  # captured again in half precision
    found = check_graph(graph, Config(select=["AL107"]))
    if expect is None:
        assert found == []
    else:
        (f,) = found
        assert expect in f.message and f.data["half_precision"]


class _Block(nn.Module):
    """A pre-norm residual block, ``x + mlp(norm(x))``."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        return x + self.mlp(self.norm(x))


class _Stack(nn.Module):
    """Pre-norm blocks, then the end the test names: pooled and normalised (MaxViT's head),
    pooled only (the near miss), or a projection into a second stage with a final norm (PiT)."""

    def __init__(self, end: str) -> None:
        super().__init__()
        self.end = end
        self.blocks = nn.Sequential(_Block(32), _Block(32), _Block(32))
        self.head_norm = nn.LayerNorm(32)
        self.pool_proj = nn.Linear(32, 64)
        self.stage2 = nn.Sequential(_Block(64), _Block(64))
        self.final_norm = nn.LayerNorm(64)
        self.fc = nn.Linear(32 if end != "stage" else 64, 10)

    def forward(self, x):
        x = self.blocks(x)
        if self.end == "stage":
            x = self.final_norm(self.stage2(self.pool_proj(x)))
        b, n, d = x.shape
        x = nn.functional.adaptive_avg_pool2d(x.transpose(1, 2).reshape(b, d, 4, 4), 1).flatten(1)
        return self.fc(self.head_norm(x) if self.end == "pooled+norm" else x)


@pytest.mark.parametrize(("end", "fires"), [("pooled+norm", False), ("stage", False), ("pooled", True)])
def test_al101_judges_only_the_models_end(end: str, fires: bool) -> None:
    found = _found(_Stack(end), (2, 16, 32), "AL101")
    assert bool(found) is fires, found


class _TalkingHeads(nn.Module):
    """Attention maps ``(N, heads, Q, K)`` softmaxed over K, then heads mixed by a 1x1 convolution
    (EfficientFormerV2); ``over_channels`` softmaxes a feature map over its channels instead."""

    def __init__(self, over_channels: bool) -> None:
        super().__init__()
        self.over_channels = over_channels
        self.qk = nn.Conv2d(4, 4, 1)
        self.talking_head = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        a = self.qk(x)
        a = a.softmax(dim=1 if self.over_channels else -1)
        return self.talking_head(a) @ x


def test_al011_a_conv_mixing_heads_after_a_softmax_over_keys() -> None:
    assert _found(_TalkingHeads(False), (2, 4, 8, 8), "AL011") == []
    (f,) = _found(_TalkingHeads(True), (2, 4, 8, 8), "AL011")
    assert f.layer == "softmax" or "talking_head" in f.message


class _Pair(nn.Module):
    """Two weight layers with no nonlinearity between them, in the arrangement the test names."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "axes":  # one projection along the last axis, the next along the one before
            self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
        elif kind == "patchify":  # a 4x4 stride-4 patch embedding, then a 3x3
            self.a, self.b = nn.Conv2d(3, 16, 4, stride=4), nn.Conv2d(16, 16, 3, padding=1)
        elif kind == "upsampler":
            self.a, self.b = nn.ConvTranspose2d(16, 16, 2, stride=2), nn.Conv2d(16, 16, 3, padding=1)
        elif kind == "3x3":  # two 3x3 merge into one 5x5: a forgotten activation
            self.a, self.b = nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)
        else:  # two dense layers on one axis
            self.a, self.b = nn.Linear(8, 32), nn.Linear(32, 32)

    def forward(self, x):
        if self.kind == "axes":
            return self.b(self.a(x).transpose(-1, -2))
        return self.b(self.a(x))


@pytest.mark.parametrize(("kind", "shape", "fires"), [
    ("axes", (2, 8, 8), False), ("patchify", (2, 3, 32, 32), False), ("upsampler", (2, 16, 8, 8), False),
    ("3x3", (2, 16, 8, 8), True), ("dense", (2, 8), True),
])
def test_al009_weighs_the_merged_layer(kind: str, shape: tuple[int, ...], fires: bool) -> None:
    assert bool(_found(_Pair(kind), shape, "AL009")) is fires


class _SoftCap(nn.Module):
    """Gemma 2's attention logit soft-capping, ``cap * tanh(s / cap)`` then softmax; without the
    rescaling, tanh then softmax is a duplicated activation."""

    def __init__(self, cap: float) -> None:
        super().__init__()
        self.cap = cap
        self.q = nn.Linear(8, 8)

    def forward(self, x):
        s = self.q(x) @ x.transpose(1, 2)
        s = torch.tanh(s / self.cap) * self.cap if self.cap != 1 else torch.tanh(s)
        return torch.softmax(s, -1) @ x


def test_al008_soft_capping_is_not_a_duplicated_activation() -> None:
    assert _found(_SoftCap(50.0), (2, 5, 8), "AL008") == []
    assert [f.code for f in _found(_SoftCap(1.0), (2, 5, 8), "AL008")] == ["AL008"]


class _TokenAggregate(nn.Module):
    """CoaT's head: three class-token vectors stacked as channels, mixed by a kernel-1 Conv1d into
    one (N, 1, D) 'map' whose length axis is features; ``conv_map`` is a real 1-channel 1-D map."""

    def __init__(self, conv_map: bool) -> None:
        super().__init__()
        self.conv_map = conv_map
        self.proj = nn.Linear(64, 152)
        self.features = nn.Conv1d(3, 3, 3, padding=1)
        self.aggregate = nn.Conv1d(3, 1, 1)
        self.head = nn.Linear(152, 1000)

    def forward(self, x):
        if self.conv_map:
            t = self.features(x)
        else:
            v = self.proj(x)
            t = torch.stack([v[:, 0], v[:, 1], v[:, 2]], dim=1)
        return self.head(self.aggregate(t).squeeze(1))


def test_al003_stacked_vectors_are_no_feature_map() -> None:
    assert _found(_TokenAggregate(False), (2, 3, 64), "AL003") == []
    assert [f.code for f in _found(_TokenAggregate(True), (2, 3, 152), "AL003")] == ["AL003"]


class _ConvStack(nn.Module):
    """Ten 3x3 convolutions; ``norm`` picks what follows each: nothing (the near miss), a channel
    RMSNorm written out (MobileNetV5), or ``F.normalize`` over channels."""

    def __init__(self, norm: str) -> None:
        super().__init__()
        self.norm = norm
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1) for i in range(10))

    def forward(self, x):
        for conv in self.convs:
            x = conv(x)
            if self.norm == "rms":
                x = x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-6)
            elif self.norm == "normalize":
                x = nn.functional.normalize(x, dim=1)
            x = torch.relu(x)
        return x


@pytest.mark.parametrize(("norm", "fires"), [("rms", False), ("normalize", False), ("none", True)])
def test_al012_sees_normalisation_written_out(norm: str, fires: bool) -> None:
    assert bool(_found(_ConvStack(norm), (2, 3, 16, 16), "AL012")) is fires


class _Flattened(nn.Module):
    """Six stride-1 convolutions and a flatten; ``head`` says whether a dense layer reads it (HaloNet
    flattens its relative-position logits only to re-index them, with no dense layer after)."""

    def __init__(self, head: bool) -> None:
        super().__init__()
        self.head = head
        self.convs = nn.Sequential(*[m for i in range(6) for m in (nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), nn.ReLU())])
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        v = self.convs(x).flatten(1)
        return self.fc(v) if self.head else nn.functional.pad(v, (0, 7))


def test_al032_a_flatten_no_dense_layer_reads_is_no_head() -> None:
    assert _found(_Flattened(False), (2, 3, 8, 8), "AL032") == []
    assert [f.code for f in _found(_Flattened(True), (2, 3, 8, 8), "AL032")] == ["AL032"]
