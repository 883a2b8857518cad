"""AL900: say when an export hides the layers AL001/AL002 need."""

from __future__ import annotations

import inspect
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from archlint import lint
from archlint.config import Config
from archlint.frontends import load_graph

ALL = Config(select=["AL001", "AL002", "AL003", "AL900"])


def _save(tmp_path: Path, nodes, inits, producer: str = "pytorch") -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    m = helper.make_model(g, producer_name=producer, opset_imports=[helper.make_opsetid("", 17)])
    p = tmp_path / "m.onnx"
    onnx.save(m, str(p))
    return p


def _w(name: str, dims: list[int]):
    return helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * (1 if not dims else __import__("math").prod(dims)))


def _conv(name: str, x: str, cin: int, cout: int, weight: str | None = None, **meta) -> tuple:
    weight = weight or f"{name}.weight"
    n = helper.make_node("Conv", [x, weight], [f"{name}:0"], name=name, kernel_shape=[3, 3], pads=[1] * 4)
    for k, v in meta.items():
        p = n.metadata_props.add()
        p.key, p.value = k, v
    return n, _w(weight, [cout, cin, 3, 3])


def test_folded_bn_metadata_is_certain(tmp_path: Path) -> None:
    c1, w1 = _conv(
        "node_Conv_13", "x", 3, 8, "conv1.weight",
        **{
            "pkg.onnxscript.rewriter.rule_name": "FuseBatchNormIntoConv",
            "pkg.torch.onnx.name_scopes": "['', 'bn1', '_native_batch_norm_legit_functional']",
        },
    )
    r = helper.make_node("Relu", [c1.output[0]], ["r"], name="node_relu")
    c2, w2 = _conv("node_conv2d_1", "r", 8, 8, **{"pkg.torch.onnx.name_scopes": "['', 'conv2', 'conv2d_1']"})
    p = _save(tmp_path, [c1, r, c2], [w1, w2])
    found = lint(p, ALL)
    al900 = [f for f in found if f.code == "AL900"]
    assert len(al900) == 2  # BN folded (certain), dropout unknown (no Dropout node)
    bn = next(f for f in al900 if f.data["hidden"] == "bn-folded")
    assert bn.data["certain"] is True and bn.data["layers"] == ["bn1"]
    assert "FuseBatchNormIntoConv" in bn.message and "AL002 cannot see them" in bn.message
    drop = next(f for f in al900 if f.data["hidden"] == "dropout-removed")
    assert drop.data["certain"] is False and "eval-mode" in drop.message
    assert "dynamo=True, optimize=False" in bn.fix and "TrainingMode" not in bn.fix
    # layer names come from the exporter's name scopes; a conv with a folded BN
    # is named after its own weight (the BN is named in the AL900 note)
    assert [n.layer for n in load_graph(p).nodes if n.op_type == "Conv"] == ["conv1", "conv2"]


def test_dropout_exported_as_identity(tmp_path: Path) -> None:
    c1, w1 = _conv("/conv1/Conv", "x", 3, 8)
    ident = helper.make_node("Identity", [c1.output[0]], ["d"], name="/dropout/Identity")
    c2, w2 = _conv("/conv2/Conv", "d", 8, 8)
    p = _save(tmp_path, [c1, ident, c2], [w1, w2], producer="other")
    al900 = [f for f in lint(p, ALL) if f.code == "AL900"]
    assert len(al900) == 1
    assert al900[0].data == {"hidden": "dropout-removed", "layers": ["dropout"], "certain": True, "rules": ["AL001"]}


def test_non_torch_producer_without_dropout_is_quiet(tmp_path: Path) -> None:
    c1, w1 = _conv("conv1", "x", 3, 8)
    c2, w2 = _conv("conv2", "conv1:0", 8, 8)
    p = _save(tmp_path, [c1, c2], [w1, w2], producer="keras2onnx")
    assert lint(p, ALL) == []


torch = pytest.importorskip("torch")
nn = torch.nn


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.3)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.drop(x)  # DROPOUT-LINE
        x = self.conv2(x)
        return self.fc(torch.flatten(self.pool(x), 1))


DROPOUT_LINE = next(i for i, ln in enumerate(inspect.getsource(inspect.getmodule(SmallNet)).splitlines(), 1) if "# DROPOUT-LINE" in ln)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import warnings

    d = tmp_path_factory.mktemp("exports")
    x = (torch.randn(1, 3, 16, 16),)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = SmallNet().train()
        prog = torch.onnx.export(m, x, dynamo=True, verbose=False)
        prog.save(str(d / "dynamo_train.onnx"))
        out["dynamo_train"] = d / "dynamo_train.onnx"
        torch.onnx.export(m, x, str(d / "legacy_train.onnx"), dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        out["legacy_train"] = d / "legacy_train.onnx"
        torch.onnx.export(SmallNet().eval(), x, str(d / "legacy_eval.onnx"), dynamo=False)
        out["legacy_eval"] = d / "legacy_eval.onnx"
    # AL900's own fix, with torch's deprecation warnings as errors (the advice must not use deprecated options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)  # torch's own internals (pytree LeafSpec)
        torch.onnx.export(SmallNet().train(), x, str(d / "fix_advice.onnx"), dynamo=True, optimize=False)
    out["fix_advice"] = d / "fix_advice.onnx"
    return out


def test_dynamo_training_export_folds_bn_but_keeps_dropout(exports: dict[str, Path]) -> None:
    found = lint(exports["dynamo_train"], ALL)
    codes = sorted(f.code for f in found)
    assert codes == ["AL001", "AL900"]
    al001 = next(f for f in found if f.code == "AL001")
    assert al001.layer == "drop"
    assert al001.source is not None and al001.source.file == __file__ and al001.source.line == DROPOUT_LINE
    al900 = next(f for f in found if f.code == "AL900")
    assert al900.data["hidden"] == "bn-folded" and al900.data["layers"] == ["bn1"]


def test_legacy_preserve_export_shows_everything(exports: dict[str, Path]) -> None:
    found = lint(exports["legacy_train"], ALL)
    assert [(f.code, f.layer) for f in found] == [("AL001", "drop")]
    g = load_graph(exports["legacy_train"])
    assert [n.layer for n in g.nodes if n.op_type in ("Conv", "BatchNormalization", "Dropout")] == ["conv1", "bn1", "drop", "conv2"]


def test_al900_fix_advice_export_shows_everything(exports: dict[str, Path]) -> None:
    """The export AL900's fix names (no deprecated option in torch 2.13) keeps BN and Dropout: AL900 is silent."""
    from archlint.rules.al900_export_hides_layers import FIX

    assert "torch.onnx.export(model.train(), (x,), 'm.onnx', dynamo=True, optimize=False)" in FIX
    found = lint(exports["fix_advice"], ALL)
    assert [(f.code, f.layer) for f in found] == [("AL001", "drop")]
    g = load_graph(exports["fix_advice"])
    assert [n.kind.name for n in g.nodes if n.op_type in ("Conv", "BatchNormalization", "Dropout")] == [
        "CONV", "BATCH_NORM", "DROPOUT", "CONV"]


def test_legacy_eval_export_says_what_it_cannot_see(exports: dict[str, Path]) -> None:
    found = lint(exports["legacy_eval"], ALL)
    assert [f.code for f in found] == ["AL900", "AL900"]
    assert {f.data["hidden"] for f in found} == {"dropout-removed", "bn-folded"}
    assert all(f.data["certain"] is False for f in found)
