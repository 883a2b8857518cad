"""The rule registry: every rule class, in code order, discovered from the
``alNNN_*.py`` files of this package (:func:`discover`)."""

from __future__ import annotations

import importlib
import pkgutil
import re

from archlint.rules.base import Rule, RuleContext

#: a rule module: ``alNNN_name_of_the_anti_pattern.py``
RULE_MODULE = re.compile(r"^al\d{3}_[a-z0-9_]+$")


def discover() -> tuple[type[Rule], ...]:
    """Every rule class, in code order: the one :class:`Rule` subclass each
    ``alNNN_*.py`` module of this package defines. Nothing to register by hand:
    a new rule file is found by its name."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not RULE_MODULE.match(info.name):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rules = [v for v in vars(module).values()
                 if isinstance(v, type) and issubclass(v, Rule) and v.__module__ == module.__name__]
        if len(rules) != 1:
            raise RuntimeError(f"{module.__name__} must define one rule class, found {len(rules)}")
        if rules[0].code.lower() != info.name[:5]:
            raise RuntimeError(f"{module.__name__} defines {rules[0].code}: a rule file is named after its code")
        found.append(rules[0])
    return tuple(sorted(found, key=lambda r: r.code))


ALL_RULES: tuple[type[Rule], ...] = discover()

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
