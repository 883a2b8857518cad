"""Round two, code execution: a TorchScript archive whose ``__setstate__``
creates a file, and names in a repository that look like factory specs.
Nothing from the file or the repository may run without ``--trust``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security._util import ROOT, assert_one_clear_error, run_cli

#: builds a scripted module whose __setstate__ calls torch.from_file(path, shared=True),
#: which creates the file at `path`: torch.jit.load runs it (the attack of issue 11)
_EVIL_TS = r'''
import sys, torch
from torch import nn

class Evil(nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.n = 0

    def forward(self, x):
        return torch.relu(x) + self.n

    @torch.jit.export
    def __getstate__(self):
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]):
        self.path = state[0]
        self.training = state[1]
        self.n = torch.from_file(self.path, shared=True, size=16).numel()

torch.jit.script(Evil(sys.argv[2])).save(sys.argv[1])
'''


def _evil_torchscript(tmp_path: Path, marker: Path, name: str = "evil.pt") -> Path:
    pytest.importorskip("torch")
    model = tmp_path / name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = tmp_path / "make_evil_ts.py"  # torch.jit.script reads the class's source file
    script.write_text(_EVIL_TS)
    subprocess.run([sys.executable, str(script), str(model), str(marker)], check=True, env=env, timeout=120)
    script.unlink()
    assert model.is_file() and not marker.exists()
    return model


def test_torchscript_setstate_never_runs_without_trust(tmp_path: Path) -> None:
    marker = tmp_path / "conftest.py"
    model = _evil_torchscript(tmp_path, marker)
    for name in ("evil.pt", "evil.pth", "evil.ts"):
        target = model.with_name(name)
        if target != model:
            target.write_bytes(model.read_bytes())
        for fmt in ("text", "json", "github"):
            r = run_cli("check", target, "--format", fmt)
            assert_one_clear_error(r, "TorchScript archive", "refuses", "--trust")
            assert not marker.exists()
    # a folder scan reaches the same refusal
    r = run_cli("check", tmp_path)
    assert r.returncode == 2 and r.stderr.count("TorchScript archive") == 3
    assert not marker.exists()


def test_torchscript_with_trust_is_loaded(tmp_path: Path) -> None:
    """--trust is the user's word: the archive is loaded (and, here, its __setstate__ runs)."""
    marker = tmp_path / "made.bin"
    model = _evil_torchscript(tmp_path, marker)
    r = run_cli("check", model, "--trust", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert marker.exists()


def test_typescript_ts_files_are_not_torchscript(tmp_path: Path) -> None:
    (tmp_path / "app.ts").write_text("export const x: number = 1;\n")
    (tmp_path / "model.onnx").write_bytes((ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx").read_bytes())
    r = run_cli("check", tmp_path, "--format", "json")
    assert r.returncode == 1, r.stderr  # findings of model.onnx; app.ts is skipped, not an error
    assert "app.ts" not in r.stdout + r.stderr
    r = run_cli("check", tmp_path / "app.ts")
    assert_one_clear_error(r, "not a TorchScript archive", "TypeScript")


# ------------------------------------------------------------------ factory specs
_MARKER_MODULE = "import pathlib\npathlib.Path(__file__).with_name('IMPORTED').write_text('x')\nnet = None\n"


def _repo(tmp_path: Path) -> Path:
    """A checkout holding Python that would leave a marker if imported, and
    links named like factory specs: dangling, self-referencing, and real."""
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "evilmod.py").write_text(_MARKER_MODULE)
    (repo / "models" / "evil.py").write_text(_MARKER_MODULE)
    os.symlink("nowhere.onnx", repo / "evilmod:net.onnx")  # dangling
    os.symlink("evil.py:net.onnx", repo / "models" / "evil.py:net.onnx")  # points at itself
    os.symlink("evil.py", repo / "models" / "evil.py:net.pt2")  # a real link to the Python file
    return repo


def _imported(repo: Path) -> list[Path]:
    return list(repo.rglob("IMPORTED"))


def test_folder_scan_never_imports_spec_lookalikes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    repo = _repo(tmp_path)
    r = run_cli("check", ".", cwd=repo)
    assert r.returncode == 2
    assert not _imported(repo)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 3 and all(ln.startswith("archlint: error: ") for ln in lines), r.stderr


def test_listed_files_are_paths_never_specs(tmp_path: Path) -> None:
    """`git ls-files | xargs archlint check`, shell globs, pre-commit: the names are
    on the command line, but something exists there, so they are files."""
    pytest.importorskip("torch")
    repo = _repo(tmp_path)
    names = ["evilmod:net.onnx", "models/evil.py:net.onnx", "models/evil.py:net.pt2"]
    r = run_cli("check", "--", *names, cwd=repo)
    assert_one_clear_error(r)
    assert len(r.stderr.strip().splitlines()) == 3
    assert not _imported(repo)


def test_spec_with_model_extension_is_refused_with_a_hint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "evilmod.py").write_text(_MARKER_MODULE)
    (repo / "models" / "evil.py").write_text(_MARKER_MODULE)
    for spec in ("evilmod:net.onnx", "models/evil.py:net.onnx", "evilmod:net.keras"):
        r = run_cli("check", spec, cwd=repo)
        assert_one_clear_error(r, "not run as a PyTorch factory spec", "check the path")
        assert not _imported(repo)


def test_spec_typed_by_the_user_still_runs(tmp_path: Path) -> None:
    """The design keeps factory specs: a spec typed on the command line is imported."""
    pytest.importorskip("torch")
    (tmp_path / "good.py").write_text(
        "import pathlib, torch\n"
        "pathlib.Path(__file__).with_name('IMPORTED').write_text('x')\n"
        "def make():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())\n"
    )
    r = run_cli("check", "good.py:make", "--format", "json", cwd=tmp_path, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    assert (tmp_path / "IMPORTED").exists()


def test_pre_commit_hook_ends_options_before_file_names(tmp_path: Path) -> None:
    """pre-commit runs `entry + args + files`: a file named `-ovictim.onnx` must not
    become `-o victim.onnx` (which would overwrite victim.onnx with the report)."""
    import shlex

    import yaml

    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    fixture = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"
    victim = tmp_path / "victim.onnx"
    victim.write_bytes(fixture.read_bytes())
    (tmp_path / "-ovictim.onnx").write_bytes(fixture.read_bytes())
    cmd = [*shlex.split(hook["entry"]), *hook.get("args", []), "-ovictim.onnx", "victim.onnx"]
    assert cmd[:2] == ["archlint", "check"]
    r = subprocess.run([sys.executable, "-m", "archlint.cli", *cmd[1:]], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 1, r.stderr  # both files linted, findings
    assert victim.read_bytes() == fixture.read_bytes()
    assert r.stdout.count("AL001") >= 2 and "-ovictim.onnx" in r.stdout
