"""Configuration: one typed object for what rules run and how findings fail.

Loaded from ``[tool.archlint]`` in a pyproject.toml (see :func:`load_config`)
or built from CLI options.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.errors import ConfigError, UsageError
from archlint.findings import Finding, Severity
from archlint.frontends import LoadOptions


@dataclass
class Config:
    select: list[str] | None = None  # codes or prefixes; None = every default rule
    ignore: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.WARNING
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)  # glob -> codes
    per_layer_ignores: dict[str, list[str]] = field(default_factory=dict)  # layer glob -> codes
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> options
    load: LoadOptions = field(default_factory=LoadOptions)
    source: str | None = None  # where the config came from

    def enabled_rules(self) -> list[type]:
        """The rules ``select`` and ``ignore`` switch on, computed once per distinct pair of lists
        (a 200,000-entry list is checked and matched once, not once per file and rule)."""
        key = (None if self.select is None else tuple(self.select), tuple(self.ignore))
        cached = self.__dict__.get("_enabled_cache")
        if cached is not None and cached[0] == key:
            return list(cached[1])
        out = _enabled_rules(self.select, self.ignore)
        self.__dict__["_enabled_cache"] = (key, tuple(out))
        return out

    def is_suppressed(self, finding: Finding) -> str | None:
        """The config entry that silences a finding, or None."""
        matched = self.matching_suppressions(finding)
        return matched[0][0] if matched else None

    def matching_suppressions(self, finding: Finding) -> list[tuple[str, str]]:
        """Every ``(entry, code pattern)`` of the suppressions that match a finding."""
        out = []
        for glob, codes in self.per_file_ignores.items():
            if self._file_matches(finding.path, glob):
                out += [(f"per-file-ignores[{glob!r}]", c) for c in codes if _finding_matches(finding, c)]
        for glob, codes in self.per_layer_ignores.items():
            if finding.layer and fnmatch.fnmatchcase(finding.layer, glob):
                out += [(f"per-layer-ignores[{glob!r}]", c) for c in codes if _finding_matches(finding, c)]
        return out

    def declared_suppressions(self) -> list[tuple[str, str]]:
        """Every ``(entry, code pattern)`` the configuration declares, in order."""
        return [(f"per-file-ignores[{g!r}]", c) for g, cs in self.per_file_ignores.items() for c in cs] + [
            (f"per-layer-ignores[{g!r}]", c) for g, cs in self.per_layer_ignores.items() for c in cs
        ]

    def _file_matches(self, path: str, glob: str) -> bool:
        if _path_matches(path, glob):
            return True
        if not self.source or not path:  # globs are also relative to the config file's folder
            return False
        try:
            rel = Path(path).resolve().relative_to(Path(self.source).resolve().parent)
        except ValueError:
            return False
        return fnmatch.fnmatch(rel.as_posix(), glob)


def _enabled_rules(select: list[str] | None, ignore: list[str]) -> list[type]:
    from archlint.rules import ALL_RULES

    for code in dict.fromkeys([*(select or []), *ignore]):  # each distinct entry checked once
        _check_code(code)

    def compiled(patterns: list[str]) -> tuple[set[str], set[str]]:
        """Upper-cased codes and prefixes, lower-cased names: matched as :func:`rule_matches` does."""
        return {p.strip().upper() for p in patterns}, {p.strip().lower() for p in patterns}

    def hit(codes: tuple[str, ...], name: str, pats: tuple[set[str], set[str]]) -> bool:
        upper, lower = pats
        if "ALL" in upper or name.lower() in lower:
            return True
        return any(c.upper()[:k] in upper for c in codes for k in range(1, len(c) + 1))

    sel = compiled(select) if select is not None else None
    ign = compiled(ignore)
    out = []
    for rule in ALL_RULES:
        codes = (rule.code, *rule.aliases)
        if sel is None:
            on = not rule.opt_in
        else:
            on = hit(codes, rule.name, sel)
            # a prefix like "AL" does not switch on opt-in rules; their full code or name does
            if rule.opt_in and not ({c.upper() for c in codes} & sel[0] or rule.name.lower() in sel[1]):
                on = False
        if hit(codes, rule.name, ign):
            on = False
        if on:
            out.append(rule)
    return out


def rule_matches(pattern: str, code: str, name: str = "", aliases: tuple[str, ...] = ()) -> bool:
    """Whether a ``select``/``ignore``/suppression entry names a rule: ``ALL``,
    a code or code prefix (``AL0``, an old code kept as an alias), or the
    rule's name (``unscaled-attention``, any case). The one matcher used
    wherever a code is accepted, so a name works wherever a code does."""
    p = pattern.strip().upper()
    if p == "ALL" or _is_name(pattern, name):
        return True
    return any(c.upper().startswith(p) for c in (code, *aliases))


def _is_name(pattern: str, name: str) -> bool:
    return bool(name) and pattern.strip().lower() == name.lower()


def _finding_matches(finding: Finding, pattern: str) -> bool:
    from archlint.rules import get_rule

    rule = get_rule(finding.code)
    aliases = rule.aliases if rule is not None else ()
    return rule_matches(pattern, finding.code, finding.rule, aliases)


def _path_matches(path: str, glob: str) -> bool:
    p = Path(path).as_posix()
    return fnmatch.fnmatch(p, glob) or fnmatch.fnmatch(Path(path).name, glob) or fnmatch.fnmatch(p, f"*/{glob}")


def _check_code(code: str) -> None:
    from archlint.rules import ALL_RULES

    c = code.strip().upper()
    if c == "ALL":
        return
    names = [r.name for r in ALL_RULES]
    if code.strip().lower() in names:
        return
    codes = [x for r in ALL_RULES for x in (r.code, *r.aliases)]
    if c and any(x.startswith(c) for x in codes):
        return
    near = _did_you_mean(code.strip().lower(), names) if not c.startswith("AL") else ""
    raise UsageError(f"unknown rule code {code!r}{near} (a code such as AL001, a prefix such as AL0, "
                     f"or a rule name; see 'archlint rules')")


def parse_codes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def parse_severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as e:
        raise UsageError(str(e)) from None


# ---- reading [tool.archlint] ---------------------------------------------------------------

CONFIG_FILES = ("archlint.toml", ".archlint.toml", "pyproject.toml")
_KEYS = ("select", "ignore", "fail-on", "per-file-ignores", "per-layer-ignores", "rules")


def find_config(paths: list[str] | tuple[str, ...] = (), cwd: str | Path | None = None) -> Path | None:
    """The config file that applies: walk up from the first model path (or the
    working directory) and take the first ``archlint.toml``, ``.archlint.toml``
    or ``pyproject.toml`` that has a ``[tool.archlint]`` table. The walk stops
    at the repository root (a folder holding ``.git``): a config above a
    checkout never governs it."""
    start = Path(cwd or Path.cwd())
    if paths and Path(paths[0]).exists():
        start = Path(paths[0]).resolve()
        if not start.is_dir():
            start = start.parent
    for d in _up_to_repo_root(start.resolve()):
        for name in CONFIG_FILES:
            f = d / name
            if not f.is_file():
                continue
            if name != "pyproject.toml":
                return f
            try:
                if "archlint" in _read_toml(f).get("tool", {}):
                    return f
            except ConfigError:
                return f  # a broken pyproject.toml on the way up is reported, not skipped
    return None


def _up_to_repo_root(start: Path) -> Iterator[Path]:
    for d in (start, *start.parents):
        yield d
        if (d / ".git").exists():
            return


class PerFileConfig:
    """Each model file's configuration: the nearest config file walking up
    from that file (:func:`find_config`), so a config in a sub-folder narrows
    or widens the rules only for the files below it, never for the rest of
    the run. ``adjust`` applies the command-line options (``--select``,
    ``--ignore`` ...) to every config read; load options are the run's."""

    def __init__(self, base: Config, adjust: Callable[[Config], None]) -> None:
        self.base = base
        self.adjust = adjust
        self._by_dir: dict[Path, Config] = {}
        self._by_file: dict[str, Config] = {}

    def __call__(self, target: str) -> Config:
        p = Path(target)
        try:
            if not os.path.lexists(p):
                return self.base  # a factory spec: the run's config
            d = p.resolve().parent if not p.is_dir() else p.resolve()
        except (OSError, RuntimeError):
            return self.base
        if d in self._by_dir:
            return self._by_dir[d]
        found = find_config([str(d)])
        key = str(found) if found else ""
        if key == (self.base.source or ""):
            conf = self.base
        elif key in self._by_file:
            conf = self._by_file[key]
        else:
            conf = load_config(found) if found else Config()
            conf.load = self.base.load
            self.adjust(conf)
            conf.fail_on = self.base.fail_on  # the exit code is the run's
            conf.enabled_rules()  # unknown codes are a configuration error before any work
            self._by_file[key] = conf
        self._by_dir[d] = conf
        return conf


