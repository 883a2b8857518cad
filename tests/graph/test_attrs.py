"""Typed attributes per kind: dict access unchanged, declared fields checked (archlint.graph.attrs)."""

from __future__ import annotations

import json
import pickle

import pytest

from archlint.graph import ATTRS, GraphBuilder, GraphError, OpKind, attrs_for
from archlint.graph.attrs import Attrs, ConvAttrs, DropoutAttrs, contract_table


def test_dict_access_is_unchanged() -> None:
    a = attrs_for(OpKind.CONV, {"channels": 8, "kernel": (3, 3), "vendor_key": [1, "x"]})
    assert isinstance(a, dict) and type(a) is ConvAttrs
    assert a["channels"] == 8 and a.get("stride", (1, 1)) == (1, 1) and "kernel" in a
    assert a["vendor_key"] == [1, "x"]  # keys a kind does not declare are kept
    assert {**a} == dict(a) == {"channels": 8, "kernel": (3, 3), "vendor_key": [1, "x"]}
    assert a == {"channels": 8, "kernel": (3, 3), "vendor_key": [1, "x"]}
    assert json.loads(json.dumps(a)) == {"channels": 8, "kernel": [3, 3], "vendor_key": [1, "x"]}
    assert repr(a) == repr(dict(a))


def test_typed_reads_give_the_declared_default_when_unset() -> None:
    a = attrs_for(OpKind.CONV, {"channels": 8})
    assert a.channels == 8
    assert a.groups == 1 and a.transposed is False and a.padding == "valid" and a.params == 0
    assert a.get("groups") is None and "groups" not in a  # the mapping still says what the file gave
    d = attrs_for(OpKind.DROPOUT, {"rate": 0.3})
    assert (d.rate, d.spatial, d.flavour) == (0.3, False, "dropout")
    assert attrs_for(OpKind.ATTENTION).dropout == 0.0


@pytest.mark.parametrize(
    ("kind", "key", "value", "want"),
    [
        (OpKind.CONV, "kernel", "3x3", "conv node: attribute 'kernel' must be ints"),
        (OpKind.CONV, "channels", 8.5, "conv node: attribute 'channels' must be int"),
        (OpKind.DENSE, "units", True, "dense node: attribute 'units' must be int"),  # a bool is not a size
        (OpKind.CONV, "padding", 3.0, "conv node: attribute 'padding' must be str or ints"),
        (OpKind.BATCH_NORM, "epsilon", "1e-3", "batch_norm node: attribute 'epsilon' must be number"),
        (OpKind.ACTIVATION, "activation", 1, "activation node: attribute 'activation' must be str"),
        (OpKind.RNN, "bidirectional", "yes", "rnn node: attribute 'bidirectional' must be bool"),
        (OpKind.EMBEDDING, "params", -0.5, "embedding node: attribute 'params' must be int"),
    ],
)
def test_a_bad_value_is_a_clear_graph_error(kind: OpKind, key: str, value: object, want: str) -> None:
    with pytest.raises(GraphError, match=want):
        attrs_for(kind, {key: value})
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 3, 8, 8))
    with pytest.raises(GraphError, match=repr(value).replace("(", r"\(")):
        b.add(kind, "Op", "layer", inputs=["x"], outputs=["y"], attrs={key: value})


def test_none_means_unknown_and_is_always_accepted() -> None:
    a = attrs_for(OpKind.CONV, {"channels": None, "kernel": None, "padding": None})
    assert a.channels is None and a.kernel is None


def test_setting_a_field_later_is_checked_too() -> None:
    a = attrs_for(OpKind.DENSE, {"units": 4})
    a["tied"] = "emb"
    a.units = 8
    assert a == {"units": 8, "tied": "emb"}
    with pytest.raises(GraphError, match="dense node: attribute 'tied' must be str"):
        a["tied"] = 3
    with pytest.raises(GraphError, match="attribute 'units'"):
        a.units = "eight"
    with pytest.raises(AttributeError):
        a.not_a_field = 1  # no instance attributes: a typo cannot pass silently


@pytest.mark.parametrize(("given", "kept"), [(0.3, 0.3), ("0.25", 0.25), ("half", None), (7, None), (float("nan"), None), (10**400, None)])
def test_a_dropout_rate_is_a_probability_or_unknown(given: object, kept: float | None) -> None:
    assert attrs_for(OpKind.DROPOUT, {"rate": given})["rate"] == kept
    d = attrs_for(OpKind.DROPOUT)
    d["rate"] = given
    assert d.rate == kept


def test_every_kind_has_a_record_and_no_field_hides_a_dict_method() -> None:
    assert set(ATTRS) == set(OpKind)
    for kind, cls in ATTRS.items():
        assert cls.KIND is kind and issubclass(cls, Attrs)
        assert not set(cls.FIELDS) & set(dir(dict))
        assert set(Attrs.FIELDS) <= set(cls.FIELDS)
    with pytest.raises(TypeError, match="hides a dict method"):
        type("Bad", (Attrs,), {"FIELDS": {"items": Attrs.FIELDS["params"]}})


def test_records_pickle_as_their_kind() -> None:
    a = attrs_for(OpKind.DROPOUT, {"rate": 0.5, "extra": 1})
    b = pickle.loads(pickle.dumps(a))
    assert type(b) is DropoutAttrs and b == a


def test_the_contract_table_lists_each_kinds_fields() -> None:
    table = contract_table()
    for kind, cls in ATTRS.items():
        for name in set(cls.FIELDS) - set(Attrs.FIELDS):
            assert f"| {kind.value} | `{name}` |" in table
    assert "| dropout | `rate` | number |" in table
