"""The rule runner keeps the graph out of the cyclic collector's walks while the rules run
(archlint.rules.runner), and leaves a caller's own frozen objects frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from archlint.graph import GraphBuilder, OpKind
from archlint.rules import ALL_RULES
from archlint.rules.runner import run_rules


def small_graph():
    b = GraphBuilder("m", "onnx")
    b.add_input("x", (1, 3, 8, 8))
    b.add(OpKind.ACTIVATION, "Relu", "relu", inputs=["x"], outputs=["r"], attrs={"activation": "relu"})
    b.mark_output("r")
    return b.finish()


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The first rule's check replaced by one that records how many objects are frozen."""
    seen: list[int] = []

    def check(self, graph, ctx) -> Iterator:  # noqa: ANN001
        seen.append(gc.get_freeze_count())
        return iter(())

    monkeypatch.setattr(ALL_RULES[0], "check", check)
    return seen


def test_the_graph_is_frozen_while_the_rules_run_and_thawed_after(probe: list[int]) -> None:
    if gc.get_freeze_count() or not gc.isenabled():
        pytest.skip("the test process froze objects itself, or runs without the collector")
    run_rules(small_graph(), [(ALL_RULES[0], {})])
    assert probe and probe[0] > 0  # the rule ran with the existing objects frozen
    assert gc.get_freeze_count() == 0  # and they are the collector's again afterwards


def test_a_callers_own_freeze_is_left_as_it_was(probe: list[int]) -> None:
    if not gc.isenabled():
        pytest.skip("runs without the collector")
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        run_rules(small_graph(), [(ALL_RULES[0], {})])
        assert probe == [before] and gc.get_freeze_count() == before  # neither thawed nor frozen again
    finally:
        gc.unfreeze()
