"""Framework-neutral architecture specs for the parity table.

Each spec is a list of layer dicts, in topological order. Every layer has
``name`` (used as the Keras layer name, the torch module attribute and the
ONNX node name, so findings carry the same layer name in every format),
``op`` and, when it does not read the previous layer, ``inputs``.

ops: conv(filters, kernel=3, stride=1, bias=True, groups=1, depthwise=False),
     sepconv(filters, kernel=3) [depthwise kxk then pointwise 1x1, Keras SeparableConv2D],
     bn, relu, softmax, dropout(rate), spatial_dropout(rate), maxpool(2), gap,
     flatten, dense(units), add(inputs=[a, b]).
Input is 1x3x32x32 (NCHW) / 32x32x3 (NHWC).

``expected(spec)`` gives the findings each spec must produce: (code, layer name).
"""

from __future__ import annotations

VARIANTS = ("control", "bn", "dropout05", "dropout03", "dropout01")
PLACEMENTS = ("before_act", "after_act", "after_pool")
HEADS = ("dense", "gap")
RATES = {"dropout05": 0.5, "dropout03": 0.3, "dropout01": 0.1}


def article(variant: str, placement: str, head: str, classes: int = 100) -> tuple[list[dict], list[tuple[str, str]]]:
    layers: list[dict] = []
    expect: list[tuple[str, str]] = []
    n = {"x": 0, "conv": 0, "relu": 0, "pool": 0}

    def add(**kw):
        layers.append(kw)
        return kw["name"]

    def insert(conv_follows: bool) -> None:
        if variant == "control":
            return
        n["x"] += 1
        if variant == "bn":
            name = add(name=f"bn{n['x']}", op="bn")
            if placement != "before_act":
                expect.append(("AL002", name))
        else:
            name = add(name=f"drop{n['x']}", op="dropout", rate=RATES[variant])
            if conv_follows:
                expect.append(("AL001", name))

    plan = [60, 60, "pool", 60, 60, "pool", 60, 60, "pool", 60, 60, "pool", 100, 100]
    total = sum(1 for p in plan if p != "pool")
    for step in plan:
        if step == "pool":
            n["pool"] += 1
            add(name=f"pool{n['pool']}", op="maxpool")
            if placement == "after_pool":
                insert(True)
            continue
        n["conv"] += 1
        last = n["conv"] == total
        add(name=f"conv{n['conv']}", op="conv", filters=step)
        if placement == "before_act":
            insert(not last)
        n["relu"] += 1
        add(name=f"relu{n['relu']}", op="relu")
        if placement == "after_act":
            insert(not last)
    if placement == "after_pool":
        insert(False)
    if head == "dense":
        add(name="flatten", op="flatten")
        expect.append(("AL003", "flatten"))
        add(name="fc1", op="dense", units=1000)
        add(name="fc1_relu", op="relu")
        add(name="fc1_drop", op="dropout", rate=0.5)
        add(name="fc2", op="dense", units=classes)
    else:
        add(name="gap", op="gap")
        add(name="flatten", op="flatten")
        add(name="fc", op="dense", units=classes)
    add(name="softmax", op="softmax")
    return layers, expect


def residual() -> tuple[list[dict], list[tuple[str, str]]]:
    layers = [
        dict(name="stem", op="conv", filters=32, bias=False),
        dict(name="stem_bn", op="bn"),
        dict(name="stem_relu", op="relu"),
        dict(name="b1_conv1", op="conv", filters=32, bias=False),
        dict(name="b1_bn1", op="bn"),
        dict(name="b1_relu1", op="relu"),
        dict(name="b1_drop", op="dropout", rate=0.2),
        dict(name="b1_conv2", op="conv", filters=32, bias=False),
        dict(name="b1_bn2", op="bn"),
        dict(name="b1_add", op="add", inputs=["b1_bn2", "stem_relu"]),
        dict(name="b1_relu2", op="relu"),
        dict(name="gap", op="gap"),
        dict(name="flatten", op="flatten"),
        dict(name="fc", op="dense", units=10),
    ]
    return layers, [("AL001", "b1_drop")]


def depthwise_separable() -> tuple[list[dict], list[tuple[str, str]]]:
    layers = [
        dict(name="stem", op="conv", filters=32, stride=2, bias=False),
        dict(name="stem_bn", op="bn"),
        dict(name="stem_relu", op="relu"),
        dict(name="dw1", op="conv", filters=32, groups=32, depthwise=True, bias=False),
        dict(name="dw1_bn", op="bn"),
        dict(name="dw1_relu", op="relu"),
        dict(name="pw1", op="conv", filters=64, kernel=1, bias=False),
        dict(name="pw1_bn", op="bn"),
        dict(name="pw1_relu", op="relu"),
        dict(name="sdrop", op="spatial_dropout", rate=0.1),
        dict(name="dw2", op="conv", filters=64, groups=64, depthwise=True, stride=2, bias=False),
        dict(name="dw2_bn", op="bn"),
        dict(name="dw2_relu", op="relu"),
        dict(name="pw2", op="conv", filters=128, kernel=1, bias=False),
        dict(name="pw2_bn", op="bn"),
        dict(name="pw2_relu", op="relu"),
        dict(name="gap", op="gap"),
        dict(name="flatten", op="flatten"),
        dict(name="fc", op="dense", units=10),
    ]
    return layers, []


def clean_cnn() -> tuple[list[dict], list[tuple[str, str]]]:
    layers: list[dict] = []
    for i, (f, s) in enumerate(((32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1)), start=1):
        layers += [
            dict(name=f"conv{i}", op="conv", filters=f, stride=s, bias=False),
            dict(name=f"bn{i}", op="bn"),
            dict(name=f"relu{i}", op="relu"),
        ]
    layers += [
        dict(name="gap", op="gap"),
        dict(name="flatten", op="flatten"),
        dict(name="drop", op="dropout", rate=0.2),
        dict(name="fc", op="dense", units=10),
    ]
    return layers, []


def expected_kinds(layers: list[dict]) -> list:
    """The op-kind sequence every format must produce for a spec (no I/O nodes)."""
    from archlint.graph import OpKind

    per_op = {
        "conv": [OpKind.CONV],
        "sepconv": [OpKind.CONV, OpKind.CONV],
        "bn": [OpKind.BATCH_NORM],
        "relu": [OpKind.ACTIVATION],
        "softmax": [OpKind.ACTIVATION],
        "dropout": [OpKind.DROPOUT],
        "spatial_dropout": [OpKind.DROPOUT],
        "maxpool": [OpKind.POOL],
        "gap": [OpKind.GLOBAL_POOL],
        "flatten": [OpKind.FLATTEN],
        "dense": [OpKind.DENSE],
        "add": [OpKind.ADD],
    }
    return [k for s in layers for k in per_op[s["op"]]]


def table() -> dict[str, tuple[list[dict], list[tuple[str, str]]]]:
    """Every parity row: name -> (layers, expected findings)."""
    rows = {
        f"article_{v}_{p}_{h}": article(v, p, h) for v in VARIANTS for p in PLACEMENTS for h in HEADS
    }
    rows["residual"] = residual()
    rows["depthwise_separable"] = depthwise_separable()
    rows["clean_cnn"] = clean_cnn()
    return rows
