"""The live-module frontend: specs, --arg, sources, op mapping, fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archlint.api import check_graph, lint_paths  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.errors import LoadError  # noqa: E402
from archlint.frontends import LoadOptions, load_graph  # noqa: E402
from archlint.frontends.torch import from_module, parse_arg  # noqa: E402
from archlint.graph import OpKind  # noqa: E402

NET = '''
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        y = self.drop(torch.relu(self.conv(x)))  # LINE_BLOCK_DROP
        return y + x


class Net(nn.Module):
    def __init__(self, width=8, spatial=False):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.features = nn.Sequential(Block(width), nn.Conv2d(width, width, 3, padding=1))
        self.drop2d = nn.Dropout2d(0.1) if spatial else nn.Identity()
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.dropout(x, 0.3, self.training)  # LINE_F_DROPOUT
        x = self.features(x)
        x = self.drop2d(x)
        x = x.mean(dim=[-2, -1])
        return self.fc(x)


def make(width=8, spatial=False):
    return Net(width, spatial)


def make_class():
    return Net
'''


@pytest.fixture(scope="module")
def net_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("nets") / "usernet.py"
    p.write_text(NET)
    return p


def _line(path: Path, tag: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if tag in ln)


def test_parse_arg() -> None:
    assert parse_arg("3") == (None, 3)
    assert parse_arg("width=0.5") == ("width", 0.5)
    assert parse_arg("flag=True") == ("flag", True)
    assert parse_arg("x=None") == ("x", None)
    assert parse_arg("name=resnet") == ("name", "resnet")
    assert parse_arg("a=b=c") == ("a", "b=c")


def test_file_spec_layers_and_sources(net_file: Path) -> None:
    g = load_graph(f"{net_file}:make", LoadOptions(args=["width=16"], input_shape=(2, 3, 16, 16)))
    g.lint()
    by_layer = {n.layer: n for n in g.nodes}
    assert by_layer["stem"].attrs["channels"] == 16 and by_layer["stem"].attrs["bias"] is False
    assert by_layer["stem"].params == 16 * 3 * 9
    assert by_layer["features.0.conv"].kind is OpKind.CONV
    assert by_layer["features.0.drop"].kind is OpKind.DROPOUT
    assert by_layer["features.1"].output.shape == (2, 16, 16, 16)
    assert by_layer["fc"].attrs["units"] == 10
    gp = [n for n in g.nodes if n.kind is OpKind.GLOBAL_POOL]
    assert len(gp) == 1 and gp[0].output.shape == (2, 16)
    findings = check_graph(g, Config(select=["AL001"]))
    src = {f.layer: f.source for f in findings}
    # the functional dropout in Net.forward and the module dropout in Block.forward
    assert src["features.0.drop"].file == str(net_file)
    assert src["features.0.drop"].line == _line(net_file, "LINE_BLOCK_DROP")
    f_drop = [f for f in findings if f.layer not in ("features.0.drop",)]
    assert len(f_drop) == 1 and f_drop[0].source.line == _line(net_file, "LINE_F_DROPOUT")
    assert "notes" not in g.meta  # the input shape was given


def test_class_returned_is_instantiated_and_spatial_dropout(net_file: Path) -> None:
    g = load_graph(f"{net_file}:make_class", LoadOptions())
    assert any(n.kind is OpKind.CONV for n in g.nodes)
    assert g.meta["notes"] == ["assumed input shape 2x3x32x32 (pass --input-shape or --input NAME=SHAPE[:DTYPE] to set it)"]
    g2 = load_graph(f"{net_file}:make", LoadOptions(args=["spatial=True"]))
    d2 = [n for n in g2.nodes if n.layer == "drop2d"]
    assert d2 and d2[0].kind is OpKind.DROPOUT and d2[0].attrs["spatial"] is True


def test_assumed_shape_note_reaches_text_output(net_file: Path) -> None:
    import io

    from archlint.reporters import emit

    result = lint_paths([f"{net_file}:Net"], Config(select=["AL001"]))
    buf = io.StringIO()
    emit("text", result, buf, color=False)
    assert "note: assumed input shape 2x3x32x32" in buf.getvalue()


def test_modules_and_functional_forms_map_alike() -> None:
    from torch import nn

    class Mods(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.act = nn.ReLU6()
            self.drop = nn.Dropout(0.2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.flat = nn.Flatten()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.fc(self.flat(self.gap(self.drop(self.act(self.bn(self.conv(x)))))))

    class Funcs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):  # noqa: ANN001, ANN202
            x = torch.nn.functional.relu6(self.bn(self.conv(x)))
            x = torch.nn.functional.dropout(x, 0.2, self.training)
            x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
            return self.fc(x.view(x.size(0), -1))

    a = from_module(Mods(), (1, 3, 8, 8))
    b = from_module(Funcs(), (1, 3, 8, 8))
    assert a.kinds() == b.kinds() == [
        OpKind.CONV, OpKind.BATCH_NORM, OpKind.ACTIVATION, OpKind.DROPOUT,
        OpKind.GLOBAL_POOL, OpKind.FLATTEN, OpKind.DENSE,
    ]
    acts = [n.attrs["activation"] for n in a.nodes if n.kind is OpKind.ACTIVATION]
    assert acts == ["relu6"]
    assert a.total_params == b.total_params == (4 * 27 + 4) + 8 + (8 + 2)


def test_fx_fallback_when_export_fails() -> None:
    from torch import nn

    class NoExport(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3)
            self.drop = nn.Dropout(0.5)
            self.conv2 = nn.Conv2d(4, 4, 3)

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.conv2(self.drop(self.conv1(x)))

    import torch.export as te

    real = te.export

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("export unsupported here")

    te.export = broken
    try:
        g = from_module(NoExport(), (1, 3, 8, 8))
    finally:
        te.export = real
    assert g.meta["capture"] == "torch.fx"
    assert g.kinds() == [OpKind.CONV, OpKind.DROPOUT, OpKind.CONV]
    assert [(f.code, f.layer) for f in check_graph(g, Config(select=["AL001"]))] == [("AL001", "drop")]


def test_untraceable_module_names_input_shape() -> None:
    from torch import nn

    with pytest.raises(LoadError, match="failed to trace.*--input-shape"):
        from_module(nn.Linear(10, 2), (1, 3, 32, 32), spec="m.py:make")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace is deprecated upstream
@pytest.mark.parametrize("row", ["residual", "article_dropout03_after_pool_dense", "article_bn_after_act_gap"])
def test_torchscript_traced_matches_live(row: str, tmp_path: Path) -> None:
    import warnings

    from tests.zoo.spec import table
    from tests.zoo.torch_build import to_module

    layers, expected = table()[row]
    model = to_module(layers).train()
    p = tmp_path / f"{row}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(model, torch.randn(1, 3, 32, 32), check_trace=False).save(str(p))
    ts = load_graph(str(p), LoadOptions(trust=True))  # torch.jit.load runs archive code: --trust only
    ts.lint()
    live = from_module(model, (1, 3, 32, 32))
    assert ts.format == "torchscript"
    assert ts.kinds() == live.kinds()
    assert [n.layer for n in ts.nodes[1:-1]] == [n.layer for n in live.nodes[1:-1]]
    assert ts.total_params == live.total_params
    got = {(f.code, f.layer) for f in check_graph(ts, Config(select=["AL001", "AL002", "AL003"]))}
    assert got == set(expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_scripted_sequential(tmp_path: Path) -> None:
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout(0.3), nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    p = tmp_path / "seq.ts"
    torch.jit.script(model).save(str(p))
    g = load_graph(str(p), LoadOptions(trust=True))
    g.lint()
    assert g.kinds() == [
        OpKind.CONV, OpKind.ACTIVATION, OpKind.DROPOUT, OpKind.CONV, OpKind.BATCH_NORM,
        OpKind.ACTIVATION, OpKind.GLOBAL_POOL, OpKind.FLATTEN, OpKind.DENSE,
    ]
    assert [(f.code, f.layer) for f in check_graph(g, Config(select=["AL001"]))] == [("AL001", "2")]
    assert g.total_params == from_module(model, (1, 3, 32, 32)).total_params


def test_layer_families_map_to_kinds() -> None:
    spec = f"{Path(__file__).parent / 'torch_many_ops.py'}:make"
    g = load_graph(spec, LoadOptions(input_shape=(1, 3, 32, 32)))  # the model reshapes to batch 1
    g.lint()
    n = {x.layer: x for x in g.nodes if x.kind not in (OpKind.INPUT, OpKind.OUTPUT)}
    want = {
        "c1": (OpKind.CONV, {"rank": 1, "channels": 4}),
        "ln": (OpKind.LAYER_NORM, {"norm": "layer"}),
        "gn": (OpKind.NORM, {"norm": "group"}),
        "inorm": (OpKind.NORM, {"norm": "instance"}),
        "prelu": (OpKind.ACTIVATION, {"activation": "prelu", "params": 1}),
        "d1": (OpKind.DROPOUT, {"spatial": True, "rate": 0.1}),
        "gelu": (OpKind.ACTIVATION, {"activation": "gelu"}),
        "silu": (OpKind.ACTIVATION, {"activation": "swish"}),
        "hs": (OpKind.ACTIVATION, {"activation": "hard_swish"}),
        "mish": (OpKind.ACTIVATION, {"activation": "mish"}),
        "elu": (OpKind.ACTIVATION, {"activation": "elu"}),
        "lrelu": (OpKind.ACTIVATION, {"activation": "leaky_relu"}),
        "sig": (OpKind.ACTIVATION, {"activation": "sigmoid"}),
        "tanh": (OpKind.ACTIVATION, {"activation": "tanh"}),
        "ad": (OpKind.DROPOUT, {"spatial": False, "flavour": "alpha"}),
        "fad": (OpKind.DROPOUT, {"spatial": True}),
        "mul": (OpKind.MUL, {}),
        "cat": (OpKind.CONCAT, {"axis": 1}),
        "add_": (OpKind.ADD, {}),
        "avg": (OpKind.POOL, {"pool": "avg", "kernel": (2, 2), "stride": (2, 2)}),
        "ct": (OpKind.CONV, {"transposed": True, "channels": 4, "in_channels": 12, "params": 12 * 4 * 4 + 4}),
        "amax": (OpKind.GLOBAL_POOL, {"pool": "max"}),
        "reshape": (OpKind.FLATTEN, {}),
        "c3": (OpKind.CONV, {"rank": 3}),
        "d3": (OpKind.DROPOUT, {"spatial": True}),
        "bn3": (OpKind.BATCH_NORM, {"channels": 2, "training_mode": True}),
    }
    for layer, (kind, attrs) in want.items():
        assert n[layer].kind is kind, (layer, n[layer])
        for k, v in attrs.items():
            assert n[layer].attrs.get(k) == v, (layer, k, n[layer].attrs)
    assert n["ct"].output.shape == (1, 4, 32, 32)


def test_user_frame_skips_library_frames() -> None:
    from archlint.frontends._aten import user_frame

    trace = (
        'File "/home/u/proj/torch/model.py", line 12, in forward\n    x = self.block(x)\n'
        'File "/home/u/proj/torch/blocks.py", line 40, in forward\n    return self.drop(x)\n'
        'File "/usr/lib/python3.11/site-packages/torch/nn/modules/dropout.py", line 73, in forward\n'
        'File "/src/pytorch/torch/nn/functional.py", line 1491, in dropout\n'
        'File "/src/pytorch/torch/_ops.py", line 875, in __call__\n'
    )
    loc = user_frame(trace)
    assert loc is not None and (loc.file, loc.line) == ("/home/u/proj/torch/blocks.py", 40)
    assert user_frame('File "/usr/lib/python3.11/site-packages/torch/nn/modules/conv.py", line 5, in f') is None
    assert user_frame(None) is None


def test_assumed_input_shape_note_reaches_json(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    f = tmp_path / "tiny.py"
    f.write_text("import torch.nn as nn\n\ndef make():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", f"{f}:make", "--format", "json"],
                       capture_output=True, text=True, timeout=300)
    notes = json.loads(r.stdout)["files"][0]["notes"]
    assert any("assumed input shape 2x3x32x32" in n for n in notes), notes
