"""Round three (issue 17), ``check`` and ``show``: report-time budgets (name scopes, Graphviz,
drawing against --timeout), the bounded .pt opcode scan, capped JSON everywhere, bounded prefetch,
markup-free ``show``, the factory import path, a dead ``--jobs`` worker, large select lists,
netron output on a terminal and plain error texts. Each attack is built in the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.security import hostile, hostile3
from tests.security._util import ROOT, assert_one_clear_error, run_cli
from tests.security.test_resource_limits import run_limited

FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"


# ----------------------------------------------------------------------------------------------
# report-time budgets


def test_html_of_deep_dotted_names_has_bounded_memory(tmp_path: Path) -> None:
    """Six names of 20,000 dotted parts (240 KB): one scope per prefix took 2.4 GB; capped (400
    characters, 24 deep) the report is written under a 1.5 GiB address-space limit."""
    p = tmp_path / "deep.onnx"
    p.write_bytes(hostile3.onnx_deep_names())
    out = tmp_path / "r.html"
    r = run_limited("check", p, "--format", "html", "-o", out)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr and out.stat().st_size < 8 * 2**20
    assert "<!DOCTYPE html>" in out.read_text()[:100]


def test_scope_names_are_capped_in_length_and_depth() -> None:
    from archlint.view import MAX_SCOPE_DEPTH, MAX_SCOPE_NAME, scope_of

    scopes = scope_of(hostile3.deep_dotted_name(50_000))
    assert len(scopes) == MAX_SCOPE_DEPTH and all(len(s) < MAX_SCOPE_NAME for s in scopes)
    assert scope_of("layer1.0.conv1") == ["layer1", "layer1.0"]  # ordinary names unchanged


def test_slow_dot_falls_back_within_its_budget(tmp_path: Path, monkeypatch) -> None:
    """A dot that would take minutes (a dense view) is stopped after its fixed budget and the view
    gets the fallback layout; the other views still get dot."""
    from archlint import layout as L

    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(L, "dot_binary", lambda: str(fake))
    monkeypatch.setattr(L, "DOT_VIEW_S", 0.3)
    t0 = time.monotonic()
    lays = L.layout([(4, [(0, 1), (1, 2), (2, 3)]), (60, [(a, b) for a in range(60) for b in range(a + 1, 60)])])
    assert time.monotonic() - t0 < 3
    assert [lay.engine for lay in lays] == ["fallback", "fallback"]
    real = shutil.which("dot")
    if real:
        monkeypatch.setattr(L, "dot_binary", lambda: real)
        monkeypatch.setattr(L, "DOT_VIEW_S", 2.0)
        runs = L._runs([(4, [(0, 1), (1, 2), (2, 3)]), (60, [(a, b) for a in range(60) for b in range(a + 1, 60)])])
        assert runs == [[0], [1]]  # the dense view alone: if it is slow, only it falls back


def test_html_drawing_counts_against_the_time_budget(monkeypatch) -> None:
    from archlint.api import lint_paths
    from archlint.reporters import html_reporter

    result = lint_paths([str(FIXTURE)], keep_views=True)
    monkeypatch.setattr(html_reporter, "_model_section", lambda *a: time.sleep(30))
    t0 = time.monotonic()
    page = html_reporter.render(result, time_budget=0.5)
    assert time.monotonic() - t0 < 5
    assert "drawing not made: the drawing did not finish in 0.5 s" in page
    assert "AL001" in page  # the findings are still listed

    def boom(*a):
        raise MemoryError

    monkeypatch.setattr(html_reporter, "_model_section", boom)
    assert "needs more memory than there is" in html_reporter.render(result, time_budget=None)


# ----------------------------------------------------------------------------------------------
# loaders: .pt opcode scan, JSON caps, prefetch


def test_pt_of_memoize_opcodes_is_scanned_in_bounded_memory(tmp_path: Path) -> None:
    p = tmp_path / "memo.pt"
    p.write_bytes(hostile3.memoize_pt())  # 40 KB zip: 40 million 1-byte MEMOIZE opcodes
    assert p.stat().st_size < 64 * 1024
    r = run_limited("check", p)
    assert_one_clear_error(r, "pickle opcodes: not scanned further", "archlint refuses it")


def test_pickle_scan_still_names_the_globals() -> None:
    import pickle

    from archlint.frontends.torchscript import pickle_globals

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    for protocol in (2, 4):
        assert "posix.system" in pickle_globals(pickle.dumps(Evil(), protocol=protocol)) or \
            "os.system" in pickle_globals(pickle.dumps(Evil(), protocol=protocol))


def test_h5_training_config_goes_through_the_capped_parser(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    from archlint.frontends._limits import MAX_JSON_CONTAINERS

    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "x"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    p = tmp_path / "bomb.h5"
    with h5py.File(p, "w", libver="latest") as f:
        f.attrs["model_config"] = json.dumps(model)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["training_config"] = "[" + "[]," * (MAX_JSON_CONTAINERS + 10) + "[]]"
    r = run_limited("check", p)
    assert_one_clear_error(r, "training_config", "memory bomb")


def test_prefetch_holds_a_fixed_total(tmp_path: Path, monkeypatch) -> None:
    from archlint.frontends import onnx as O

    monkeypatch.setattr(O, "_PREFETCH", {})
    files = []
    for i in range(3):
        p = tmp_path / f"sparse{i}.onnx"
        with open(p, "wb") as f:
            f.truncate(O.PREFETCH_MAX_BYTES // 2 + 1)  # sparse: no disk used
        files.append(str(p))
    O.prefetch(files)
    assert len(O._PREFETCH) == 1  # the first fits; the next two would pass the total
    for t, _box in O._PREFETCH.values():
        t.join()


# ----------------------------------------------------------------------------------------------
# show, factory import, --jobs, select lists, netron, error texts


def test_show_prints_paths_as_text_never_markup(tmp_path: Path) -> None:
    (tmp_path / "m[").mkdir()
    p = tmp_path / "m[" / "].onnx"
    shutil.copy(FIXTURE, p)
    link = tmp_path / "[link=https:__evil.example]model[_link].onnx"
    shutil.copy(FIXTURE, link)
    for target in (p, link):
        r = run_cli("show", target)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr and f"{target} (onnx)" in r.stdout.replace("\n", "")  # (title wraps)


def test_dotted_spec_never_leaves_the_cwd_on_sys_path(tmp_path: Path, monkeypatch) -> None:
    """An installed spec imports nothing from the cwd (a ``colorsys.py`` there); a spec naming a
    module in the cwd still imports it; either way sys.path is as it was."""
    pytest.importorskip("torch")
    from archlint.frontends import torch as T

    cwd, site = tmp_path / "repo", tmp_path / "site"
    cwd.mkdir()
    (site / "installedpkg").mkdir(parents=True)
    marker = tmp_path / "PWNED"
    (cwd / "colorsys.py").write_text(f"open({str(marker)!r}, 'w')\n")
    (site / "installedpkg" / "__init__.py").write_text("")
    (site / "installedpkg" / "mod.py").write_text("import colorsys\ndef make():\n    return colorsys\n")
    (cwd / "localmod.py").write_text("VALUE = 7\n")
    monkeypatch.chdir(cwd)
    monkeypatch.syspath_prepend(str(site))
    for name in ("colorsys", "installedpkg", "installedpkg.mod", "localmod"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    before = list(sys.path)
    module, attr = T._import_target("installedpkg.mod:make")
    assert attr == "make" and not marker.exists() and sys.path == before
    assert module.colorsys.__file__ != str(cwd / "colorsys.py")
    module, _ = T._import_target("localmod:VALUE")
    assert module.VALUE == 7 and sys.path == before


def test_dead_jobs_worker_reports_only_its_killer(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    d = tmp_path / "models"
    d.mkdir()
    for i in range(12):
        shutil.copy(FIXTURE, d / f"m{i}.onnx")
    (tmp_path / "killer.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nnet = None\n")
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "check", str(d), "killer.py:net", "--jobs", "2",
                        "--format", "json"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("archlint: error: killer.py:net: the worker process"), r.stderr
    doc = json.loads(r.stdout)
    assert sum(f["error"] is None and f["findings"] > 0 for f in doc["files"]) == 12


def test_large_select_lists_are_compiled_once(tmp_path: Path, monkeypatch) -> None:
    from archlint import config as C
    from archlint.api import lint_paths

    calls = []
    real = C._enabled_rules
    monkeypatch.setattr(C, "_enabled_rules", lambda s, i: calls.append(1) or real(s, i))
    conf = C.Config(select=["AL001"] * 200_000, ignore=["AL9"] * 1000)
    for i in range(10):
        shutil.copy(FIXTURE, tmp_path / f"m{i}.onnx")
    t0 = time.monotonic()
    res = lint_paths([str(tmp_path)], conf)
    assert time.monotonic() - t0 < 20
    assert len(calls) == 1
    assert {f.code for f in res.findings} == {"AL001"}
    with pytest.raises(Exception, match="unknown rule code 'XX9'"):
        C.Config(select=["AL001"] * 1000 + ["XX9"]).enabled_rules()


def test_netron_output_escapes_c1_and_bidi(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(FIXTURE))
    for n in m.graph.node:
        n.name = n.name + "\u202e\x9b31m"
    p = tmp_path / "m.onnx"
    onnx.save(m, str(p))
    r = run_cli("check", p, "--format", "netron")
    assert r.returncode in (0, 1), r.stderr
    assert "\u202e" not in r.stdout and "\x9b" not in r.stdout
    doc = json.loads(r.stdout)
    assert any("\u202e\x9b31m" in item["target"] for item in doc["metadata"] if item["kind"] == "node")


def test_malformed_config_errors_are_plain_sentences(tmp_path: Path) -> None:
    cfg = {"class_name": "Functional", "config": {"name": "f", "layers": [
        {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 4], "name": "x"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": ["d"], "config": {"name": "d", "units": 3}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [[["d"], 0, 0]]}}
    p = tmp_path / "m.keras"
    p.write_bytes(hostile.keras_zip(cfg))
    r = run_cli("check", p)
    assert_one_clear_error(r, "malformed Keras model config: a list in it is shorter than the model says")
    assert "IndexError" not in r.stderr


def test_plain_reason_unit() -> None:
    from archlint.errors import plain_reason

    texts = [plain_reason(e) for e in (TypeError("unhashable type: 'list'"), AttributeError("data_location"),
                                       OverflowError("int too large"), KeyError("units"))]
    assert texts[3] == "a required entry 'units' is missing"
    for t in texts:
        assert "unhashable" not in t and "data_location" not in t and "Error" not in t
