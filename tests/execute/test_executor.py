"""The executor runs archlint's graph as a torch module with the original's outputs.

Parity is the frontends' strongest test: the graph of a PyTorch module, of an
ONNX file and of a Keras file, executed by :func:`archlint.execute.to_module`,
gives the original framework's eval-mode outputs within 1e-4 relative. Small
models here (the big sweep is benchmarks/parity_sweep.py, its table docs/executor.md)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from archlint.api import load_graph  # noqa: E402
from archlint.execute import ExecutionError, to_module  # noqa: E402
from archlint.frontends.torch import Example, capture  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max() / (a.abs().max() + 1e-12))


def _flat(o: object) -> list[torch.Tensor]:
    if isinstance(o, torch.Tensor):
        return [o]
    return [t for x in o for t in _flat(x)]  # type: ignore[attr-defined]


class Conv2dZoo(nn.Module):
    """Plain, depthwise, grouped and transposed convolutions, every 2-D norm,
    dropout flavours, pooling (local, adaptive, global), activations, merges."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.gn = nn.GroupNorm(2, 8)
        self.grouped = nn.Conv2d(8, 8, 1, groups=2)
        self.drop2d = nn.Dropout2d(0.2)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.avg = nn.AvgPool2d(2)
        self.side = nn.Conv2d(8, 4, 3, stride=2, padding=1, dilation=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        self.drop = nn.Dropout(0.3)
        self.prelu = nn.PReLU(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        x = nn.functional.silu(self.gn(self.dw(x))) + x
        x = self.prelu(self.drop2d(self.grouped(x)))
        p = self.pool(x)
        u = nn.functional.gelu(self.inorm(self.up(p)))
        s = self.side(x)
        m = self.avg(u) * torch.sigmoid(s)
        h = torch.cat([m, s], dim=1)
        h = self.gap(h).flatten(1)
        return torch.softmax(self.drop(self.fc(h)), dim=-1)


class Conv1d3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(3, 6, 3, padding=1)
        self.b1 = nn.BatchNorm1d(6)
        self.c3 = nn.Conv3d(6, 4, 3, padding=1)
        self.b3 = nn.BatchNorm3d(4)
        self.t1 = nn.ConvTranspose1d(6, 6, 3, stride=2, padding=1, output_padding=1)
        self.fc = nn.Linear(4 + 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = nn.functional.max_pool1d(torch.tanh(self.b1(self.c1(x))), 2)  # (N, 6, 8)
        t = nn.functional.adaptive_max_pool1d(nn.functional.elu(self.t1(a)), 1).flatten(1)
        v = a.reshape(a.shape[0], 6, 2, 2, 2)
        v = nn.functional.avg_pool3d(nn.functional.leaky_relu(self.b3(self.c3(v))), 2).flatten(1)
        return nn.functional.log_softmax(self.fc(torch.cat([v, t], 1)), dim=1)


class SeqZoo(nn.Module):
    """Embedding, LSTM (2 layers, bidirectional, dropout), GRU, layer norm,
    multi-head attention, transposes and reshapes."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 8, num_layers=2, bidirectional=True, dropout=0.2, batch_first=True)
        self.gru = nn.GRU(16, 16, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 4, dropout=0.1, batch_first=True)
        self.pos = nn.Parameter(torch.randn(1, 6, 16) * 0.02)  # a free parameter: counted and run
        self.head = nn.Linear(16, 50)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids) + self.pos
        h, _ = self.lstm(h)
        h, _ = self.gru(h)
        h = self.norm(h)
        a, _ = self.attn(h, h, h, need_weights=False)
        h = (h + a).transpose(1, 2).reshape(h.shape[0], -1, 6).transpose(1, 2)
        return self.head(h)


def _warm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A few training-mode steps so batch-norm statistics are not the identity."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model


def _plain_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, groups=8), nn.Dropout2d(0.1), nn.Hardswish(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 4), nn.Softmax(dim=1))


TORCH_CASES = {
    "plain_cnn": (_plain_cnn, lambda: torch.randn(4, 3, 8, 8)),
    "conv2d_zoo": (Conv2dZoo, lambda: torch.randn(4, 3, 8, 8)),
    "conv1d_3d": (Conv1d3d, lambda: torch.randn(4, 3, 16)),
    "seq_zoo": (SeqZoo, lambda: torch.randint(0, 50, (2, 6))),
}


@pytest.mark.parametrize("fast", [True, False], ids=["fx-capture", "torch.export"])
@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_torch_parity(case: str, fast: bool) -> None:
    torch.manual_seed(0)
    make, example = TORCH_CASES[case]
    x = example()
    model = make()
    if x.is_floating_point():
        _warm(model, x)
    graph = capture(model, Example((x,)), case, fast=fast)
    if fast and case == "plain_cnn":
        assert graph.meta["capture"] == "torch.fx"  # the cheap capture records the same ATen calls
    em = to_module(graph)
    # the parameters are the original's, under the original's names
    assert {k for k, _ in em.named_parameters()} == {k for k, _ in model.named_parameters()}
    assert graph.total_params == sum(p.numel() for p in model.parameters())
    model.eval()
    em.eval()
    with torch.no_grad():
        assert rel(model(x), em(x)) <= TOL


def test_train_mode_semantics_and_gradients() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8)
    model = _warm(Conv2dZoo(), x)
    em = to_module(capture(model, Example((x,)), "zoo"))
    em.train()
    with torch.no_grad():
        a, b = em(x), em(x)
    assert rel(a, b) > 1e-3  # dropout is live in training mode
    # batch norm updates its running statistics in training mode, as the original does
    model.train()
    with torch.no_grad():
        model(x)
        em(x)
    # (the executed module ran two more batches than the original: compare a fresh pair)
    em2 = to_module(capture(model, Example((x,)), "zoo"))
    before = em2.state_dict()["bn.running_mean"].clone()
    em2.train()
    with torch.no_grad():
        em2(x)
        model(x)
    after = em2.state_dict()["bn.running_mean"]
    assert not torch.equal(before, after)
    assert rel(model.bn.running_mean, after) <= TOL
    # eval mode is deterministic and equal to the original's
    em2.eval()
    model.eval()
    with torch.no_grad():
        assert rel(em2(x), em2(x)) == 0.0
        assert rel(model(x), em2(x)) <= TOL
    # trainable: every parameter gets a gradient
    em2.train()
    loss = em2(x).square().sum()
    loss.backward()
    assert all(p.grad is not None for p in em2.parameters())
    # training the executed module leaves the original alone
    stem = model.stem.weight.detach().clone()
    with torch.no_grad():
        for p in em2.parameters():
            p.add_(1.0)
    assert torch.equal(model.stem.weight, stem)


# -- ONNX: every fixture file (they carry their weights), and exports of a model ---------------
ONNX_FIXTURES = sorted(
    glob.glob(str(ROOT / "fixtures" / "onnx" / "*.onnx"))
    + glob.glob(str(ROOT / "fixtures" / "faults" / "onnx" / "*.onnx"))
    + glob.glob(str(ROOT / "fixtures" / "rules" / "onnx" / "*.onnx"))
)


def _distinct_fixtures() -> list[str]:
    """One ONNX fixture per distinct set of op types (onnx's reference evaluator is
    slow; benchmarks/parity_fixtures.py runs every fixture)."""
    import onnx

    seen: dict[frozenset[str], str] = {}
    for path in ONNX_FIXTURES:
        ops = frozenset(n.op_type for n in onnx.load(path, load_external_data=False).graph.node)
        seen.setdefault(ops, path)
    return sorted(seen.values())


def test_onnx_fixtures_match_the_reference_evaluator() -> None:
    """The ONNX fixtures (one per distinct op-type set), executed, equal onnx's reference implementation."""
    import numpy as np
    import onnx
    from onnx.reference import ReferenceEvaluator

    assert len(ONNX_FIXTURES) >= 60
    chosen = _distinct_fixtures()
    assert len(chosen) >= 10
    worst: dict[str, float] = {}
    for path in chosen:
        model = onnx.load(path)
        inits = {t.name for t in model.graph.initializer}
        assert inits, path  # the fixtures carry weights
        ins = [vi for vi in model.graph.input if vi.name not in inits]
        feeds = {vi.name: np.random.RandomState(0).randn(*[d.dim_value or 2 for d in vi.type.tensor_type.shape.dim]).astype("float32")
                 for vi in ins}
        want = ReferenceEvaluator(model).run(None, feeds)[0]
        em = to_module(load_graph(path)).eval()
        with torch.no_grad():
            got = em(*[torch.from_numpy(feeds[vi.name]) for vi in ins])
        worst[Path(path).name] = rel(torch.from_numpy(want), got)
    bad = {k: v for k, v in worst.items() if v > TOL}
    assert not bad, bad


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_onnx_export_parity(exporter: str, tmp_path: Path) -> None:
    import contextlib
    import io

    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    x = torch.randn(4, 3, 8, 8)
    model = _warm(Conv2dZoo(), x).eval()
    path = tmp_path / f"zoo_{exporter}.onnx"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(model, (x,), str(path), dynamo=exporter == "dynamo", **({} if exporter == "dynamo" else {"opset_version": 17}))
    em = to_module(load_graph(str(path))).eval()
    with torch.no_grad():
        assert rel(model(x), em(x)) <= TOL


# -- Keras: models built and saved by real Keras 3 (torch backend) in a subprocess ----------------
KERAS_BUILD = r'''
import json, sys
import numpy as np
import keras
from keras import layers as L

out = sys.argv[1]
rng = np.random.RandomState(0)
models = {}
i = keras.Input((12, 12, 3))
x = L.Conv2D(8, 3, padding="same", activation="relu")(i)
x = L.BatchNormalization()(x)
x = L.SeparableConv2D(8, 3, padding="same")(x)
x = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x)
x = L.SpatialDropout2D(0.2)(x)
y = L.MaxPooling2D(3, strides=2, padding="same")(x)
z = L.AveragePooling2D(3, strides=2, padding="same")(x)
x = L.Concatenate()([y, z])
x = L.ZeroPadding2D(1)(x)
x = L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
x = L.LeakyReLU()(x)
x = L.GlobalAveragePooling2D()(x)
x = L.Dropout(0.3)(x)
x = L.Dense(5)(x)
models["cnn"] = (keras.Model(i, x), (2, 12, 12, 3), "float32")
i = keras.Input((7,), dtype="int32")
x = L.Embedding(40, 12)(i)
x = L.LayerNormalization()(x)
a = L.MultiHeadAttention(2, 6, dropout=0.1)(x, x)
x = L.Add()([x, a])
x = L.LSTM(10, return_sequences=True, dropout=0.1)(x)
x = L.GRU(8, return_sequences=True)(x)
x = L.SimpleRNN(6)(x)
x = L.Dense(3, activation="softmax")(x)
models["seq"] = (keras.Model(i, x), (2, 7), "int32")
res = {}
for name, (m, shape, dtype) in models.items():
    xin = rng.randint(0, 40, size=shape).astype(dtype) if dtype == "int32" else rng.randn(*shape).astype(dtype)
    m(xin, training=True)  # batch-norm statistics move
    for bn in [l for l in m.layers if isinstance(l, L.BatchNormalization)]:
        bn.moving_mean.assign(rng.randn(*bn.moving_mean.shape).astype("float32") * 0.1)
        bn.moving_variance.assign(rng.rand(*bn.moving_variance.shape).astype("float32") + 0.5)
    y = np.asarray(m(xin, training=False).detach().cpu())
    for ext in ("keras", "h5"):
        m.save(f"{out}/{name}.{ext}")
    np.save(f"{out}/{name}_x.npy", xin)
    np.save(f"{out}/{name}_y.npy", y)
    res[name] = sum(int(np.prod(w.shape)) for w in m.weights)
print(json.dumps(res))
'''


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras not installed")
    out = tmp_path_factory.mktemp("keras")
    env = {**os.environ, "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run([sys.executable, "-c", KERAS_BUILD, str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("name", ["cnn", "seq"])
def test_keras_parity(keras_models: Path, name: str, ext: str) -> None:
    import numpy as np

    x = np.load(keras_models / f"{name}_x.npy")
    want = np.load(keras_models / f"{name}_y.npy")
    em = to_module(load_graph(str(keras_models / f"{name}.{ext}"))).eval()
    with torch.no_grad():
        got = em(torch.from_numpy(x))
    assert rel(torch.from_numpy(want), got) <= TOL
    em.train()
    assert any(p.requires_grad for p in em.parameters())


def test_keras_fixture_without_weights_is_one_clear_error() -> None:
    """The Keras fixtures are configs without weights: the executor says so, naming the node."""
    graph = load_graph(str(ROOT / "fixtures" / "faults" / "control_lenet.keras"))
    with pytest.raises(ExecutionError) as e:
        to_module(graph)
    assert "is not in the file" in str(e.value)
    assert str(e.value).startswith("cannot execute node ")


def test_unknown_op_is_one_clear_error(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("Relu", ["x"], ["h"], name="act")
    weird = helper.make_node("MyCustomOp", ["h"], ["y"], name="mystery", domain="com.example")
    model = helper.make_model(helper.make_graph([node, weird], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ExecutionError) as e:
        to_module(load_graph(str(path)))
    assert str(e.value) == "cannot execute node 'mystery' (op onnx:MyCustomOp): no implementation for this op"


def test_nodes_without_a_recorded_op_are_built_from_their_kind() -> None:
    """A node a fix inserts has no recorded op: its kind and attributes build it."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    graph = capture(model, Example((x,)), "small")
    for n in graph.nodes:
        if n.kind.value in ("conv", "activation", "global_pool", "flatten", "dense"):
            n.impl = None
    em = to_module(graph)
    assert em(x).shape == (2, 2)
    assert sum(p.numel() for p in em.parameters()) == sum(p.numel() for p in model.parameters())
