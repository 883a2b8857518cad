"""validate talks: the plan first, plain progress lines off a terminal, a refusal of long CPU jobs
without --yes, every option checked before anything is written, honest wall-time accounting."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archlint_validation import progress as P
from archlint_validation import runner as R
from archlint_validation.__main__ import app

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
QUICK = ["--dataset", "synthetic", "--quick", "--rule", "AL001", "--primary-only", "--no-plots"]


def _validate(args, tmp_path, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARCHLINT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "archlint.cli", "validate", *args], cwd=REPO, env=env,
                          timeout=300, **kw)


def test_progress_goes_to_a_log_file_as_plain_lines(tmp_path):
    log = tmp_path / "log"
    with open(log, "w") as f:  # archlint validate ... 2>log
        r = _validate([*QUICK, "--out", str(tmp_path / "out")], tmp_path, stderr=f, stdout=subprocess.PIPE, text=True)
    assert r.returncode == 0, log.read_text()
    lines = log.read_text().splitlines()
    assert lines[0].startswith("plan: 6 runs (0 already finished, 6 to train) x 4 steps on cpu")
    assert lines[1].startswith("plan: warm-up ") and "projected" in lines[1]
    assert "run 1 of 6: faithful control@none s0" in lines
    assert any(ln.startswith("  step 2/4 (") for ln in lines)
    assert sum(ln.startswith("  done in ") for ln in lines) == 6
    assert not any("\x1b[" in ln or "\r" in ln for ln in lines)  # no terminal control codes
    assert "AL001 [faithful]:" in r.stdout
    # the settings that name the run folder include what else decides a run's numbers
    (settings,) = (tmp_path / "out").glob("runs/*/settings.json")
    s = json.loads(settings.read_text())
    assert s["training_code"].startswith("sha256:") and s["torch"] and s["device"] == "cpu"
    assert settings.parent.name == R.settings_hash(s)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert all(run["settings_hash"] == settings.parent.name for run in res["runs"])


def test_plan_and_refusal_of_a_long_cpu_job(tmp_path):
    out = tmp_path / "out"
    r = _validate([*QUICK, "--steps", "500000", "--out", str(out)], tmp_path, capture_output=True, text=True)
    assert r.returncode == 2
    assert "plan: 6 runs (0 already finished, 6 to train) x 1000000 steps on cpu" in r.stderr
    assert "archlint: error: projected " in r.stderr and "pass --yes" in r.stderr
    assert not out.exists()  # refused before anything was written


def test_plan_projection_and_cpu_limit():
    plan = P.Plan("cpu", 10, 4, 1000, 4, 0.5, 20.0, 1, 1)
    assert plan.projected_s == pytest.approx(4 * (1000 * 0.5 + 20.0))
    assert "plan: 10 runs (6 already finished, 4 to train) x 1000 steps on cpu" in plan.lines()[0]
    assert "34 min 40 s" in plan.lines()[1]
    assert P.Plan("cpu", 3, 0, 1000, 0, float("nan"), float("nan"), 1, 1).projected_s == 0.0
    assert P.CPU_LIMIT_S == 3600
    assert P.fmt_duration(7260) == "2 h 01 min" and P.fmt_duration(59) == "59 s"


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "CUDA is not available"),
    (["--device", "tpu"], "unknown device"),
    (["--val-size", "500", "--limit", "100"], "--val-size 500 must be smaller than --limit 100"),
    (["--rule", "AL999"], "AL999"),
])
def test_bad_options_are_refused_before_any_side_effect(tmp_path, args, message):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = CliRunner().invoke(app, ["--dataset", "synthetic", "--quick", "--out", str(out),
                                      "--cache-dir", str(cache), *args])
    assert result.exit_code == 2 and message in result.output + (result.stderr if result.stderr_bytes else "")
    assert not out.exists() and not cache.exists()


def test_wall_time_counts_a_pack_once():
    pack = [{"wall_s": 30.0, "pack_size": 3}] * 3
    alone = {"wall_s": 12.0, "pack_size": 1}
    assert sum(R.train_seconds(r) for r in [*pack, alone]) == pytest.approx(42.0)


def test_runs_from_other_settings_are_not_mixed_in(tmp_path):
    out, keys = tmp_path / "out", tmp_path / "keys"
    R.RunRecords(out, "aaaa", keys).put("run", {"test_acc": 0.3, "settings_hash": "aaaa"})
    assert R.RunRecords(out, "aaaa", keys).get("run")["test_acc"] == 0.3
    (out / "runs" / "bbbb").mkdir(parents=True)
    (out / "runs" / "aaaa" / "run.json").rename(out / "runs" / "bbbb" / "run.json")
    assert R.RunRecords(out, "bbbb", keys).get("run") is None  # other settings: retrained, never reported
    (out / "runs" / "aaaa" / "run.json").write_text("{torn")
    assert R.RunRecords(out, "aaaa", keys).get("run") is None
    assert R.RunRecords(out, "aaaa", keys).get("missing") is None


def test_default_cache_dir_is_shared_and_overridable(monkeypatch, tmp_path):
    from archlint_validation import data as D

    monkeypatch.setenv("ARCHLINT_CACHE_DIR", str(tmp_path / "c"))
    assert D.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ARCHLINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert D.default_cache_dir() == tmp_path / "xdg" / "archlint"


def test_plot_helpers():
    from archlint_validation import report

    styles = report.line_styles(14)
    assert len({tuple(sorted(s.items())) for s in styles}) == 14  # the old plots reused colours for 14 lines
    assert len({tuple(sorted(s.items())) for s in report.line_styles(40)}) == 40
    assert report.clipped_errors(0.05, -0.1, 0.2) == pytest.approx((0.05, 0.15))  # never below 0
    assert report.clipped_errors(0.95, 0.9, 1.3) == pytest.approx((0.05, 0.05))  # never above 1
    assert report.clipped_errors(0.5, None, None) == (0.0, 0.0)


def test_plots_have_integer_epochs_a_chance_line_and_the_dataset_in_every_title(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from archlint_validation import report

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    variants = [{"protocol": "modern", "config": f"cfg{i}", "val_acc_per_epoch_mean": [0.1, 0.2, 0.3],
                 "summary": {"mean": 0.3, "ci_low": -0.2, "ci_high": 0.8}, "test_acc": [0.2, 0.4]} for i in range(3)]
    results = {"synthetic": False, "reduced": True, "settings": {"protocols": ["modern"], "dataset": "imagefolder"},
               "provenance": {"seeds": [0, 1], "dataset": {"description": "CIFAR-10 as JPEG (x)", "num_classes": 10}},
               "variants": variants}
    assert report.make_plots(results, tmp_path) == ["accuracy_per_epoch_modern.png", "final_accuracy_modern.png"]
    curves, finals = (f.axes[0] for f in saved)
    for ax in (curves, finals):
        assert ax.get_title().startswith("CIFAR-10 as JPEG, modern protocol")
    assert all(float(t).is_integer() for t in curves.get_xticks())
    assert any(ln.get_label().startswith("chance") and ln.get_ydata()[0] == 0.1 for ln in curves.get_lines())
    assert finals.get_xlim() == (0.0, 1.0)
    plt.close("all")


def test_aggregate_rebuilds_the_report_from_run_folders_and_refuses_mixed_settings(tmp_path):
    from archlint_validation import aggregate

    out = tmp_path / "out"
    r = _validate([*QUICK, "--out", str(out), "--no-progress"], tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (run_dir,) = [p for p in (out / "runs").iterdir()]
    first = json.loads((out / "results.json").read_text())
    again = aggregate.aggregate([run_dir], tmp_path / "agg", rules=["AL001"], primary_only=True, num_classes=10,
                                plots=False)
    assert [c["diff"] for c in again["comparisons"]] == [c["diff"] for c in first["comparisons"]]
    assert {k: {p: v["verdict"] for p, v in per.items()} for k, per in again["verdicts"].items()} == \
        {k: {p: v["verdict"] for p, v in per.items()} for k, per in first["verdicts"].items()}
    assert again["provenance"]["seeds"] == [0, 1]
    assert (tmp_path / "agg" / "results.md").is_file()
    other = tmp_path / "other" / "runs" / "ffff"
    other.mkdir(parents=True)
    settings = json.loads((run_dir / "settings.json").read_text())
    (other / "settings.json").write_text(json.dumps({**settings, "torch": "9.9"}))
    assert aggregate.main([str(run_dir), str(other), "--out", str(tmp_path / "x"), "--num-classes", "10"]) == 2


def test_quick_alone_runs_on_synthetic_data(tmp_path, monkeypatch):
    """`archlint validate --quick` needs no --dataset synthetic (the README's smoke test)."""
    monkeypatch.delenv("ARCHLINT_DATA", raising=False)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "ARCHLINT_DATA"}
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "validate", "--quick", "--rule", "AL001", "--primary-only",
                        "--no-plots", "--no-progress", "--out", str(out)], cwd=REPO, timeout=300, capture_output=True,
                       text=True, env={**env, "OMP_NUM_THREADS": "1", "ARCHLINT_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "note: --quick without --data: synthetic data" in r.stderr
    assert json.loads((out / "results.json").read_text())["synthetic"] is True
    assert "archlint validate --quick --rule AL001 --primary-only" in (REPO / "README.md").read_text()


def test_help_keeps_bracketed_extras():
    """Help texts are plain text: the "[ray]" of "archlint[ray]" is not eaten as rich markup."""
    r = subprocess.run([sys.executable, "-m", "archlint.cli", "validate", "--help"], cwd=REPO, timeout=60,
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0 and "needs archlint[ray]" in r.stdout, r.stdout
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "needs archlint[ray]" in r.output


def test_no_help_text_loses_brackets_to_rich_markup():
    """typer renders help texts as rich markup: a bracket that reads as a tag ("[ray]") vanishes
    unless escaped. Every option and command help of archlint (validate included) survives."""
    import typer
    from rich.text import Text

    from archlint.cli import app as main_app

    root = typer.main.get_command(main_app)
    seen = 0
    for name, cmd in root.commands.items():
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        for h in texts:
            if "[" in h:
                seen += 1
                assert Text.from_markup(h).plain == h.replace("\\[", "["), (name, h)
    assert seen >= 2  # validate's "archlint[ray]" and check's "[NAME=]SHAPE[:DTYPE]" at least
