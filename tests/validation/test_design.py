"""The experiment design: no mathematically identical cells in the grid, and the pre-registered
primary comparisons."""

import pytest

from archlint_validation import experiments as E

torch = pytest.importorskip("torch")

from archlint_validation import data as D  # noqa: E402
from archlint_validation import train as T  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("variant", ["dropout0.5", "dropout0.1"])
def test_dropout_before_and_after_relu_train_bit_for_bit_alike(variant):
    """ReLU(m x / k) = m ReLU(x) / k for a 0/1 mask m: with one seed (same masks, same data order,
    same initial weights) the two placements are the same network, step after step."""
    ds = D.load_synthetic(200, 20, num_classes=10)
    dd = T.DeviceData(D.split_validation(ds, 20), "modern", "cpu")
    cfg = T.TrainConfig(batch_size=8, steps_per_epoch=6, epochs=2, eval_batch=20)
    runs = {}
    for pl in ("before", "after"):
        spec = T.RunSpec("modern", variant, pl, "dense", 3)
        model = T.init_single(spec, dd.num_classes)
        losses = []
        res = T.train_single(spec, dd, cfg, model=model, record_losses=losses)
        runs[pl] = (losses, [p.detach().clone() for p in model.parameters()], res)
    (lb, wb, rb), (la, wa, ra) = runs["before"], runs["after"]
    assert lb == la  # every training loss, exactly
    assert len(wb) == len(wa) and all(torch.equal(x, y) for x, y in zip(wb, wa))
    assert rb.val_acc == ra.val_acc and rb.test_acc == ra.test_acc
    # ... while batch norm, which does not commute with ReLU, gives a different network
    bn = [T.train_single(T.RunSpec("modern", "bn", pl, "dense", 3), dd, cfg).train_loss for pl in ("before", "after")]
    assert bn[0] != bn[1]


def test_grid_has_no_duplicate_cells():
    configs = E.configs_of(E.select())
    labels = [c.label for c in configs]
    assert len(labels) == len(set(labels)) == 11
    dropout_at = {c.placement for c in configs if c.variant.startswith("dropout")}
    assert dropout_at == {"before", "pool"}
    assert {c.placement for c in configs if c.variant == "bn"} == {"before", "after", "pool"}
    # asking for the `after` placement alone gives batch norm there, never dropout
    assert {c.treatment.label for c in E.select(["AL001", "AL002"], ("after",))} == {"bn @after"}


def test_primary_comparisons_are_pre_registered():
    prim = E.select(primary_only=True)
    assert [(c.rule, c.label, c.expected_sign) for c in prim] == [
        ("AL001", "dropout0.5 @before vs control", -1),
        ("AL001", "dropout0.3 @before vs control", -1),
        ("AL002", "bn @after vs bn @before", -1),
        ("AL003", "control [gap head] vs control", 0),
    ]
    assert E.CLAIMS["AL001"].logic == "all" and E.CLAIMS["AL001"].min_effect == 0.02
    assert E.CLAIMS["AL003"].logic == "noninferior" and E.CLAIMS["AL003"].min_effect == 0.01
    # the primary AL001 runs: control and the two rates at the article's placement
    specs = E.run_specs(E.select(["AL001"], primary_only=True), ["modern"], [0, 1])
    assert sorted({(s.variant, s.placement) for s in specs}) == [
        ("control", "none"), ("dropout0.3", "before"), ("dropout0.5", "before")]
