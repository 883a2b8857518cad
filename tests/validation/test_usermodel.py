"""``archlint validate MODEL``: data path (npz, image folders, proxy, synthetic, refusals) and the
paired training / comparison / report pipeline, with torch-built variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archlint_validation import usermodel as U  # noqa: E402
from archlint_validation.errors import DataError  # noqa: E402


def _spec(kind="image", shape=(3, 16, 16), k=10, layout="nchw"):
    ex = shape if layout == "nchw" or kind != "image" else (shape[1], shape[2], shape[0])
    return U.InputSpec(kind, ex, k, layout, shape if kind == "image" else ())


def test_proxy_images_adapt_to_the_model_input():
    d = U.load_data(None, _spec(shape=(1, 28, 28), layout="nhwc"), n_train=100, n_test=50)
    assert d.kind == "proxy" and "PROXY TASK" in d.label and "CIFAR-10" in d.label
    assert d.x_train.shape == (100, 28, 28, 1) and d.x_train.dtype == np.float32
    assert abs(float(d.x_train.mean())) < 0.05 and abs(float(d.x_train.std()) - 1) < 0.05
    binary = U.load_data(None, _spec(k=1), n_train=100, n_test=50)
    assert set(np.unique(binary.y_train)) == {0, 1} and "vehicle vs animal" in binary.label
    flat = U.load_data(None, _spec("vector", (3072,), 10), n_train=20, n_test=10)
    assert flat.x_train.shape == (20, 3072) and flat.kind == "proxy"


def test_other_vectors_get_a_labelled_synthetic_task_and_tokens_are_refused():
    d = U.load_data(None, _spec("vector", (20,), 3))
    assert d.kind == "synthetic" and d.label.startswith("SYNTHETIC TASK") and d.x_train.shape[1:] == (20,)
    assert len(np.unique(d.y_train)) == 3
    with pytest.raises(DataError, match="no honest proxy"):
        U.load_data(None, _spec("tokens", (16,), 5))


def test_npz_is_read_without_pickle(tmp_path):
    good = tmp_path / "d.npz"
    np.savez(good, x=np.random.rand(50, 20).astype(np.float32), y=np.arange(50) % 3)
    d = U.load_data(str(good), _spec("vector", (20,), 3))
    assert d.kind == "data" and len(d.x_train) == 40 and len(d.x_test) == 10
    evil = tmp_path / "evil.npz"
    np.savez(evil, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="pickle"):
        U.load_data(str(evil), _spec("vector", (20,), 3))
    with pytest.raises(DataError, match="needs arrays 'x' and 'y'"):
        np.savez(tmp_path / "nox.npz", a=np.zeros(3))
        U.load_data(str(tmp_path / "nox.npz"), _spec("vector", (20,), 3))
    with pytest.raises(DataError, match="examples have shape"):
        U.load_data(str(good), _spec("vector", (21,), 3))


def test_image_folder_of_class_subfolders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    d = U.load_data(str(tmp_path), _spec(shape=(3, 8, 8), k=2))
    assert d.x_train.shape == (16, 3, 8, 8) and d.x_test.shape == (4, 3, 8, 8) and d.identity["classes"] == ["cat", "dog"]


def test_paired_run_reports_effect_interval_verdict_and_symptoms(tmp_path):
    from archlint_validation import refmodels as rm

    spec = _spec("vector", (20,), 3)
    data = U.load_data(None, spec, n_train=300, n_test=100)
    loss = U.LossSpec("categorical_crossentropy", True, "test")
    variants = [
        U.Variant("original", "original", lambda s: rm.mlp(in_features=20, num_classes=3, hidden=(32, 32), init="zeros", init_seed=s), loss),
        U.Variant("fix-AL028", "AL028 fixed", lambda s: rm.mlp(in_features=20, num_classes=3, hidden=(32, 32), init_seed=s), loss,
                  "AL028", "0", "random init"),
    ]
    findings = [{"code": "AL028", "node": "0", "message": "zeros"}]
    lines = []
    res = U.run_variants(variants, data, seeds=6, steps=40, batch=32, out=tmp_path, findings=findings,
                         model="toy", log=lines.append)
    assert lines[0].startswith("plan: toy: the original and 1 fixed variant(s) x 6 seeds = 12 runs")
    assert any("SYNTHETIC TASK" in ln for ln in lines) and any(ln.startswith("[12/12]") for ln in lines)
    (c,) = res["comparisons"]
    assert c["n"] == 6 and c["verdict"] == "helps" and c["accuracy"]["diff"] > 0.05
    assert c["accuracy"]["ci_low"] > 0 and c["time_to_baseline"]["reached"] == 6
    line = U.verdict_line(c)
    assert line.startswith("AL028 fix (random init): helps: accuracy +") and "95% CI" in line
    dead = [s for s in res["symptoms"] if s["symptom"] == "dead-relu"]
    assert dead and dead[0]["explained_by"][0]["code"] == "AL028"
    md = (tmp_path / "results.md").read_text()
    assert "SYNTHETIC" in md and "explained by: AL028" in md
    assert json.loads((tmp_path / "results.json").read_text())["synthetic"] is True
    # resume: a second call trains nothing
    again = []
    U.run_variants(variants, data, seeds=6, steps=40, batch=32, out=tmp_path, findings=findings, model="toy",
                   log=again.append)
    assert "(12 already finished)" in again[0] and not any(ln.startswith("[") for ln in again)


def test_auto_steps_fit_the_budget_and_are_bounded():
    # 10 ms a step, 12 runs, 500 test images at batch 64: 600 s leave ~49 s a run -> ~4,300 steps, capped at 300
    assert U.auto_steps(0.01, 12, 500, 64, 600.0) == U.DEFAULT_STEPS
    # 300 ms a step (the article's network on this CPU), 10 runs: 60 s a run minus the evaluations
    per_run = 600.0 / 10 - 0.3 * 11 * 500 / 64 / 3
    assert U.auto_steps(0.3, 10, 500, 64, 600.0) == int(per_run / (0.3 * 1.15)) // 10 * 10 == 140
    # a budget nothing fits still trains the floor, and an untimed step falls back to the default
    assert U.auto_steps(5.0, 10, 500, 64, 60.0) == U.MIN_AUTO_STEPS
    assert U.auto_steps(float("nan"), 10, 500, 64, 600.0) == U.DEFAULT_STEPS


def test_steps_not_given_are_chosen_once_and_kept_on_resume(tmp_path):
    from archlint_validation import refmodels as rm

    spec = _spec("vector", (20,), 3)
    data = U.load_data(None, spec, n_train=120, n_test=40)
    loss = U.LossSpec("categorical_crossentropy", True, "test")
    variants = [U.Variant("original", "original", lambda s: rm.mlp(in_features=20, num_classes=3, hidden=(8,), init_seed=s), loss)]
    lines = []
    res = U.run_variants(variants, data, seeds=2, steps=None, batch=16, out=tmp_path, model="toy",
                         log=lines.append, budget_s=0.01)
    assert lines[0] == (f"plan: --steps not given: {U.MIN_AUTO_STEPS} steps per run fit the 0 s CPU budget "
                        f"(at most {U.DEFAULT_STEPS}; --steps N sets them)")
    assert res["settings"]["steps"] == U.MIN_AUTO_STEPS and len(res["runs"]) == 2
    again = []
    U.run_variants(variants, data, seeds=2, steps=None, batch=16, out=tmp_path, model="toy",
                   log=again.append, budget_s=0.01)
    assert again[0] == f"plan: --steps not given: {U.MIN_AUTO_STEPS} steps per run, as chosen when this run started"
    assert "(2 already finished)" in again[1]


def test_keras_loss_semantics():
    y = torch.tensor([0, 1, 1])
    one_unit = U.LossSpec("categorical_crossentropy", False, "compile").fn()
    out = torch.rand(3, 1, requires_grad=True)
    l = one_unit(out, y)
    l.backward()
    assert float(l) == 0.0 and float(out.grad.abs().sum()) == 0.0  # a one-unit softmax cannot learn
    bce = U.LossSpec("binary_crossentropy", False, "compile").fn()
    assert float(bce(torch.full((3, 1), 0.5), y)) == pytest.approx(np.log(2), rel=1e-5)


def test_validate_model_cli_on_an_onnx_fault_model(tmp_path):
    """The one-unit softmax fault model, as read vs with archlint's fix (sigmoid), on the proxy task."""
    pytest.importorskip("archlint.execute")
    pytest.importorskip("archlint.fixes")
    from pathlib import Path

    from typer.testing import CliRunner

    from archlint.cli import app

    model = Path(__file__).resolve().parents[2] / "fixtures" / "faults" / "onnx" / "softmax_single_unit.onnx"
    r = CliRunner().invoke(app, ["validate", str(model), "--steps", "3", "--seeds", "2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "AL026 fix (" in r.output and "95% CI" in r.output and "too few seeds" in r.output
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["proxy"] and "vehicle vs animal" in res["data"]["label"]
    (c,) = res["comparisons"]
    assert c["code"] == "AL026" and c["n"] == 2
    # the original cannot learn: its categorical loss on one unit is 0 and every gradient is 0
    assert all(r["test_loss"] == 0.0 for r in res["runs"] if r["variant"] == "original")
    assert (tmp_path / "results.md").is_file() and (tmp_path / "fixed").is_dir()


def test_validate_model_refuses_bad_input(tmp_path):
    from typer.testing import CliRunner

    from archlint.cli import app

    r = CliRunner().invoke(app, ["validate", str(tmp_path / "missing.onnx")])
    assert r.exit_code == 2 and "archlint: error:" in r.output and "Traceback" not in r.output
