"""Small `transformers` models (2 layers, hidden 64, random weights) wrapped
as users write them: token ids (or pixels, or log-mel features) in, every
tensor output out. Shared by the torch tests, the ONNX parity tests and
benchmarks/transformers_default_configs.py (which builds the DEFAULT configs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VOCAB = 1000


def shim_torchvision() -> None:
    """transformers imports torchvision, whose compiled ops fail to load beside
    the CPU torch: define the two ops it registers fakes for."""
    import torch

    try:
        from archlint.frontends import _torchvision_compat  # type: ignore[attr-defined]

        _torchvision_compat.install()  # type: ignore[attr-defined]
        return
    except (ImportError, AttributeError):
        pass
    try:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        shim_torchvision._lib = lib  # type: ignore[attr-defined]  # keep the fragment alive
    except RuntimeError:
        pass  # already defined


def _wrap(model: Any, kind: str) -> Any:
    import torch

    class Wrapped(torch.nn.Module):
        """``model(input_ids=...)`` returning its tensors (no cache objects)."""

        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, x: Any, y: Any = None) -> Any:
            if kind == "ids":
                out = self.m(input_ids=x)
            elif kind == "pixels":
                out = self.m(pixel_values=x)
            elif kind == "seq2seq":
                out = self.m(input_ids=x, decoder_input_ids=y)
            elif kind == "speech":
                out = self.m(input_features=x, decoder_input_ids=y)
            else:  # plain tensor in
                out = self.m(x)
            if isinstance(out, torch.Tensor):
                return out
            if isinstance(out, tuple):
                return tuple(v for v in out if isinstance(v, torch.Tensor))
            return tuple(v for v in out.values() if isinstance(v, torch.Tensor))

    return Wrapped()


def example_inputs(kind: str) -> tuple[Any, ...]:
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (1, 8), generator=g)
    if kind == "ids":
        return (ids,)
    if kind == "seq2seq":
        return (ids, torch.randint(0, VOCAB, (1, 4), generator=g))
    if kind == "pixels":
        return (torch.randn(1, 3, 32, 32, generator=g),)
    if kind == "speech":
        return (torch.randn(1, 16, 32, generator=g), torch.randint(0, VOCAB, (1, 4), generator=g))
    return (torch.randn(1, 8, 64, generator=g),)


def _small() -> dict[str, tuple[Callable[[], Any], str]]:
    import transformers as T

    ids = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return {
        "bert": (lambda: T.BertModel(T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                  intermediate_size=128, vocab_size=VOCAB)), "ids"),
        "distilbert": (lambda: T.DistilBertModel(T.DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128,
                                                                   vocab_size=VOCAB)), "ids"),
        "gpt2": (lambda: T.GPT2LMHeadModel(T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=VOCAB,
                                                        use_cache=False, **ids)), "ids"),
        "llama": (lambda: T.LlamaForCausalLM(T.LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                                           num_key_value_heads=2, intermediate_size=128,
                                                           vocab_size=VOCAB, use_cache=False, **ids)), "ids"),
        "t5": (lambda: T.T5Model(T.T5Config(d_model=64, num_layers=2, num_heads=4, d_ff=128, d_kv=16,
                                            vocab_size=VOCAB, use_cache=False, decoder_start_token_id=0, **ids)),
               "seq2seq"),
        "vit": (lambda: T.ViTModel(T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                               intermediate_size=128, image_size=32, patch_size=8)), "pixels"),
        "clip_vision": (lambda: T.CLIPVisionModel(T.CLIPVisionConfig(hidden_size=64, num_hidden_layers=2,
                                                                     num_attention_heads=4, intermediate_size=128,
                                                                     image_size=32, patch_size=8)), "pixels"),
        "whisper": (lambda: T.WhisperModel(T.WhisperConfig(d_model=64, encoder_layers=2, decoder_layers=2,
                                                           encoder_attention_heads=4, decoder_attention_heads=4,
                                                           encoder_ffn_dim=128, decoder_ffn_dim=128,
                                                           vocab_size=VOCAB, num_mel_bins=16, max_source_positions=16,
                                                           max_target_positions=32, use_cache=False,
                                                           decoder_start_token_id=1, **ids)), "speech"),
    }


MODELS = ("bert", "distilbert", "gpt2", "llama", "t5", "vit", "clip_vision", "whisper")


def build(name: str) -> tuple[Any, tuple[Any, ...]]:
    """The wrapped model (training mode, seeded weights) and its example inputs."""
    import torch

    shim_torchvision()
    torch.manual_seed(0)
    make, kind = _small()[name]
    return _wrap(make(), kind).train(), example_inputs(kind)


def rnn_model() -> tuple[Any, tuple[Any, ...]]:
    """A small LSTM language model: embedding, 2-layer LSTM with dropout, tied-free head."""
    import torch
    from torch import nn

    class LstmLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, 64)
            self.lstm = nn.LSTM(64, 64, num_layers=2, dropout=0.3, batch_first=True)
            self.head = nn.Linear(64, VOCAB)

        def forward(self, ids: Any) -> Any:
            h, _ = self.lstm(self.embed(ids))
            return self.head(h)

    torch.manual_seed(0)
    return LstmLM().train(), example_inputs("ids")


def torch_graph(model: Any, inputs: tuple[Any, ...], name: str = "model") -> Any:
    """The archlint graph of a module captured with torch.export (training mode)."""
    import torch

    from archlint.frontends.torch import from_exported

    ep = torch.export.export(model, inputs, strict=False)
    return from_exported(ep, name)


def onnx_graph(model: Any, inputs: tuple[Any, ...], path: str, dynamo: bool, name: str = "model") -> Any:
    """Export (training mode kept where the exporter allows) and read it back."""
    import contextlib
    import io

    import torch

    from archlint.frontends import load_graph

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if dynamo:
            torch.onnx.export(model, inputs, path, dynamo=True, training=torch.onnx.TrainingMode.TRAINING,
                              do_constant_folding=False)
        else:
            torch.onnx.export(model, inputs, path, dynamo=False, opset_version=17,
                              training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    return load_graph(path)
