"""The rule registry: every rule class, in code order."""

from __future__ import annotations

from archlint.rules.al001_dropout_between_conv import DropoutBetweenConv
from archlint.rules.al002_bn_after_activation import BnAfterActivation
from archlint.rules.al003_dense_head import DenseHead
from archlint.rules.al900_export_hides_layers import ExportHidesLayers
from archlint.rules.base import Rule, RuleContext

ALL_RULES: tuple[type[Rule], ...] = (
    DropoutBetweenConv,
    BnAfterActivation,
    DenseHead,
    ExportHidesLayers,
)

_BY_CODE: dict[str, type[Rule]] = {}
for _r in ALL_RULES:
    for _c in (_r.code, *_r.aliases):
        if _c in _BY_CODE:
            raise RuntimeError(f"rule code {_c} used twice")
        _BY_CODE[_c] = _r
_BY_NAME = {r.name: r for r in ALL_RULES}


def get_rule(code_or_name: str) -> type[Rule] | None:
    """A rule by code (or alias) or by name, case-insensitive for codes."""
    return _BY_CODE.get(code_or_name.upper()) or _BY_NAME.get(code_or_name.lower())


__all__ = ["ALL_RULES", "Rule", "RuleContext", "get_rule"]
