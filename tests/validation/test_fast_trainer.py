"""The fast (union) trainer keeps every run's maths: it equals separate single runs, and a run's
dropout masks do not depend on the pack it trains in.

float64 on CPU, tiny sizes; the excluded tensors are the convolution biases directly followed by
BatchNorm (exact gradient zero, see test_packed.py).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archlint_validation import data as D  # noqa: E402
from archlint_validation import fast_trainer as FT  # noqa: E402
from archlint_validation import models as M  # noqa: E402
from archlint_validation import philox  # noqa: E402
from archlint_validation import train as T  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def split():
    return D.split_validation(D.load_synthetic(60, 6, num_classes=10), 6)


@pytest.fixture(scope="module")
def datas64(split):
    return {p: T.DeviceData(split, p, "cpu", torch.float64) for p in ("faithful", "modern")}


def _float64(fn):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return fn()
    finally:
        torch.set_default_dtype(old)


def _single(spec, datas, cfg):
    losses = []
    model = _float64(lambda: FT.reference_model(spec, datas[spec.protocol].num_classes))
    res = FT.train_reference(spec, datas[spec.protocol], cfg, model=model, record_losses=losses)
    return losses, model, res


def _union(specs, datas, cfg, channels_last=False, **options):
    losses = []
    net = _float64(lambda: FT.init_union(specs, datas[specs[0].protocol].num_classes))
    opts = FT.FastOptions(channels_last=channels_last, **options)
    res = FT.train_union(specs, datas, cfg, net=net, options=opts, record_losses=losses)
    return np.array(losses), net, res


def _bias_before_bn(model):
    mods = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d))]
    return {k for k, m in enumerate(mods[:-1])
            if isinstance(m, torch.nn.Conv2d) and isinstance(mods[k + 1], torch.nn.BatchNorm2d)}


MIXED = [  # every kind of run the grid has, in one pack
    T.RunSpec("faithful", "control", "none", "dense1000", 0),
    T.RunSpec("faithful", "dropout0.5", "before", "dense1000", 1),
    T.RunSpec("faithful", "dropout0.3", "after", "dense1000", 0),
    T.RunSpec("faithful", "bn", "after", "dense1000", 2),
    T.RunSpec("faithful", "bn", "before", "dense1000", 0),
    T.RunSpec("faithful", "dropout0.1", "pool", "dense1000", 1),
    T.RunSpec("faithful", "control", "none", "gap", 1),
    T.RunSpec("modern", "dropout0.5", "pool", "dense", 0),
]


EQ_CFG = T.TrainConfig(batch_size=2, steps_per_epoch=2, epochs=2, eval_batch=16)


@pytest.fixture(scope="module")
def singles(datas64):
    """Each run of MIXED trained alone (reference trainer), once for the module."""
    return [_single(spec, datas64, EQ_CFG) for spec in MIXED]


@pytest.mark.parametrize("channels_last, grouped, runs", [
    (False, None, list(range(len(MIXED)))),  # CPU layout: M convolutions, channels first
    (True, True, [1, 3, 6]),  # CUDA layout: one grouped convolution over runs, channels last
])
def test_union_equals_single_runs(datas64, singles, channels_last, grouped, runs):
    pack = [MIXED[r] for r in runs]
    ul, net, ures = _union(pack, datas64, EQ_CFG, channels_last, grouped_conv=grouped)
    assert ul.shape == (4, len(pack))
    for i, spec in enumerate(pack):
        sl, model, sres = singles[runs[i]]
        # float64 sums in another order: on this project's current machines (AVX-512 oneDNN kernels) the
        # union's losses differ from the single runs' by up to 1.7e-9 relative, already on the commit
        # this test was written at (measured 2026-12-07); 1e-8 still catches any real divergence
        np.testing.assert_allclose(ul[:, i], sl, rtol=1e-8, atol=0, err_msg=spec.key)
        skip = _bias_before_bn(model)
        single, union = M.single_state(model), FT.unpack_union(net, i)
        assert len(single) == len(union)
        for k, (a, b) in enumerate(zip(single, union)):
            for j, (x, y) in enumerate(zip(a, b)):
                if k in skip and j == 1:
                    continue
                scale = x.abs().max().item() or 1.0
                assert (x - y).abs().max().item() <= 1e-6 * scale, (spec.key, k, j)
        assert ures[i].val_acc == pytest.approx(sres.val_acc) and ures[i].test_acc == pytest.approx(sres.test_acc)
        assert ures[i].val_loss == pytest.approx(sres.val_loss, rel=1e-8)
        assert ures[i].train_loss == pytest.approx(sres.train_loss, rel=1e-8)
        assert ures[i].first_loss == pytest.approx(sres.first_loss, rel=1e-12)


def _masks(net, x5_shape):
    """The dropout multiplier every slot applies to an all-ones input, per run: {slot: (B, M, C, H, W)}."""
    out = {}
    net.train()
    step = torch.tensor(7)
    for mod in net.body:
        if type(mod).__name__ == "Slot" and mod.drop_runs:
            b, m, c, h, w = x5_shape(mod.ch)
            y = FT._dropout(torch.ones(b, m * c, h, w), step, mod.k, mod.k0, mod.k1, mod.thr, mod.keep,
                            mod.drop_index, mod.all_drop, m)
            out[(mod.placement, mod.k)] = y.reshape(b, m, c, h, w)
    return out


def test_draws_do_not_depend_on_the_pack():
    a = T.RunSpec("faithful", "dropout0.3", "before", "dense1000", 5)
    pack1 = [a, T.RunSpec("faithful", "dropout0.5", "before", "dense1000", 5)]
    pack2 = [T.RunSpec("modern", "bn", "after", "gap", 1), T.RunSpec("faithful", "dropout0.1", "before", "dense1000", 9),
             T.RunSpec("faithful", "control", "none", "dense1000", 5), a]
    n1, n2 = FT.union_net(pack1, 10), FT.union_net(pack2, 10)
    m1 = _masks(n1, lambda c: (3, 2, c, 4, 4))
    m2 = _masks(n2, lambda c: (3, 4, c, 4, 4))
    assert set(m1) == set(m2) == {("before", k) for k in range(1, 11)}
    for slot in m1:
        assert torch.equal(m1[slot][:, 0], m2[slot][:, 3]), slot  # run a: position 0 vs 3
        assert not torch.equal(m2[slot][:, 1], m2[slot][:, 3])  # another seed draws other masks
        assert torch.all(m2[slot][:, 2] == 1) and torch.all(m2[slot][:, 0] == 1)  # no dropout: identity
        # and the single network's dropout layer draws the same mask at the same step
        single = FT._counter_dropout_cls()(0.3, 5, slot[1])
        single.step = 7
        assert torch.equal(single(torch.ones(3, m1[slot].shape[2], 4, 4)), m1[slot][:, 0])
        keep = (m1[slot][:, 0] > 0).double().mean().item()
        assert 0.5 < keep < 0.9  # about 1 - 0.3 of 3*60*16 elements


def test_run_in_different_packs_trains_identically(datas64):
    """End to end: the same run alone and inside a mixed pack gives the same losses and accuracy."""
    cfg = T.TrainConfig(batch_size=4, steps_per_epoch=3, epochs=1, eval_batch=16)
    a = MIXED[5]
    alone, _, ra = _union([a], datas64, cfg)
    mixed, _, rm = _union([MIXED[0], MIXED[3], a], datas64, cfg)
    np.testing.assert_allclose(mixed[:, 2], alone[:, 0], rtol=1e-12, atol=0)
    assert rm[2].val_acc == ra[0].val_acc and rm[2].test_loss == pytest.approx(ra[0].test_loss, rel=1e-12)


def test_dropout_before_and_after_relu_are_the_same_run(datas64):
    """Twin runs: slot keys are insertion indices, and ReLU commutes with a positive mask scale."""
    cfg = T.TrainConfig(batch_size=4, steps_per_epoch=3, epochs=1, eval_batch=16)
    before, *_ = _single(T.RunSpec("faithful", "dropout0.3", "before", "dense1000", 0), datas64, cfg)
    after, *_ = _single(T.RunSpec("faithful", "dropout0.3", "after", "dense1000", 0), datas64, cfg)
    other, *_ = _single(T.RunSpec("faithful", "dropout0.3", "after", "dense1000", 1), datas64, cfg)
    np.testing.assert_allclose(after, before, rtol=1e-12)
    assert not np.allclose(other, before)


def test_philox_known_answers():
    """Random123's kat_vectors for philox4x32-10."""
    t = lambda *v: [torch.tensor([x], dtype=torch.int64) for x in v]  # noqa: E731
    cases = [((0, 0, 0, 0), (0, 0), "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
             ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, "408f276d 41c83b0e a20bc7c6 6d5451fd"),
             ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
              "d16cfe09 94fdcceb 5001e420 24126ea1")]
    for ctr, key, want in cases:
        got = philox.philox4x32(*t(*ctr), *t(*key))
        assert " ".join(f"{int(w):08x}" for w in got) == want


