"""Honest loading of PyTorch factories (issue 21): mixed-device builds rebuilt on the CPU, unique
input names, stdout kept for the report, hints that name the cause without tensor values, -v
tracebacks, layer drop turned off with a note, a module run twice reported once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from archlint.api import check_graph  # noqa: E402
from archlint.config import Config  # noqa: E402
from archlint.errors import LoadError  # noqa: E402
from archlint.frontends import LoadOptions, load_graph  # noqa: E402
from archlint.graph import OpKind  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

MODELS = '''
import torch
from torch import nn


class Mixed(nn.Module):
    """A parameter made with the legacy constructor first: it ignores the default (meta) device."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.Tensor(8))
        nn.init.ones_(self.scale)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x * self.scale)


class Optional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x, mask=None, bias=None):
        return self.fc(x)


def optional():
    return Optional(), (torch.randn(2, 8),), {"mask": None, "bias": None}


class Chatty(nn.Module):
    def __init__(self):
        super().__init__()
        print("building Chatty")
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        print("forward of Chatty")
        return self.fc(x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            raise ValueError(f"unexpected input {x}")
        return self.fc(x)


class LayerDrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(8, 8) for _ in range(4))
        self.layerdrop = 0.5

    def forward(self, x):
        for layer in self.layers:
            if self.training and torch.rand([]) < self.layerdrop:
                continue
            x = torch.relu(layer(x))
        return x


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.Conv2d(8, 8, 3, padding=1))

    def forward(self, x):
        return self.block(self.block(self.stem(x)))
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("honest") / "models.py"
    path.write_text(MODELS)
    return path


def test_a_build_with_tensors_off_the_meta_device_is_rebuilt_on_the_cpu(models: Path) -> None:
    g = load_graph(f"{models}:Mixed")
    assert [n.kind for n in g.nodes if n.kind is OpKind.DENSE] == [OpKind.DENSE]


def test_none_keyword_inputs_get_no_graph_input(models: Path) -> None:
    g = load_graph(f"{models}:optional")
    assert len(g.inputs) == 1
    g.lint()


def test_prints_while_building_go_to_stderr(models: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", f"{models}:Chatty", "--format", "json"],
                       capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(r.stdout)  # valid JSON although the model printed
    assert report["summary"]["errors"] == 0
    assert "building Chatty" in r.stderr and "forward of Chatty" in r.stderr


def test_a_data_dependent_failure_names_its_cause_without_tensor_values(models: Path) -> None:
    with pytest.raises(LoadError) as info:
        load_graph(f"{models}:Branchy", LoadOptions(input_shape=(2, 8)))
    problem = info.value.problem
    assert "data-dependent" in problem
    assert "--input-shape" not in problem.rsplit(";", 1)[-1]  # the hint is not about the input shape
    assert "tensor(" not in problem or "tensor(...)" in problem
    assert info.value.__cause__ is not None  # -v prints the model's own traceback


def test_verbose_shows_the_models_traceback(models: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", f"{models}:Branchy", "--input-shape", "2x8", "-v"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2
    assert "Traceback" in r.stderr and "models.py" in r.stderr


def test_layer_drop_is_turned_off_with_a_note(models: Path) -> None:
    for _ in range(3):  # a random branch would drop a different number of layers each time
        g = load_graph(f"{models}:LayerDrop", LoadOptions(input_shape=(2, 8)))
        assert sum(n.kind is OpKind.DENSE for n in g.nodes) == 4
        assert any("layer drop" in n for n in g.meta["notes"])
        assert g.meta["capture_mode"] == "train"


def test_a_module_run_twice_reports_once(models: Path) -> None:
    g = load_graph(f"{models}:Twice")
    found = check_graph(g, Config(select=["AL001"]))
    assert [(f.code, f.layer) for f in found] == [("AL001", "block.2")]


def test_a_waveform_model_gets_a_waveform() -> None:
    """``forward(input_values)`` (wav2vec 2.0, HuBERT): a (batch, samples) waveform, not an image."""
    import torch
    from torch import nn

    from archlint.frontends.torch import default_example

    class Speech(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 8, 10, stride=5)

        def forward(self, input_values):
            return self.conv(input_values[:, None])

    ex = default_example(torch, Speech())
    assert tuple(ex.kwargs["input_values"].shape) == (2, 16000)
