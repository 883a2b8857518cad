"""Example inputs for PyTorch modules: --input, factory-returned inputs,
defaults suited to the model, transformers models as users write them,
meta-device builds, and the eval-mode fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archlint.errors import UsageError
from archlint.frontends import InputSpec, LoadOptions, parse_input

ROOT = Path(__file__).resolve().parents[2]


def test_parse_input() -> None:
    assert parse_input("2x16") == InputSpec(None, (2, 16), "float32")
    assert parse_input("input_ids=2x16:int64") == InputSpec("input_ids", (2, 16), "int64")
    assert parse_input("mask=2,16:bool") == InputSpec("mask", (2, 16), "bool")
    assert parse_input("x=1x3x8x8:half") == InputSpec("x", (1, 3, 8, 8), "float16")
    assert parse_input("x=4:bfloat16").dtype == "bfloat16"
    assert str(parse_input("input_ids=2x16:int64")) == "input_ids=2x16:int64"
    for bad, needle in [("x=2x16:complex64", "unknown dtype 'complex64'"), ("1a=2x3", "not an argument name"),
                        ("x=2xq", "expected numbers"), ("x=0x3", "must be positive")]:
        with pytest.raises(UsageError, match=needle):
            parse_input(bad)


def test_input_shape_is_the_first_positional_input() -> None:
    opts = LoadOptions(input_shape=(1, 3, 8, 8), inputs=[parse_input("mask=1x8:bool")])
    assert opts.example_inputs() == [InputSpec(None, (1, 3, 8, 8)), InputSpec("mask", (1, 8), "bool")]


torch = pytest.importorskip("torch")

from archlint.frontends import load_graph  # noqa: E402
from archlint.frontends.torch import Example, capture, default_example, id_limit  # noqa: E402
from archlint.graph import OpKind  # noqa: E402

NETS = '''
import torch
from torch import nn


class Masked(nn.Module):
    """Two inputs: an image and a keyword boolean mask."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x, mask=None):
        y = self.conv(x)
        if mask is not None:
            y = y * mask.to(y.dtype)
        return self.fc(y.mean((2, 3)))


class Tokens(nn.Module):
    def __init__(self, vocab=50):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, ids):
        return self.fc(self.emb(ids).mean(1))