def test_random_words_are_uniform_and_keyed():
    keys0, keys1 = torch.tensor([1, 2]), torch.tensor([3, 3])
    w = philox.random_words(keys0, keys1, 0, 40_001)
    assert w.shape == (2, 40_001) and int(w.min()) >= 0 and int(w.max()) < 2**32
    u = w.double() / 2**32
    assert abs(u.mean().item() - 0.5) < 0.01 and abs((u < 0.3).double().mean().item() - 0.3) < 0.01
    assert torch.equal(philox.random_words(keys0[1:], keys1[1:], 0, 40_001)[0], w[1])  # rows are independent
    assert not torch.equal(philox.random_words(keys0, keys1, 1, 40_001), w)  # the step is in the counter
    assert philox.keep_threshold(0.0) == 2**32 and philox.keep_threshold(0.5) == 2**31
    with pytest.raises(ValueError):
        philox.keep_threshold(1.0)


def test_forward_has_no_graph_break():
    """torch.compile(fullgraph=True) needs one graph: dynamo finds no break in the union forward
    (dropout draws included), so the step can be compiled and captured on CUDA."""
    specs = [T.RunSpec("faithful", "dropout0.5", "pool", "dense1000", 0), T.RunSpec("faithful", "bn", "pool", "gap", 1)]
    net = FT.init_union(specs, 10)
    x = torch.randn(2, 6, 32, 32)
    explanation = torch._dynamo.explain(net)(x, torch.tensor(3))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_bf16_autocast_keeps_fp32_master_weights(split):
    datas = {"modern": T.DeviceData(split, "modern", "cpu")}
    specs = [T.RunSpec("modern", "dropout0.3", "after", "dense", 0), T.RunSpec("modern", "bn", "before", "dense", 1)]
    cfg = T.TrainConfig(batch_size=4, steps_per_epoch=3, epochs=1, eval_batch=16)
    runs = {}
    for precision in ("fp32", "bf16"):
        losses = []
        net = FT.init_union(specs, 10)
        res = FT.train_union(specs, datas, cfg, net=net, options=FT.FastOptions(precision=precision),
                             record_losses=losses)
        assert all(p.dtype == torch.float32 for p in net.parameters())
        runs[precision] = (np.array(losses), res)
    fp32, bf16 = runs["fp32"][0], runs["bf16"][0]
    assert np.all(np.isfinite(bf16))
    np.testing.assert_allclose(bf16[0], fp32[0], rtol=2e-2)  # same weights, masks and batch: rounding only
    assert not np.array_equal(bf16, fp32)
    with pytest.raises(ValueError, match="precision"):
        FT.train_union(specs, datas, cfg, options=FT.FastOptions(precision="fp16"))