def resolve_config(config_path: str | Path | None, paths: list[str] | tuple[str, ...] = ()) -> Config:
    """The configuration for a run: ``--config PATH`` if given, else the file
    :func:`find_config` finds, else the defaults."""
    if config_path is not None:
        f = Path(config_path)
        if not f.is_file():
            raise ConfigError(f"{f}: config file not found")
        return load_config(f, required=True)
    found = find_config(list(paths))
    return load_config(found) if found else Config()


def load_config(path: str | Path, *, required: bool = False) -> Config:
    """Read one config file: ``[tool.archlint]`` of a pyproject.toml, or the
    top-level table of any other TOML file."""
    f = Path(path)
    data = _read_toml(f)
    if f.name == "pyproject.toml":
        table = data.get("tool", {}).get("archlint")
        if table is None:
            if required:
                raise ConfigError(f"{f}: no [tool.archlint] table")
            return Config(source=str(f))
        prefix = "tool.archlint"
    else:
        table, prefix = data, ""
    return config_from_table(table, source=str(f), prefix=prefix)


def _read_toml(f: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(f, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{f}: not valid TOML ({e})") from None
    except RecursionError:
        raise ConfigError(f"{f}: not valid TOML (nested too deeply)") from None
    except OSError as e:
        raise ConfigError(f"{f}: cannot read ({e.strerror or e})") from None


def config_from_table(table: dict[str, Any], *, source: str = "<config>", prefix: str = "") -> Config:
    """Validate a config table and build a :class:`Config`. Every problem is a
    :class:`ConfigError` naming the file and the key."""

    def key(*parts: str) -> str:
        return ".".join(p for p in (prefix, *parts) if p)

    def fail(k: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {k}: {problem}")

    if not isinstance(table, dict):
        raise fail(key(), "must be a table")
    for k in table:
        if k not in _KEYS:
            raise fail(key(k), f"unknown key{_did_you_mean(k, _KEYS)} (known: {', '.join(_KEYS)})")
    conf = Config(source=source)
    if "select" in table:
        conf.select = _codes(table["select"], key("select"), fail)
    if "ignore" in table:
        conf.ignore = _codes(table["ignore"], key("ignore"), fail)
    if "fail-on" in table:
        v = table["fail-on"]
        if not isinstance(v, str):
            raise fail(key("fail-on"), f"must be a string (info, warning or error), got {_tname(v)}")
        try:
            conf.fail_on = Severity.parse(v)
        except ValueError as e:
            raise fail(key("fail-on"), str(e)) from None
    for name, attr in (("per-file-ignores", "per_file_ignores"), ("per-layer-ignores", "per_layer_ignores")):
        if name not in table:
            continue
        v = table[name]
        if not isinstance(v, dict):
            raise fail(key(name), f"must be a table of glob = [codes], got {_tname(v)}")
        setattr(conf, attr, {g: _codes(cs, key(name, _q(g)), fail) for g, cs in v.items()})
    if "rules" in table:
        conf.rule_options = _rule_options(table["rules"], key, fail)
    return conf


def _codes(v: Any, k: str, fail: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
        raise fail(k, f"must be a list of rule codes, got {_tname(v)}")
    for c in dict.fromkeys(v):  # each distinct entry checked once (a list may repeat one 200,000 times)
        try:
            _check_code(c)
        except UsageError as e:
            raise fail(k, str(e)) from None
    return list(v)


def _rule_options(v: Any, key: Any, fail: Any) -> dict[str, dict[str, Any]]:
    from archlint.rules import get_rule

    if not isinstance(v, dict):
        raise fail(key("rules"), f"must be a table of [rules.CODE] tables, got {_tname(v)}")
    out: dict[str, dict[str, Any]] = {}
    for code, opts in v.items():
        k = key("rules", code)
        rule = get_rule(code)
        if rule is None:
            raise fail(k, f"unknown rule code {code!r} (see 'archlint rules')")
        if not isinstance(opts, dict):
            raise fail(k, f"must be a table of options, got {_tname(opts)}")
        known = dict(rule.options)
        for name, value in opts.items():
            if name not in known:
                have = ", ".join(sorted(known)) or "none"
                raise fail(f"{k}.{name}", f"unknown option for {rule.code}{_did_you_mean(name, known)} (options: {have})")
            out.setdefault(rule.code, {})[name] = _typed(value, known[name], f"{k}.{name}", fail)
    return out


def _typed(value: Any, default: Any, k: str, fail: Any) -> Any:
    """``value`` checked against the type of the option's default."""
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple, frozenset, set)):
        ok = isinstance(value, list)
        value = type(default)(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise fail(k, f"must be {_tname(default)} (default {default!r}), got {_tname(value)} {value!r}")
    return value


def _tname(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            tuple: "a list", dict: "a table", frozenset: "a list", set: "a list"}.get(type(v), type(v).__name__)


def _q(s: str) -> str:
    return f'"{s}"'


def _did_you_mean(word: str, choices: Any) -> str:
    import difflib

    near = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


__all__ = ["Config", "ConfigError", "find_config", "load_config", "parse_codes", "parse_severity", "resolve_config"]
