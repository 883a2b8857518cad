"""Bad PyTorch inputs: exit 2, one stderr line naming the target and the problem."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's archlint, whatever the cwd
    return subprocess.run(
        [sys.executable, "-m", "archlint.cli", "check", *args],
        capture_output=True, text=True, timeout=180, cwd=cwd, env=env,
    )


def assert_one_line_error(r: subprocess.CompletedProcess, target: str, *needles: str) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    line = lines[0]
    assert target in line
    for n in needles:
        assert n in line, line
    return line


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    (d / "noimport.py").write_text("import archlint_no_such_package_xyz\n")
    (d / "raises.py").write_text("def make():\n    raise RuntimeError('boom in factory')\n")
    (d / "notmodule.py").write_text("def make():\n    return 42\n")
    (d / "untraceable.py").write_text(
        "from torch import nn\n\nclass Pair(nn.Module):\n    def forward(self, x, y):\n        return x @ y\n\n"
        "def make():\n    return Pair()\n"
    )
    # corrupt .pt2 inputs
    (d / "notzip.pt2").write_bytes(b"this is not a zip archive")
    with zipfile.ZipFile(d / "nojson.pt2", "w") as zf:
        zf.writestr("m/data/weights/weight_0", b"\0" * 16)
    with zipfile.ZipFile(d / "badjson.pt2", "w") as zf:
        zf.writestr("m/models/model.json", "{not json")
    with zipfile.ZipFile(d / "wrongjson.pt2", "w") as zf:
        zf.writestr("m/models/model.json", json.dumps({"graph_module": {"graph": {"nodes": [{"inputs": 5}]}}}))
    return d


BAD_SPECS = [
    ("noimport.py:make", ("module failed to import", "archlint_no_such_package_xyz")),
    ("raises.py:make", ("raised RuntimeError", "boom in factory")),
    ("notmodule.py:make", ("returned a int", "not a torch.nn.Module")),
    ("untraceable.py:make", ("failed to trace", "--input-shape")),
    ("raises.py:missing", ("has no attribute 'missing'",)),
]


def test_bad_factory_specs(bad: Path) -> None:
    """One run (torch imports once): each bad spec gives exactly one stderr line."""
    pytest.importorskip("torch")
    targets = [str(bad / spec) for spec, _ in BAD_SPECS] + ["noimport:make"]  # dotted: the cwd is on sys.path
    r = run_cli(*targets, cwd=bad)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == len(targets), r.stderr
    needles = [n for _, n in BAD_SPECS] + [("module failed to import",)]
    for target, line, want in zip(targets, lines, needles, strict=True):
        assert line.startswith(f"archlint: error: {target}: "), line
        for n in want:
            assert n in line, line


@pytest.mark.parametrize(
    "name, needles",
    [
        ("notzip.pt2", ("not a zip file",)),
        ("nojson.pt2", ("models/model.json",)),
        ("badjson.pt2", ("exported graph JSON is not valid JSON", "line 1 column")),
        ("wrongjson.pt2", ("unexpected exported graph layout",)),
    ],
)
def test_bad_pt2(bad: Path, name: str, needles: tuple[str, ...]) -> None:
    target = str(bad / name)
    assert_one_line_error(run_cli(target), target, *needles)


def test_state_dict_is_weights_not_architecture(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    p = tmp_path / "weights.pt"
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), p)
    assert_one_line_error(run_cli(str(p)), str(p), "holds weights", "not an architecture")
    legacy = tmp_path / "weights_legacy.pth"  # several pickles, then raw storage bytes
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert_one_line_error(run_cli(str(legacy)), str(legacy), "holds weights", "not an architecture")


def test_pickled_module_needs_trust(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    p = tmp_path / "whole.pth"
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.Conv2d(4, 4, 3))
    torch.save(model, p)
    line = assert_one_line_error(run_cli(str(p)), str(p), "runs code from the file", "--trust")
    assert "torch.nn.modules" in line
    legacy = tmp_path / "whole_legacy.pth"
    torch.save(model, legacy, _use_new_zipfile_serialization=False)
    assert_one_line_error(run_cli(str(legacy)), str(legacy), "runs code from the file", "--trust")
    r = run_cli(str(p), "--trust", "--select", "AL001", "--format", "json")
    assert r.returncode == 1, r.stderr
    found = json.loads(r.stdout)
    assert [(f["code"], f["layer"]) for f in found["findings"]] == [("AL001", "1")]


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


def test_malicious_pickle_is_not_run_without_trust(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    p = tmp_path / "evil.pt"
    buf = io.BytesIO()
    pickle.dump({"model": _Evil(str(marker))}, buf, protocol=2)
    with zipfile.ZipFile(p, "w") as zf:  # the torch.save layout: <name>/data.pkl
        zf.writestr("evil/data.pkl", buf.getvalue())
    raw = tmp_path / "evil_raw.pth"
    raw.write_bytes(buf.getvalue())  # the legacy (non-zip) torch.save layout
    for target in (p, raw):
        line = assert_one_line_error(run_cli(str(target)), str(target), "--trust")
        assert "builtins.open" in line or "__builtin__.open" in line or "io.open" in line
    assert not marker.exists()


def test_pt2_check_imports_no_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from tests.core.test_imports import probe
    from tests.zoo.spec import table
    from tests.zoo.torch_build import to_module

    model = to_module(table()["article_dropout03_before_act_gap"][0]).train()
    p = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),), strict=False), str(p))
    out = probe(p)
    assert "HEAVY []" in out
    assert "EXIT 1" in out  # findings were found: the graph was really read


def test_trace_failure_is_short_with_the_hint_first_and_details_under_verbose(bad: Path) -> None:
    """A model that fails to trace: one short line, the hint before anything else; the backends'
    errors (torch.export, fx, in train and eval mode) only with --verbose."""
    pytest.importorskip("torch")
    target = str(bad / "untraceable.py:make")
    r = run_cli(target, cwd=bad)
    line = assert_one_line_error(r, target, "failed to trace: pass the input the model expects: --input-shape",
                                 "--verbose shows the")
    problem = line.split(f"{target}: ", 1)[1]
    assert problem.startswith("failed to trace: pass the input")
    assert len(line) < 400, len(line)  # was 966 characters with four backend errors first
    assert "missing" not in problem and "forward()" not in problem  # no backend text in the short line
    v = run_cli(target, "--verbose", cwd=bad)
    assert v.returncode == 2
    backend = [ln for ln in v.stderr.splitlines() if ln.startswith("  backend error: ")]
    assert backend and any("y" in ln for ln in backend), v.stderr
    assert v.stderr.index("failed to trace") < v.stderr.index("  backend error: ")