def test_validate_with_the_fast_trainer(tmp_path):
    """The runner's fast path (what --device cuda uses by default), on CPU in float32: union packs
    of mixed runs, its own run folder, and the same first losses as one run per pack."""
    import json

    from archlint_validation import runner as R

    def grid(out, pack_size):
        logs = []
        R.run(R.Options(dataset="synthetic", quick=True, steps=2, epochs=2, seeds=2, batch_size=8, limit=200,
                        test_limit=50, val_size=20, out=out, plots=False, progress=False, rules=["AL001"],
                        placements=("before",), trainer="fast", pack_size=pack_size), log=logs.append)
        files = {p.name: json.loads(p.read_text()) for p in out.glob("runs/*/*.json") if p.name != "settings.json"}
        settings = json.loads(next(out.glob("runs/*/settings.json")).read_text())
        return files, settings, logs

    packed, settings, logs = grid(tmp_path / "packed", 3)
    assert settings["trainer"] == {"name": "fast", "dropout_rng": "philox4x32-10", "precision": "fp32"}
    assert any("training 8 runs in 3 packs (fast trainer, local executor)" in m for m in logs)
    assert sorted(r["pack_size"] for r in packed.values()) == [2, 2, 3, 3, 3, 3, 3, 3]
    assert {r["trainer"] for r in packed.values()} == {"fast"}
    alone, settings1, _ = grid(tmp_path / "alone", 1)
    assert settings1 == settings and sorted(alone) == sorted(packed)
    for name, rec in packed.items():
        assert rec["first_loss"] == pytest.approx(alone[name]["first_loss"], rel=1e-5), name
        # later steps drift apart by float32 rounding noise that RMSprop amplifies (see test_packed.py)
        assert rec["train_loss"][0] == pytest.approx(alone[name]["train_loss"][0], rel=1e-3), name
    with pytest.raises(R.ValidationError, match="fast trainer"):
        R.run(R.Options(dataset="synthetic", quick=True, out=tmp_path / "x", trainer="classic", precision="bf16"))


