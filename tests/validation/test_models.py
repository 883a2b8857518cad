"""The faithful protocol, line by line: layers, parameter counts, initialisation, optimiser."""

import pytest

from archlint_validation import models as M

torch = pytest.importorskip("torch")


def ops(layers):
    return [l.op for l in layers]


def test_control_layer_sequence():
    seq = ops(M.layer_sequence("control", None, "dense1000", 100))
    block = ["conv", "relu", "conv", "relu", "pool"]
    assert seq == block * 4 + ["conv", "relu", "conv", "relu"] + ["flatten", "dense", "relu", "dropout", "dense"]
    convs = [(l.cin, l.cout) for l in M.layer_sequence("control", None, "dense1000", 100) if l.op == "conv"]
    assert convs == [(3, 60)] + [(60, 60)] * 7 + [(60, 100), (100, 100)]


@pytest.mark.parametrize("placement, n, pattern", [
    ("before", 10, ["conv", "bn", "relu"]),
    ("after", 10, ["conv", "relu", "bn"]),
    ("pool", 5, ["pool", "bn"]),
])
def test_placements(placement, n, pattern):
    layers = M.layer_sequence("bn", placement, "dense1000", 100)
    seq = ops(layers)
    assert seq.count("bn") == n
    body = seq[: seq.index("flatten")]
    assert "".join(f"{o}," for o in pattern) in "".join(f"{o}," for o in body)
    if placement == "pool":
        assert body[-3:] == ["conv", "relu", "bn"]  # once after the last ReLU, before Flatten
        assert [body[i + 1] for i, o in enumerate(body) if o == "pool"] == ["bn"] * 4
    drops = M.layer_sequence("dropout0.3", placement, "dense1000", 100)
    assert [l.rate for l in drops if l.op == "dropout"] == [0.3] * n + [0.5]  # + the head's Dropout(0.5)


def test_parameter_counts():
    conv_only = [l for l in M.layer_sequence("control", None, "dense", 100) if l.op == "conv"]
    assert M.count_params(conv_only) == 373_100
    assert M.count_params(M.layer_sequence("control", None, "dense", 100)) == 413_200
    assert M.count_params(M.layer_sequence("control", None, "dense1000", 100)) == 874_200
    for head, n in (("dense", 413_200), ("dense1000", 874_200)):
        net = M.build_single(M.layer_sequence("control", None, head, 100))
        assert sum(p.numel() for p in net.parameters()) == n
    assert M.layer_sequence("control", None, "dense1000", 10)[-1].cout == 10
    net = M.build_single(M.layer_sequence("control", None, "dense1000", 100))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_keras_initialisation_and_bn_settings():
    torch.manual_seed(0)
    net = M.build_single(M.layer_sequence("bn", "before", "dense1000", 100))
    for mod in net:
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            w = mod.weight
            fan_in = w.shape[1] * w[0, 0].numel()
            fan_out = w.shape[0] * w[0, 0].numel()
            bound = (6 / (fan_in + fan_out)) ** 0.5  # glorot_uniform
            assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
            assert torch.all(mod.bias == 0)
        if isinstance(mod, torch.nn.BatchNorm2d):
            assert mod.eps == 1e-3 and mod.momentum == pytest.approx(0.01)  # Keras momentum 0.99


def test_flatten_is_channels_last():
    net = M.build_single(M.layer_sequence("control", None, "dense", 10))
    flat = net[len(net) - 2]
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    assert torch.equal(flat(x), x.permute(0, 2, 3, 1).reshape(2, -1))


def test_rmsprop_matches_keras_2_2():
    from archlint_validation.train import RMSPROP, make_optimizer

    assert RMSPROP == {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}
    p = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    opt = make_optimizer([p])
    g = opt.param_groups[0]
    assert (g["lr"], g["alpha"], g["eps"], g["momentum"], g["centered"]) == (1e-3, 0.9, 1e-7, 0, False)
    # Keras 2.2: a = rho*a + (1-rho)*g^2 ; p -= lr * g / (sqrt(a) + eps)   (eps outside the sqrt)
    a = torch.zeros(3, dtype=torch.float64)
    ref = p.detach().clone()
    for grad in ([1e-8, 0.3, -2.0], [2e-8, -0.1, 1.0]):
        gr = torch.tensor(grad, dtype=torch.float64)
        p.grad = gr.clone()
        opt.step()
        a = 0.9 * a + 0.1 * gr**2
        ref = ref - 1e-3 * gr / (a.sqrt() + 1e-7)
        assert torch.allclose(p.detach(), ref, rtol=0, atol=1e-15)
