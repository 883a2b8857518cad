"""Rules walk by meaning (issue 21): one vocabulary of what a walk may pass, each rule saying what
stops it, and no walk through a normalisation without a stated reason."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import archlint.rules as rules_pkg
from archlint.api import check_graph
from archlint.config import Config
from archlint.frontends.keras import from_config
from archlint.graph import NORM_KINDS, OpKind
from archlint.rules import _match
from archlint.rules._match import (
    ELEMENTWISE,
    NORMALISATIONS,
    PASSABLE,
    REGULARISERS,
    WalkSet,
    nearest_downstream,
    stopped_by,
    through,
    walk_up_chain,
)


def test_a_walk_through_a_normalisation_must_say_why() -> None:
    with pytest.raises(ValueError, match="must say why"):
        through(ELEMENTWISE, NORMALISATIONS)
    ok = through(ELEMENTWISE, NORMALISATIONS, norm="the rule's claim survives a normalisation")
    assert NORM_KINDS <= ok and ok.norm
    assert through(ELEMENTWISE, REGULARISERS).norm is None


def test_kinds_outside_the_vocabulary_stop_every_walk() -> None:
    for kind in (OpKind.INPUT, OpKind.OUTPUT, OpKind.ATTENTION, OpKind.EMBEDDING, OpKind.RNN, OpKind.UNKNOWN):
        assert kind not in PASSABLE
        with pytest.raises(ValueError, match="no walk passes"):
            through({kind})
    assert stopped_by(NORMALISATIONS) == PASSABLE - NORM_KINDS


def test_walkers_refuse_an_unexplained_normalisation() -> None:
    g = _graph(("Dense", {"name": "d", "units": 4}))
    node = g.nodes[1]
    with pytest.raises(ValueError, match="normalisation"):
        nearest_downstream(node, frozenset({OpKind.BATCH_NORM}))
    with pytest.raises(ValueError, match="normalisation"):
        walk_up_chain(node, {OpKind.LAYER_NORM})


def test_every_rule_walk_set_comes_from_the_vocabulary() -> None:
    """Every module-level skip-set in a rule module that holds a normalisation is a WalkSet with
    its reason (target sets, which a walk never passes, are not skip-sets and are listed here)."""
    targets = {("al007_dropout_on_logits", "_MIXING"), ("al011_softmax_in_hidden_layer", "_FEATURE_LAYERS"),
               ("_seq", "SEQ_NORMS"), ("al027_dense_on_feature_map", "_KEEPS_MAP")}
    shared = {id(v) for v in (NORM_KINDS, NORMALISATIONS, PASSABLE)}
    unexplained = []
    for info in pkgutil.iter_modules(rules_pkg.__path__):
        mod = importlib.import_module(f"archlint.rules.{info.name}")
        for name, val in vars(mod).items():
            if not (isinstance(val, frozenset) and val and all(isinstance(k, OpKind) for k in val)):
                continue
            if val & NORM_KINDS and (info.name, name) not in targets and id(val) not in shared:
                if not (isinstance(val, WalkSet) and val.norm):
                    unexplained.append(f"{info.name}.{name}")
    assert not unexplained, unexplained
    assert _match.THROUGH_FEATURE_OPS.norm


def _graph(*layers: tuple[str, dict], hwc=(32, 32, 3)):
    out = []
    for i, (cls, cfg) in enumerate(layers):
        cfg = dict(cfg)
        if i == 0:
            cfg["batch_input_shape"] = [None, *hwc]
        out.append({"class_name": cls, "config": cfg})
    return from_config({"class_name": "Sequential", "config": out})


def _codes(graph, *codes):
    return sorted((f.code, f.layer) for f in check_graph(graph, Config(select=list(codes))))


def _conv(name, k=3):
    return ("Conv2D", {"name": name, "filters": 16, "kernel_size": [k, k], "padding": "same", "activation": "relu"})


def test_al004_stops_at_a_layer_norm() -> None:
    """A LayerNorm between a dropout and a batch norm re-standardises the activations: the variance
    shift AL004 warns about does not reach the batch norm (HF MobileViT)."""
    tail = [("BatchNormalization", {"name": "bn"}), ("GlobalAveragePooling2D", {"name": "gap"}),
            ("Dense", {"name": "out", "units": 10})]
    plain = _graph(_conv("c1"), ("Dropout", {"name": "drop", "rate": 0.3}), _conv("c2"), *tail)
    assert _codes(plain, "AL004") == [("AL004", "drop")]
    with_ln = _graph(_conv("c1"), ("Dropout", {"name": "drop", "rate": 0.3}), _conv("c2"),
                     ("LayerNormalization", {"name": "ln", "axis": -1}), _conv("c3"), *tail)
    assert _codes(with_ln, "AL004") == []