class FakeGraphBackend:
    """Stands in for CUDA on CPU: the side stream is this thread, a 'graph' replays the captured
    Python step (capturing runs nothing, as on CUDA). Exercises the step-graph orchestration.
    A real replay's backward writes .grad (allocated during capture) instead of accumulating
    into it; the stand-in clears the gradients before each replay to do the same."""

    def __init__(self, fail: bool = False):
        self.fail, self.captures, self.side_steps = fail, 0, 0
        self.params = []

    def on_side_stream(self, fn):
        self.side_steps += 1
        fn()

    def capture(self, fn):
        self.captures += 1
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")

        params = self.params

        class Graph:
            def replay(self):
                for p in params:
                    p.grad = None
                fn()

        return Graph()


@pytest.mark.parametrize("fail", [False, True])
def test_step_graph_orchestration_matches_eager(datas64, fail):
    """Warm-up steps, capture at step 3, replays from there (or eager after a failed capture):
    the same losses, bit for bit, as the plain eager loop."""
    specs = [MIXED[1], MIXED[3]]
    cfg = T.TrainConfig(batch_size=2, steps_per_epoch=3, epochs=2, eval_batch=16)
    eager, _, eres = _union(specs, datas64, cfg)
    backend = FakeGraphBackend(fail)
    logs = []
    net = _float64(lambda: FT.init_union(specs, 10))
    backend.params = list(net.parameters())
    losses = []
    gres = FT.train_union(specs, datas64, cfg, net=net, options=FT.FastOptions(channels_last=False, graph_backend=backend),
                          record_losses=losses, log=logs.append)
    np.testing.assert_array_equal(np.array(losses), eager)
    assert [r.test_loss for r in gres] == [r.test_loss for r in eres]
    assert backend.captures == 1
    if fail:
        assert backend.side_steps == 5 and net.graph_replays == 0 and not net.cuda_graph_used  # all but step 3
        assert any("CUDA graph capture failed" in m and "training eagerly" in m for m in logs)
    else:
        assert backend.side_steps == 3 and net.graph_replays == 3 and net.cuda_graph_used and not logs