class TrainNeedsTargets(nn.Module):
    """Like a detection model: training mode demands targets."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        if self.training:
            raise ValueError("targets should be passed in training mode")
        return self.drop(self.bn(self.conv(x)))


def masked():
    return Masked()


def masked_with_example():
    return Masked(), (torch.randn(2, 3, 6, 6),)


def masked_with_args_kwargs():
    return Masked(), (torch.randn(2, 3, 6, 6),), {"mask": torch.ones(2, 1, 6, 6, dtype=torch.bool)}


def tokens():
    return Tokens()


def needs_targets():
    return TrainNeedsTargets()


def gray():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def bad_tuple():
    return Masked(), 1, 2, 3
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("inputs") / "input_nets.py"
    p.write_text(NETS)
    return p


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "archlint.cli", "check", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def _mul_inputs(g) -> list[int]:
    return [len(n.inputs) for n in g.nodes if n.kind is OpKind.MUL]


def test_named_and_positional_inputs_reach_forward(nets: Path) -> None:
    g = load_graph(f"{nets}:masked", LoadOptions(inputs=[parse_input("2x3x6x6"), parse_input("mask=2x1x6x6:bool")]))
    assert [n.name for n in g.inputs] == ["x", "mask"]
    assert [v.shape for v in g.inputs] == [(2, 3, 6, 6), (2, 1, 6, 6)] if hasattr(g.inputs[0], "shape") else True
    assert _mul_inputs(g) == [2]  # the mask branch was taken
    g1 = load_graph(f"{nets}:masked", LoadOptions(inputs=[parse_input("2x3x6x6")]))
    assert _mul_inputs(g1) == []
    assert "notes" not in g.meta and "notes" not in g1.meta


def test_factory_returned_examples(nets: Path) -> None:
    g = load_graph(f"{nets}:masked_with_example", LoadOptions())
    assert _mul_inputs(g) == [] and "notes" not in g.meta
    conv = next(n for n in g.nodes if n.kind is OpKind.CONV)
    assert conv.output.shape == (2, 4, 6, 6)
    g2 = load_graph(f"{nets}:masked_with_args_kwargs", LoadOptions())
    assert _mul_inputs(g2) == [2]
    # --input overrides what the factory returned
    g3 = load_graph(f"{nets}:masked_with_example", LoadOptions(input_shape=(2, 3, 10, 10)))
    assert next(n for n in g3.nodes if n.kind is OpKind.CONV).output.shape == (2, 4, 10, 10)
    from archlint.errors import LoadError

    with pytest.raises(LoadError, match=r"returned \(model, \.\.\.\): expected \(model, example_inputs\) or \(model, args, kwargs\), got 4 items"):
        load_graph(f"{nets}:bad_tuple", LoadOptions())


def test_integer_inputs_are_valid_ids(nets: Path) -> None:
    from torch import nn

    assert id_limit(nn.Sequential(nn.Embedding(50, 4), nn.Embedding(7, 4))) == 7
    assert id_limit(nn.Linear(2, 2)) is None
    # default: the model starts with an embedding -> token ids below its size
    import importlib.util

    spec = importlib.util.spec_from_file_location("input_nets", nets)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ex = default_example(torch, mod.Tokens(vocab=5))
    ids = ex.args[0]
    assert ids.dtype == torch.int64 and tuple(ids.shape) == (2, 16) and int(ids.max()) < 5 and int(ids.min()) >= 0
    g = load_graph(f"{nets}:tokens", LoadOptions())
    assert g.meta["notes"][0].startswith("assumed input shape 2x16:int64")
    assert any(n.op_type == "embedding" for n in g.nodes)
    g2 = load_graph(f"{nets}:tokens", LoadOptions(inputs=[parse_input("4x9:int64")]))
    assert g2.inputs[0].shape == (4, 9)


def test_eval_mode_fallback_is_reported(nets: Path) -> None:
    g = load_graph(f"{nets}:needs_targets", LoadOptions(input_shape=(2, 3, 8, 8)))
    assert g.meta["capture_mode"] == "eval"
    note = g.meta["notes"][-1]
    assert note.startswith("captured in eval mode: training mode failed (")
    assert "targets should be passed in training mode" in note and "running statistics" in note
    bn = next(n for n in g.nodes if n.kind is OpKind.BATCH_NORM)
    assert bn.attrs["training_mode"] is False
    r = _run(f"{nets}:needs_targets", "--input-shape", "2x3x8x8", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    assert any(n.startswith("captured in eval mode") for n in json.loads(r.stdout)["files"][0]["notes"])


def test_hint_names_the_channel_fix(nets: Path) -> None:
    r = _run(f"{nets}:gray", "--input-shape", "2x3x8x8")
    assert r.returncode == 2
    assert "the model expects 1 input channels: pass --input-shape 2x1x8x8" in r.stderr, r.stderr


def test_cli_input_option(nets: Path) -> None:
    r = _run(f"{nets}:masked", "--input", "2x3x6x6", "--input", "mask=2x1x6x6:bool", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    assert json.loads(r.stdout)["files"][0]["notes"] == []
    r = _run(f"{nets}:masked", "--input", "mask=2x1x6x6:complex")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown dtype 'complex'" in r.stderr


def test_default_example_reads_the_model() -> None:
    from torch import nn

    def shape(m: nn.Module) -> tuple:
        ex = default_example(torch, m)
        return tuple(ex.args[0].shape)

    assert shape(nn.Sequential(nn.Conv2d(3, 8, 7, stride=2), nn.ReLU())) == (2, 3, 224, 224)  # ImageNet stem
    assert shape(nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU())) == (2, 1, 32, 32)  # small-image net
    assert shape(nn.Sequential(nn.Linear(20, 4))) == (2, 20)
    assert shape(nn.LSTM(12, 4, batch_first=True)) == (2, 16, 12)
    stem = nn.Sequential(nn.Conv2d(3, 8, 3))
    stem.image_size = 96  # a model that says its input size
    assert shape(stem) == (2, 3, 96, 96)


transformers = pytest.importorskip("transformers")


def _tiny(cls_name: str, cfg_name: str, **cfg):
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    import transformers as tf

    return getattr(tf, cls_name)(getattr(tf, cfg_name)(**cfg))


@pytest.mark.parametrize(
    "cls,cfg,kw,dense",
    [
        ("GPT2LMHeadModel", "GPT2Config", dict(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64), 9),
        ("LlamaForCausalLM", "LlamaConfig", dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                                 num_attention_heads=4, num_key_value_heads=2, vocab_size=100), 15),
        ("BertModel", "BertConfig", dict(num_hidden_layers=2, hidden_size=32, intermediate_size=64,
                                         num_attention_heads=4, vocab_size=100), 13),
    ],
)
def test_transformers_models_load_as_written(cls: str, cfg: str, kw: dict, dense: int) -> None:
    """Raw transformers classes, default config flags (use_cache on): the KV cache is
    left out, ModelOutput is read, token ids are valid."""
    model = _tiny(cls, cfg, **kw)
    ex = default_example(torch, model)
    assert list(ex.kwargs) == ["input_ids"] and ex.kwargs["input_ids"].dtype == torch.int64
    assert int(ex.kwargs["input_ids"].max()) < 100
    g = capture(model, ex, cls)
    g.lint()
    assert g.meta["capture"] == "torch.export" and g.meta["capture_mode"] == "train"
    assert sum(n.kind is OpKind.DENSE for n in g.nodes) == dense
    assert len(g.outputs) >= 1


def test_meta_device_build_allocates_no_weights() -> None:
    cfg = dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
               num_key_value_heads=4, vocab_size=1000)
    with torch.device("meta"):
        model = _tiny("LlamaForCausalLM", "LlamaConfig", **cfg)
    assert next(model.parameters()).is_meta
    ex = default_example(torch, model)
    assert ex.kwargs["input_ids"].is_meta
    g = capture(model, ex, "llama-meta")
    real = _tiny("LlamaForCausalLM", "LlamaConfig", **cfg)
    g_real = capture(real, Example((), {"input_ids": torch.randint(0, 1000, (2, 16))}), "llama")
    # the same graph, except a `.contiguous()` that is a no-op on real tensors but not on meta strides
    assert [n.kind for n in g.nodes if n.kind is not OpKind.IDENTITY] == [
        n.kind for n in g_real.nodes if n.kind is not OpKind.IDENTITY]
    assert g.total_params == g_real.total_params > 0


def test_readme_bert_example(tmp_path: Path) -> None:
    """The README's command: a BertModel from its config, token ids and a mask by name."""
    (tmp_path / "bert.py").write_text(
        "from transformers import BertConfig, BertModel\n"
        "def make():\n"
        "    return BertModel(BertConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4))\n"
    )
    r = _run("bert.py:make", "--input", "input_ids=2x16:int64", "--input", "attention_mask=2x16:int64",
             "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout)["files"][0]
    assert f["error"] is None and not any(n.startswith("assumed input") for n in f["notes"])
    assert f["coverage"]["nodes"] > 50
