"""`transformers` models from small configs (2 layers, hidden 64, random
weights), captured with torch.export as users write them: no warning, the
exact findings, the new op kinds found, and coverage >= 95 %."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from archlint.api import check_graph
from archlint.findings import Severity
from archlint.graph import OpKind
from tests.transformers._models import MODELS, build, rnn_model, torch_graph

T5_UNSCALED = [
    "m.decoder.block.0.layer.0.SelfAttention", "m.decoder.block.0.layer.1.EncDecAttention",
    "m.decoder.block.1.layer.0.SelfAttention", "m.decoder.block.1.layer.1.EncDecAttention",
    "m.encoder.block.0.layer.0.SelfAttention", "m.encoder.block.1.layer.0.SelfAttention",
]
#: every default rule's findings, as (code, layer); T5 scales its queries in the
#: initialisation instead of the scores (docs/rules-catalogue.md), so AL102 (info) is right
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "bert": [], "distilbert": [], "gpt2": [], "llama": [], "vit": [], "clip_vision": [], "whisper": [],
    "t5": [("AL102", layer) for layer in T5_UNSCALED],
    "rnn": [("AL108", "lstm")],
}
#: (kind, count) the graph must show: attention, embeddings, norms, recurrent layers
KINDS: dict[str, dict[OpKind, int]] = {
    "bert": {OpKind.ATTENTION: 2, OpKind.EMBEDDING: 1, OpKind.LAYER_NORM: 5},
    "distilbert": {OpKind.ATTENTION: 2, OpKind.EMBEDDING: 1, OpKind.LAYER_NORM: 5},
    "gpt2": {OpKind.ATTENTION: 2, OpKind.EMBEDDING: 1, OpKind.LAYER_NORM: 5},
    "llama": {OpKind.ATTENTION: 2, OpKind.EMBEDDING: 1, OpKind.RMS_NORM: 5},
    "t5": {OpKind.ATTENTION: 6, OpKind.EMBEDDING: 2, OpKind.RMS_NORM: 12},
    "vit": {OpKind.ATTENTION: 2, OpKind.LAYER_NORM: 5},
    "clip_vision": {OpKind.ATTENTION: 2, OpKind.LAYER_NORM: 6},
    "whisper": {OpKind.ATTENTION: 6, OpKind.EMBEDDING: 1, OpKind.LAYER_NORM: 12},
    "rnn": {OpKind.RNN: 1, OpKind.EMBEDDING: 1},
}


@cache
def graph(name: str) -> Any:
    model, inputs = rnn_model() if name == "rnn" else build(name)
    return torch_graph(model, inputs, name)


ALL = [*MODELS, "rnn"]


@pytest.mark.parametrize("name", ALL)
def test_findings_are_exact(name: str) -> None:
    g = graph(name)
    g.lint()
    findings = check_graph(g)
    assert sorted((f.code, f.layer) for f in findings) == sorted(EXPECTED[name])
    assert not [f for f in findings if f.severity >= Severity.WARNING]


@pytest.mark.parametrize("name", ALL)
def test_new_kinds_are_recognised(name: str) -> None:
    g = graph(name)
    counts = {k: sum(1 for n in g.nodes if n.kind is k) for k in KINDS[name]}
    assert counts == KINDS[name]


@pytest.mark.parametrize("name", ALL)
def test_coverage(name: str) -> None:
    cov = graph(name).coverage()
    assert cov["share"] >= 0.95, cov["unknown"]
    if name in ("llama", "bert", "t5", "whisper"):
        assert cov["unknown"] == {}


def test_attention_attributes() -> None:
    att = next(graph("bert").of_kind(OpKind.ATTENTION))
    assert (att.attrs["heads"], att.attrs["head_dim"]) == (4, 16)
    assert att.attrs["scale"] == pytest.approx(0.25)  # 1/sqrt(16), passed by transformers
    llama = next(graph("llama").of_kind(OpKind.ATTENTION))
    assert llama.attrs["heads"] == 4 and llama.attrs["head_dim"] == 16


def test_written_out_rms_norm_is_one_node() -> None:
    norms = list(graph("llama").of_kind(OpKind.RMS_NORM))
    assert [n.layer for n in norms][-1] == "m.model.norm"
    assert all(n.attrs["written_out"] and n.attrs["affine"] for n in norms)
    assert all(n.params == 64 for n in norms)
    # nothing of pow / mean / rsqrt is left over
    assert not [n for n in graph("llama").nodes if n.op_type in ("pow", "rsqrt")]


def test_embedding_tables_are_counted_and_tied_projections_once() -> None:
    bert = graph("bert")
    emb = next(bert.of_kind(OpKind.EMBEDDING))
    assert (emb.attrs["vocab"], emb.attrs["dim"], emb.params) == (1000, 64, 64_000)
    gpt2 = graph("gpt2")
    head = [n for n in gpt2.of_kind(OpKind.DENSE) if n.attrs.get("tied")]
    assert [n.layer for n in head] == ["m.lm_head"] and head[0].params == 0
    wte = next(gpt2.of_kind(OpKind.EMBEDDING))
    assert wte.attrs["tied"] == "m.lm_head"


def test_sequences_have_a_sequence_layout() -> None:
    g = graph("gpt2")
    dense = [n for n in g.of_kind(OpKind.DENSE) if n.inputs[0].shape and len(n.inputs[0].shape) == 3]
    assert dense and all(n.output.layout == "NLD" for n in dense)
    assert next(g.of_kind(OpKind.EMBEDDING)).output.layout == "NLD"
    vit = graph("vit")
    conv = next(vit.of_kind(OpKind.CONV))
    assert conv.output.layout == "NCHW"  # the patch embedding is a spatial map; what follows is not
    assert next(vit.of_kind(OpKind.ATTENTION)).output.layout in ("NHLD", "NLD")


def test_hardware_rules_skip_output_layers() -> None:
    """AL020 (opt-in) leaves the vocabulary projection and the classifier alone:
    they are output layers; AL105 (opt-in) names the unaligned token table."""
    import torch

    from archlint.config import Config
    from tests.transformers._models import _wrap, shim_torchvision

    shim_torchvision()
    import transformers as T

    torch.manual_seed(0)
    gpt2 = T.GPT2LMHeadModel(T.GPT2Config(n_embd=64, n_layer=1, n_head=4, vocab_size=1001, use_cache=False,
                                          pad_token_id=0, bos_token_id=1, eos_token_id=2))
    g = torch_graph(_wrap(gpt2, "ids").train(), (torch.randint(0, 1000, (1, 8)),))
    found = check_graph(g, Config(select=["AL020", "AL105"]))
    assert [(f.code, f.layer) for f in found] == [("AL105", "m.transformer.wte")]
