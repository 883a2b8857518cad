"""Small torch models with one planted mistake each, and their near-misses.

``PLANTED[name] = (make_bad, make_ok, inputs_kind, code)``: the bad model must
give ``code``; the near-miss must not."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

D, H, L, V = 64, 4, 8, 1000


class PreNormStack(nn.Module):
    """nn.TransformerEncoder with norm_first layers; ``final`` adds the final LayerNorm."""

    def __init__(self, final: bool) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(D, H, 128, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D) if final else None,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(D, 10)

    def forward(self, x: Any) -> Any:
        return self.head(self.encoder(x))


class HandAttention(nn.Module):
    """Written-out single-block attention; ``scaled`` divides by sqrt(head_dim);
    ``fill`` masks the scores with that constant."""

    def __init__(self, scaled: bool, fill: float | None = None, heads: int = H, width: int = D) -> None:
        super().__init__()
        self.scaled, self.fill, self.h = scaled, fill, heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Any) -> Any:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm(x)).split(d, dim=-1)
        q, k, v = (t.view(b, n, self.h, d // self.h).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1)
        if self.scaled:
            scores = scores / math.sqrt(d // self.h)
        if self.fill is not None:
            mask = (x[:, :, 0] > 0)[:, None, None, :]
            scores = scores.masked_fill(mask, self.fill)
        weights = torch.softmax(scores, dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(b, n, d)
        return x + self.out(y)


class TokenEncoder(nn.Module):
    """Embedding -> post-norm nn.TransformerEncoder -> classifier; ``pos`` adds learned positions."""

    def __init__(self, pos: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.pos = nn.Parameter(torch.zeros(1, L, D)) if pos else None
        layer = nn.TransformerEncoderLayer(D, H, 128, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 2)

    def forward(self, ids: Any) -> Any:
        x = self.embed(ids)
        if self.pos is not None:
            x = x + self.pos
        return self.head(self.encoder(x).mean(dim=1))


class LstmTagger(nn.Module):
    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.lstm = nn.LSTM(D, D, num_layers=2, dropout=dropout, batch_first=True)
        self.head = nn.Linear(D, 5)

    def forward(self, ids: Any) -> Any:
        h, _ = self.lstm(self.embed(ids))
        return self.head(h)


class LogProbs(nn.Module):
    def __init__(self, stable: bool) -> None:
        super().__init__()
        self.stable = stable
        self.fc = nn.Linear(D, 10)

    def forward(self, x: Any) -> Any:
        logits = self.fc(x)
        if self.stable:
            return F.log_softmax(logits, dim=-1)
        return torch.log(torch.softmax(logits, dim=-1))


class Heads(nn.Module):
    """nn.MultiheadAttention of the given width and head count."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(D, width)
        self.attn = nn.MultiheadAttention(width, 4, batch_first=True)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: Any) -> Any:
        h = self.proj(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.norm(h + a)


def inputs(kind: str) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(0)
    if kind == "ids":
        return (torch.randint(0, V, (2, L), generator=g),)
    return (torch.randn(2, L, D, generator=g),)


PLANTED: dict[str, tuple[Any, Any, str, str]] = {
    "pre_norm_without_final_norm": (lambda: PreNormStack(False), lambda: PreNormStack(True), "x", "AL101"),
    "attention_without_scaling": (lambda: HandAttention(False), lambda: HandAttention(True), "x", "AL102"),
    "no_positional_information": (lambda: TokenEncoder(False), lambda: TokenEncoder(True), "ids", "AL103"),
    "head_dim_not_multiple_of_8": (lambda: Heads(100), lambda: Heads(128), "x", "AL104"),
    "softmax_then_log": (lambda: LogProbs(False), lambda: LogProbs(True), "x", "AL106"),
    "fp16_unsafe_mask": (lambda: HandAttention(True, -1e9), lambda: HandAttention(True, -1e4), "x", "AL107"),
    "dropout_inside_lstm": (lambda: LstmTagger(0.3), lambda: LstmTagger(0.0), "ids", "AL108"),
}
