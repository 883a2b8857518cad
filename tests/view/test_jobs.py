"""``--jobs N``: files linted in worker processes give the same report, in the
same order, with the same exit code as a serial run."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

from archlint.api import PARALLEL_MIN_FILES, lint_paths
from tests.view._models import ROOT


def _corpus(tmp: Path) -> Path:
    src = sorted((ROOT / "fixtures" / "onnx").glob("article_*.onnx"))[:12]
    d = tmp / "models"
    d.mkdir()
    for p in src:
        shutil.copy(p, d / p.name)
    (d / "broken.onnx").write_bytes(b"\x08\x07 not onnx")
    return d


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlint.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_parallel_run_equals_serial_run(tmp_path: Path) -> None:
    d = _corpus(tmp_path)
    assert len(list(d.iterdir())) >= PARALLEL_MIN_FILES  # big enough to use workers
    serial = _cli("check", str(d), "--format", "json", "--jobs", "1")
    parallel = _cli("check", str(d), "--format", "json", "--jobs", "2")
    assert serial.returncode == parallel.returncode == 2  # the broken file
    assert parallel.stdout == serial.stdout and parallel.stderr == serial.stderr
    assert "broken.onnx" in serial.stderr and '"findings": 16' in serial.stdout


def test_parallel_lint_paths_keeps_order_and_views(tmp_path: Path) -> None:
    d = _corpus(tmp_path)
    a = lint_paths([str(d)], jobs=1, keep_views=True)
    b = lint_paths([str(d)], jobs=2, keep_views=True)
    assert [r.path for r in a.files] == [r.path for r in b.files] == sorted(str(p) for p in d.iterdir())
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]
    assert [r.view for r in a.files] == [r.view for r in b.files]
    assert [r.error for r in a.files] == [r.error for r in b.files]


def test_jobs_must_be_positive() -> None:
    r = _cli("check", "fixtures/onnx/article_dropout03_before_act_dense.onnx", "--jobs", "0")
    assert r.returncode == 2 and r.stderr == "archlint: error: --jobs 0: give 1 or more processes\n"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_several_files() -> None:
    from archlint.cli import _Progress

    tty = _Tty()
    with _Progress(tty) as p:
        for i in range(1, 7):
            p(i, 6, f"m{i}.onnx")
    out = tty.getvalue()
    assert "[###############---------------] 3/6 m3.onnx" in out and out.endswith("\r\x1b[2K")
    few = _Tty()
    with _Progress(few) as p:
        p(1, 2, "a.onnx")
    assert few.getvalue() == ""
    pipe = io.StringIO()
    with _Progress(pipe) as p:
        p(3, 6, "m3.onnx")
    assert pipe.getvalue() == ""


def test_workers_start_from_a_fresh_server_when_a_framework_is_loaded(tmp_path: Path, monkeypatch) -> None:
    """With a thread running (the ONNX prefetch) or torch imported, forking this
    process is unsafe: the workers come from the forkserver instead."""
    import threading

    d = _corpus(tmp_path)
    serial = lint_paths([str(d)], jobs=1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    seen = []
    import multiprocessing

    orig = multiprocessing.get_context

    def spy(method=None):
        seen.append(method)
        return orig(method)

    monkeypatch.setattr(multiprocessing, "get_context", spy)
    try:
        par = lint_paths([str(d)], jobs=2)
    finally:
        stop.set()
    assert seen == ["forkserver"]
    assert [f.to_dict() for f in par.findings] == [f.to_dict() for f in serial.findings]
