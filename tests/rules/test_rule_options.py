"""Per-rule thresholds come from ``options`` and can be tuned through the config;
opt-in rules stay off unless selected by code."""

from __future__ import annotations

from pathlib import Path

import pytest

from archlint import lint
from archlint.config import Config
from archlint.rules import get_rule

ONNX = Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "onnx"


def _codes(model: str, code: str, **options) -> list[str]:
    cfg = Config(select=[code], rule_options={code: options} if options else {})
    return [f.layer for f in lint(ONNX / f"{model}.onnx", cfg)]


@pytest.mark.parametrize(
    ("model", "code", "loosen", "tighten_on_ok"),
    [
        ("al006", "AL006", {"max_rate": 0.9}, {"max_rate": 0.4}),
        ("al010", "AL010", {"min_layers": 5}, None),
        ("al012", "AL012", {"min_convs": 9}, None),
        ("al013", "AL013", {"max_depth": 30}, None),
        ("al015", "AL015", {"max_input": 16}, None),
        ("al016", "AL016", {"cap_channels": 16}, None),
        ("al017", "AL017", {"min_reduction": 8}, None),
        ("al018", "AL018", {"max_share": 0.995}, None),
        ("al020", "AL020", {"multiple": 4}, {"multiple": 16}),
        ("al022", "AL022", {"min_kernel": 9}, None),
    ],
)
def test_options_move_the_threshold(model: str, code: str, loosen: dict, tighten_on_ok: dict | None) -> None:
    assert set(loosen) <= set(get_rule(code).options), "option must be declared with its default"
    assert _codes(f"{model}_bad", code), "fires with the defaults"
    assert _codes(f"{model}_bad", code, **loosen) == []
    if tighten_on_ok:
        assert _codes(f"{model}_ok", code) == []
        assert _codes(f"{model}_ok", code, **tighten_on_ok), "a stricter threshold flags the near miss"


@pytest.mark.parametrize("code", ["AL019", "AL020"])
def test_opt_in_rules_need_their_code(code: str) -> None:
    model = ONNX / f"{code.lower()}_bad.onnx"
    assert get_rule(code).opt_in
    assert not [f for f in lint(model, Config()) if f.code == code]
    assert not [f for f in lint(model, Config(select=["AL0"])) if f.code == code]
    assert [f for f in lint(model, Config(select=[code])) if f.code == code]
