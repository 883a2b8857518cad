"""The per-rule reference experiments (``archlint_validation.reference``), the symptoms probe and the
GPU evidence preset run end to end at tiny size on CPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archlint_validation import reference as R  # noqa: E402
from archlint_validation import symptoms as S  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "validation" / "results"


def test_gpu_preset_runs_end_to_end_at_tiny_size(tmp_path):
    before = {p.name: p.stat().st_mtime_ns for p in RESULTS.iterdir()}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_evidence.py"), "--tiny", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    bundle = tmp_path / "bundle"
    ev = json.loads((bundle / "evidence.json").read_text())
    ref = json.loads((bundle / "tiny-reference.json").read_text())
    grid = json.loads((bundle / "tiny-grid.json").read_text())
    # every reference experiment (the GPU-only throughput pairs included) ran both arms for both seeds
    assert {e["experiment"] for e in ref["experiments"]} == {e.name for e in R.EXPERIMENTS}
    assert all(e["n"] == 2 for e in ref["experiments"])
    measured_rules = {c for e in R.EXPERIMENTS for c in e.rules}
    assert measured_rules <= set(ev) and measured_rules <= set(ref["verdicts"])
    assert {"faithful", "modern"} <= {p for v in grid["verdicts"].values() for p in v}
    assert "plan:" in r.stderr and "[1/" in r.stderr  # plan first, then progress lines
    # the repository's bundled results are untouched by a smoke run
    assert {p.name: p.stat().st_mtime_ns for p in RESULTS.iterdir()} == before


def test_pairs_isolate_their_rule():
    """The anti-pattern network triggers its rule and the fix does not (two families, live)."""
    tasks = R.load_tasks({"image", "binary"}, R.SCALES["tiny"], None)
    for name in ("al012-no-norm", "al026-one-unit-softmax"):
        e = R.by_name(name)
        t = R.lint_targets(e, tasks[e.task])
        assert t["checked"] and t["ok"], (name, t)


@pytest.mark.parametrize("name", ["cpu-reference", "cpu-reference-2", "cpu-long-al003"])
def test_bundled_cpu_runs_name_their_targets(name):
    """Every experiment of each bundled CPU run was linted (ok) or says why it could not be."""
    res = json.loads((RESULTS / f"{name}.json").read_text())
    assert res["kind"] == "reference" and res["settings"]["seeds"] >= 6 and not res["synthetic"]
    for e in res["experiments"]:
        t = e["targets"]
        assert (t["checked"] and t["ok"]) or (not t["checked"] and t["why"]), e["experiment"]


def _runs(name, anti, fix):
    return [{"experiment": name, "arm": "anti", "seed": s, "metric": a, "test_loss": 1.0, "params": 10,
             "symptoms": []} for s, a in enumerate(anti)] + \
           [{"experiment": name, "arm": "fix", "seed": s, "metric": f, "test_loss": 0.9, "params": 8,
             "symptoms": [{"symptom": "dead-relu"}] if s == 0 else []} for s, f in enumerate(fix)]


def test_analysis_is_paired_and_graded():
    e = R.by_name("al012-no-norm")
    anti = [0.30, 0.32, 0.29, 0.35, 0.31, 0.33]
    res = R.analyse(e, _runs(e.name, anti, [a + 0.05 + 0.001 * i for i, a in enumerate(anti)]), list(range(6)))
    assert res["verdict"] == "supported" and res["n"] == 6 and res["diff"] == pytest.approx(0.0525)
    assert res["p"] == pytest.approx(2 / 64) and res["symptoms"]["fix"] == {"dead-relu": 1}
    # five seeds cannot reach p < 0.05 in the exact test, however large the effect
    five = R.analyse(e, _runs(e.name, anti[:5], [a + 0.2 for a in anti[:5]]), list(range(5)))
    assert five["verdict"] == "inconclusive" and math.isinf(five["detectable"])
    ni = R.by_name("al005-bias-bn")
    same = R.analyse(ni, _runs(ni.name, anti, anti), list(range(6)))
    assert same["verdict"] == "supported"  # identical runs: non-inferior within the margin
    worse = R.analyse(ni, _runs(ni.name, anti, [a - 0.05 for a in anti]), list(range(6)))
    assert worse["verdict"] == "contradicted"


def test_rules_without_an_experiment_say_why():
    with pytest.raises(ValueError, match="AL027: a dense layer"):
        R.select(["AL027"])
    from archlint.rules import ALL_RULES

    covered = {c for e in R.EXPERIMENTS for c in e.rules} | set(R.NOT_MEASURABLE)
    assert {r.code for r in ALL_RULES} <= covered


def test_symptoms_of_a_zero_initialised_relu_net():
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    nn.init.zeros_(net[0].weight)
    nn.init.zeros_(net[0].bias)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    p = S.probe(net, lambda: nn.functional.cross_entropy(net(x), y))
    assert p["activations"]["1"]["dead"] == 1.0
    assert all(q.grad is None for q in net.parameters())  # the probe leaves no gradient behind
    syms = S.diagnose([p, p], [1.1] * 40)
    names = {s["symptom"] for s in syms}
    assert {"dead-relu", "loss-not-falling", "vanishing-gradients"} <= names
    explained = S.explain(syms, [{"code": "AL028", "node": "0", "message": "zeros"}, {"code": "AL001"}])
    dead = next(s for s in explained if s["symptom"] == "dead-relu")
    assert [f["code"] for f in dead["explained_by"]] == ["AL028"]


def test_symptoms_nan_and_saturation():
    nn = torch.nn
    net = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.fill_(50.0)
    x = torch.ones(8, 4)
    p = S.probe(net, lambda: net(x).sum())
    syms = S.diagnose([p], [1.0, float("nan")] + [1.0] * 30)
    names = {s["symptom"] for s in syms}
    assert {"saturated-units", "nan-inf"} <= names
    nan = next(s for s in syms if s["symptom"] == "nan-inf")
    assert "first at step 1" in nan["detail"]


def test_grid_runs_record_symptoms_without_changing_their_numbers():
    from archlint_validation.data import load_synthetic, split_validation
    from archlint_validation.executors import _train_single_with_symptoms
    from archlint_validation.train import DeviceData, RunSpec, TrainConfig, train_single

    split = split_validation(load_synthetic(64, 32), 16)
    spec = RunSpec("modern", "dropout0.5", "before", "dense1000", 0)
    cfg = TrainConfig(protocol="modern", batch_size=8, steps_per_epoch=2, epochs=1)
    plain = train_single(spec, DeviceData(split, "modern", "cpu"), cfg)
    probed = _train_single_with_symptoms(spec, DeviceData(split, "modern", "cpu"), cfg, lambda k: None)
    assert probed.train_loss == plain.train_loss and probed.test_acc == plain.test_acc
    assert isinstance(probed.symptoms, list)


def _reference_runs() -> list[str]:
    return sorted(p.stem for p in RESULTS.glob("*.json") if json.loads(p.read_text()).get("kind") == "reference")


def test_grading_the_bundled_runs_reproduces_the_evidence_files(tmp_path):
    """The committed [[measured]] entries, grades and summaries are what grade.py writes from the
    bundled reference runs; regrading is in place, so grading them again changes nothing."""
    import shutil

    from archlint_validation import grade as G

    ev = tmp_path / "evidence"
    shutil.copytree(ROOT / "archlint" / "evidence", ev)
    runs = _reference_runs()
    assert "cpu-reference" in runs
    for name in runs:
        G.grade(name, evidence_dir=ev)
    for p in sorted(ev.glob("AL*.toml")):
        assert p.read_text() == (ROOT / "archlint" / "evidence" / p.name).read_text(), \
            f"{p.name}: rerun python -m archlint_validation.grade for {', '.join(runs)}"


def test_a_null_or_contrary_measurement_grades_measured_with_its_verdict(tmp_path):
    """AL023 (inconclusive at CPU scale) and AL016 (contradicted) start as bare convention files:
    grading makes them measured and the summary leads with the verdict; an experiment with fewer
    than 5 seeds grades nothing."""
    from archlint import evidence
    from archlint_validation import grade as G

    ev, results = tmp_path / "evidence", tmp_path / "results"
    ev.mkdir()
    results.mkdir()
    for code in ("AL016", "AL023", "AL022"):
        (ev / f"{code}.toml").write_text(f'schema = 1\nrule = "{code}"\ngrade = "convention"\n'
                                         'summary = "a convention, before any run"\n')
    res = json.loads((RESULTS / "cpu-reference.json").read_text())
    for e in res["experiments"]:
        if e["experiment"] == "al022-large-kernel":
            e["n"] = 4
    res["experiments"] = [e for e in res["experiments"] if e["experiment"] in
                          ("al016-channels", "al023-stride-kernel", "al022-large-kernel")]
    (results / "cpu-reference.json").write_text(json.dumps(res))
    changes = {c: g for c, _, g in G.grade("cpu-reference", results=results, evidence_dir=ev)}
    assert changes == {"AL016": "measured (contradicted)", "AL023": "measured (null)", "AL022": "note"}
    al023 = evidence.parse((ev / "AL023.toml").read_text(), "AL023")
    assert al023.verdict == "null" and al023.measured[0].experiment == "al023-stride-kernel"
    assert al023.summary.startswith("Measured at CPU scale (6 seeds, 150 steps): no effect detectable (test accuracy "
                                    "-0.001, 95% CI -0.021 to +0.019; smallest detectable 0.027)")
    assert al023.to_dict()["verdict"] == "null" and al023.label == "measured, null result"
    al016 = evidence.parse((ev / "AL016.toml").read_text(), "AL016")
    assert al016.summary.startswith("Measured at CPU scale (6 seeds, 150 steps): contradicted: any gain from the "
                                    "fix is below 0.01")
    assert "Not measured by archlint's runs: al022-large-kernel in the bundled cpu-reference run was trained with 4 " \
        "paired seeds, fewer than 5" in (ev / "AL022.toml").read_text()  # too few seeds: a note, no grade


def test_a_pair_whose_networks_did_not_learn_grades_nothing():
    """Neither arm beats the majority-class rate by the minimum effect: a floor, not a null result."""
    from archlint_validation import grade as G

    res = {"provenance": {"tasks": {"image": {"chance": 0.1}}}}
    exp = {"experiment": "al001-dropout-conv", "logic": "helps", "n": 6, "detectable": 0.05, "min_effect": 0.01,
           "anti_mean": 0.1, "fix_mean": 0.1049}
    assert G.at_floor(res, exp) and "did not learn" in G._why_not(res, exp)
    exp["fix_mean"] = 0.13  # one arm learned: the pair is graded
    assert not G.at_floor(res, exp) and G._why_not(res, exp) is None
