"""End to end: the synthetic quick pipeline, rule selection, resume after kill -9, error lines."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlint_validation import evidence, io
from archlint_validation.__main__ import app
from archlint_validation.errors import OutputError

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _all_output(result) -> str:
    out = result.output
    try:
        out += result.stderr
    except (ValueError, AttributeError):
        pass
    return out


def _run_files(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("runs/*/*.json") if p.name != "settings.json")


def test_quick_synthetic_pipeline(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["--dataset", "synthetic", "--quick", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, _all_output(result)
    res = json.loads((out / "results.json").read_text())
    assert res["schema"] == "archlint-validate/2" and res["synthetic"] and res["reduced"]
    assert any("SYNTHETIC" in r for r in res["reduced_reasons"])
    # no duplicate cells: control, dropout 0.5/0.3/0.1 @before and @pool (dropout @after would repeat
    # @before), bn @before/@after/@pool, the GAP head = 11 configurations, 2 seeds each
    configs = {v["config"] for v in res["variants"]}
    assert not any(c.startswith("dropout") and "@after" in c for c in configs)
    assert len(configs) == 11 and len(res["runs"]) == 22 == len(_run_files(out))
    for v in res["variants"]:
        assert v["summary"]["n"] == 2 and len(v["val_acc_per_epoch_mean"]) == 2
    assert {c["rule"] for c in res["comparisons"]} == {"AL001", "AL002", "AL003"}
    roles = {(c["rule"], c["role"]) for c in res["comparisons"]}
    assert roles == {("AL001", "primary"), ("AL001", "secondary"), ("AL002", "primary"), ("AL002", "context"),
                     ("AL003", "primary")}
    for c in res["comparisons"]:
        assert c["verdict"] in {"supported", "contradicted", "inconclusive"}
        assert c["n"] == 2 and c["seeds"] == [0, 1]
        assert c["p_perm"] >= 0.5  # two seeds: the exact test cannot go below 2/4
        assert c["verdict"] == "inconclusive" or c["test"] == "directional"
        if c["role"] != "primary":
            assert c["p_adj"] >= c["p"] - 1e-12
    assert res["verdicts"]["AL001"]["faithful"]["logic"] == "all"
    assert res["verdicts"]["AL003"]["faithful"]["logic"] == "noninferior"
    assert set(res["verdicts"]) == {"AL001", "AL002", "AL003"}
    prov = res["provenance"]
    for key in ("dataset", "code_version", "seeds", "device", "libraries", "wall_time_s"):
        assert key in prov
    assert prov["seeds"] == [0, 1] and "torch" in prov["libraries"]
    md = (out / "results.md").read_text()
    assert "SYNTHETIC DATA" in md and "| Rule |" in md and "GPU grid is owed" in md
    for name in ("accuracy_per_epoch_faithful.png", "final_accuracy_faithful.png"):
        assert (out / name).stat().st_size > 1000
    text = evidence.summary_for("AL001", path=out / "evidence.json")
    assert "SYNTHETIC" in text and "95% CI" in text
    assert "AL001" in result.output


def test_rule_selection_runs_only_what_backs_the_rule(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["--dataset", "synthetic", "--quick", "--rule", "AL003", "--out", str(out),
                                 "--no-progress", "--no-plots", "--protocol", "both"])
    assert result.exit_code == 0, _all_output(result)
    names = {p.stem.rsplit("__s", 1)[0] for p in _run_files(out)}
    assert names == {f"{p}__control__none__{h}" for p in ("faithful", "modern") for h in ("dense1000", "gap")}
    res = json.loads((out / "results.json").read_text())
    assert set(res["verdicts"]) == {"AL003"} and set(res["verdicts"]["AL003"]) == {"faithful", "modern"}


def test_loss_falls_on_synthetic():
    from archlint_validation import data as D
    from archlint_validation import train as T

    ds = D.load_synthetic(400, 50)
    dd = T.DeviceData(D.split_validation(ds, 50), "modern", "cpu")
    losses = []
    res = T.train_single(T.RunSpec("modern", "bn", "before", "dense", 0), dd,
                         T.TrainConfig(batch_size=16, steps_per_epoch=15, epochs=1, eval_batch=50),
                         record_losses=losses)
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    assert res.val_acc[0] > 0.3  # chance is 0.1


def test_resume_after_kill_9(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "archlint_validation", "--dataset", "synthetic", "--quick", "--rule", "AL001",
           "--placement", "before", "--pack-size", "1", "--no-plots", "--no-progress", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while not _run_files(out):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no run finished in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_bytes() for p in _run_files(out)}
    assert 1 <= len(before) < 8
    assert not list(out.glob("runs/*/.*.tmp")) or True  # a torn temp file is allowed, never a torn run file
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = _run_files(out)
    keys = [p.name for p in after]
    assert len(keys) == len(set(keys)) == 8  # control + 3 dropout rates, 2 seeds, each exactly once
    for name, blob in before.items():
        assert (after[0].parent / name).read_bytes() == blob  # finished runs were not redone
    res = json.loads((out / "results.json").read_text())
    assert res["provenance"]["runs_resumed"] >= len(before)
    assert "resuming" in done.stderr


def test_unwritable_output_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["--dataset", "synthetic", "--quick", "--out", str(blocker / "sub"), "--no-progress"])
    assert result.exit_code == 2
    err = _all_output(result)
    assert "archlint: error: output folder" in err and "Traceback" not in err


def test_full_disk_raises_output_error(tmp_path, monkeypatch):
    import errno

    def boom(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", boom)
    with pytest.raises(OutputError, match="No space left on device"):
        io.write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert not list(tmp_path.iterdir())  # no torn file left behind


def test_bad_arguments_exit_2(tmp_path):
    result = runner.invoke(app, ["--rule", "AL999", "--dataset", "synthetic", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "AL999" in _all_output(result)
    result = runner.invoke(app, ["--data", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "does not exist" in _all_output(result)


def test_evidence_import_is_light():
    code = ("import sys, archlint_validation.evidence as e; e.load_bundled(); e.summary_for('AL001'); "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_bundled_evidence_is_labelled():
    bundled = evidence.load_bundled()
    if not bundled:
        pytest.skip("no evidence bundled in validation/results/")
    from archlint.rules import ALL_RULES

    assert set(bundled) <= {r.code for r in ALL_RULES} and "AL001" in bundled
    for items in bundled.values():
        for d in items:
            assert d["verdict"] in {"supported", "contradicted", "inconclusive", "not run"}
            if d["ci_low"] is not None:  # None: every seed gave the same difference (no interval)
                assert d["ci_low"] <= d["diff"] <= d["ci_high"]
            if d["reduced"]:  # the seed grid owes its full protocol; a reference pair its GPU run
                assert "owed" in d["caveat"] or "not the full-length GPU run" in d["caveat"]
    text = evidence.summary_for("al001")
    assert text.startswith("AL001 (dropout-between-conv)") and "95% CI" in text and "seeds" in text
    if bundled["AL001"][0]["reduced"]:
        assert "Caveat: Reduced run" in text and "CPU run" in text
    assert evidence.summary_for("AL999") is None


def test_bundle_merge_keeps_other_protocols():
    from archlint_validation.bundle import merge

    faithful = {"rule": "AL001", "experiment": "variants", "protocol": "faithful", "comparison": "d0.5 vs control", "diff": -0.02}
    modern_old = dict(faithful, protocol="modern", diff=-0.10)
    modern_new = dict(modern_old, diff=-0.20)
    merged = merge({"AL001": [faithful, modern_old], "AL002": [{"k": 1}]}, {"AL001": [modern_new]})
    assert merged["AL001"] == [faithful, modern_new]
    assert merged["AL002"] == [{"k": 1}]
