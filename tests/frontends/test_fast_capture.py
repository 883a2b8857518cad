"""The cheap capture (torch.fx + meta-device shapes) gives the graph torch.export gives:
same nodes, kinds, op types, layer names, node names, source lines, attributes, edges and
shapes, model by model; anything it cannot write out like export falls back to export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archlint.frontends.torch import Example, capture, default_example  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _key(g) -> list[tuple]:
    return [
        (n.kind, n.op_type, n.layer, n.name, n.source, sorted((k, repr(v)) for k, v in n.attrs.items()),
         [v.name for v in n.inputs], n.outputs[0].shape if n.outputs else None)
        for n in g.nodes
    ]


def _both(model, example: Example):
    fast = capture(model, example, "m")
    slow = capture(model, example, "m", fast=False)
    return fast, slow


def _load(path: Path, attr: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_fc_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, attr)


def _tv(name: str):
    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    tvm = pytest.importorskip("torchvision.models")
    return getattr(tvm, name)


CASES = {
    # plain torch, with a source file of its own: source lines are compared too
    "resnet50_factory": lambda: _load(ROOT / "benchmarks" / "resnet50_factory.py", "make_model"),
    "resnet18": lambda: _tv("resnet18"),  # BasicBlock: `out += identity` is add_ in both
    "mobilenet_v2": lambda: _tv("mobilenet_v2"),  # ReLU6, depthwise convs, classifier dropout
    "googlenet": lambda: _tv("googlenet"),  # namedtuple outputs with the auxiliary heads in training mode
    "squeezenet1_0": lambda: _tv("squeezenet1_0"),  # torch.cat, head dropout before a 1x1 conv
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cheap_capture_gives_the_export_graph(case: str) -> None:
    factory = CASES[case]()
    with torch.device("meta"):
        model = factory()
    ex = default_example(torch, model, factory)
    fast, slow = _both(model, ex)
    assert fast.meta["capture"] == "torch.fx" and slow.meta["capture"] == "torch.export"
    assert _key(fast) == _key(slow)
    assert fast.total_params == slow.total_params > 0
    if case == "resnet50_factory":
        assert sum(1 for n in fast.nodes if n.source is not None) == len(fast.nodes) - 2  # all but input/output


def test_user_net_with_functional_ops_and_real_weights() -> None:
    """Functional dropout and relu, channel dropout, mean pooling, a module
    reused, real (CPU) weights: the same graph and source lines both ways."""
    from tests.frontends.test_torch import NET

    path = Path(__file__).with_name("_fast_capture_net.py")
    path.write_text(NET)
    try:
        Net = _load(path, "Net")
        model = Net(8, spatial=True)
        fast, slow = _both(model, Example((torch.randn(2, 3, 16, 16),)))
    finally:
        path.unlink()
    assert fast.meta["capture"] == "torch.fx"
    assert _key(fast) == _key(slow)
    assert {n.source.file for n in fast.nodes if n.source} == {str(path)}


def test_what_it_cannot_write_falls_back_to_export() -> None:
    from torch import nn

    class Branchy(nn.Module):  # data-dependent control flow: no symbolic trace
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            y = self.conv(x)
            if y.shape[-1] > 4:
                y = torch.relu(y)
            return y

    class Lstm(nn.Module):  # a module outside the table
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 4, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0]

    for model, x in ((Branchy(), torch.randn(2, 3, 8, 8)), (Lstm(), torch.randn(2, 5, 8))):
        g = capture(model, Example((x,)), "m")
        assert g.meta["capture"] == "torch.export", type(model).__name__


def test_cheap_capture_does_not_import_dynamo() -> None:
    """The point of it: `archlint check` of a plain-torch factory never imports torch._dynamo."""
    code = (
        "import sys\n"
        "from archlint.frontends import LoadOptions, load_graph\n"
        "g = load_graph('benchmarks/resnet50_factory.py:make_model', LoadOptions(input_shape=(1, 3, 224, 224)))\n"
        "print(g.meta['capture'], len(g), 'torch._dynamo' in sys.modules)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["torch.fx", "177", "False"]
