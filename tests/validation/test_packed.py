"""Key correctness test: the packed trainer equals M separate single-run trainers.

Same seeds give the same initial weights, data order and dropout masks, so losses and weights
must agree to floating-point tolerance. The comparison runs in float64: RMSprop divides each
gradient by its own running RMS, so an element whose true gradient is ~0 moves by about lr*3 in
the direction of its rounding noise; in float64 that noise is far below the tolerance. The one
exception is a convolution bias directly followed by BatchNorm: BN cancels it, its exact gradient
is zero, and its updates follow rounding noise in any precision, so it is left out (it does not
change the network's function).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from archlint_validation import data as D  # noqa: E402
from archlint_validation import models as M  # noqa: E402
from archlint_validation import train as T  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny float64 batches: one thread avoids thread start-up costs (and is deterministic)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def device_data64():
    ds = D.load_synthetic(100, 16, num_classes=10)
    split = D.split_validation(ds, 16)
    return T.DeviceData(split, "faithful", "cpu", torch.float64)


def _run_both(specs, dd, cfg):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dd.dtype)
    try:
        single_losses, singles, single_res = [], [], []
        for s in specs:
            rec = []
            model = T.init_single(s, dd.num_classes)
            single_res.append(T.train_single(s, dd, cfg, model=model, record_losses=rec))
            singles.append(model)
            single_losses.append(rec)
        packed_losses = []
        net = T.init_packed(specs, dd.num_classes)
        packed_res = T.train_packed(specs, dd, cfg, net=net, record_losses=packed_losses)
    finally:
        torch.set_default_dtype(old)
    return np.array(single_losses).T, np.array(packed_losses), singles, net, single_res, packed_res


def _bias_before_bn(model):
    mods = list(model)
    out = set()
    k = 0
    for i, mod in enumerate(mods):
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
            if isinstance(mod, torch.nn.Conv2d) and isinstance(mods[i + 1], torch.nn.BatchNorm2d):
                out.add(k)
            k += 1
    return out


@pytest.mark.parametrize("variants, placement", [
    (["control", "dropout0.5", "dropout0.1"], "before"),  # different dropout rates share one pack
    (["bn", "bn"], "before"),
    (["dropout0.3", "dropout0.3"], "pool"),
])
def test_packed_equals_single_runs(device_data64, variants, placement):
    specs = [T.RunSpec("faithful", v, "none" if v == "control" else placement, "dense1000", seed)
             for seed, v in enumerate(variants)]
    cfg = T.TrainConfig(batch_size=4, steps_per_epoch=2, epochs=2, eval_batch=16)
    sl, pl, singles, net, sres, pres = _run_both(specs, device_data64, cfg)
    assert sl.shape == pl.shape == (4, len(specs))
    np.testing.assert_allclose(pl, sl, rtol=1e-9, atol=0)
    for i, model in enumerate(singles):
        skip = _bias_before_bn(model)
        for k, (a, b) in enumerate(zip(M.single_state(model), M.unpack_weights(net, i))):
            for j, (x, y) in enumerate(zip(a, b)):
                if k in skip and j == 1:
                    continue
                scale = x.abs().max().item() or 1.0
                assert (x - y).abs().max().item() <= 1e-6 * scale, (i, k, j)
    for s, p in zip(sres, pres):
        assert s.val_acc == pytest.approx(p.val_acc) and s.test_acc == pytest.approx(p.test_acc)
        assert s.val_loss == pytest.approx(p.val_loss, rel=1e-9)


def test_packed_float32_losses_match():
    """In the default float32 the first steps agree to 1e-4 relative (later steps drift only by
    RMSprop's amplification of rounding noise in near-zero gradients, see the module docstring)."""
    ds = D.load_synthetic(100, 16)
    dd = T.DeviceData(D.split_validation(ds, 16), "modern", "cpu")
    specs = [T.RunSpec("modern", v, "none" if v == "control" else "after", "dense", s)
             for s, v in enumerate(["control", "dropout0.3"])]
    cfg = T.TrainConfig(batch_size=4, steps_per_epoch=2, epochs=1, eval_batch=16)
    sl, pl, *_ = _run_both(specs, dd, cfg)
    np.testing.assert_allclose(pl, sl, rtol=1e-4)


def test_pack_rejects_different_architectures():
    with pytest.raises(ValueError):
        M.packed_net([M.layer_sequence("bn", "before", "dense", 10), M.layer_sequence("control", None, "dense", 10)])


def test_data_order_is_per_seed_and_covers_the_set():
    a = T.batch_indices(0, 100, 8, 30)
    assert a.shape == (30, 8)
    assert sorted(a.reshape(-1)[:100].tolist()) == list(range(100))  # one pass = a permutation
    assert not np.array_equal(a, T.batch_indices(1, 100, 8, 30))
    assert np.array_equal(a, T.batch_indices(0, 100, 8, 30))
