"""Which runs back which rule: experiments, their comparisons and the claims they test.

A comparison is (treatment - reference) of final test accuracy; ``expected_sign`` is the sign the
rule's claim predicts. Claim comparisons of one rule and protocol form one Holm family; context
comparisons are reported but do not enter the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import PLACEMENTS
from .train import RunSpec

RULES = {
    "AL001": "dropout-between-conv",
    "AL002": "bn-after-activation",
    "AL003": "dense-head",
}
CLAIMS = {
    "AL001": "Dropout between convolutions lowers accuracy compared with the same network without it.",
    "AL002": "BatchNorm between the convolution and the activation beats BatchNorm after the activation.",
    "AL003": "A global-average-pooling head is at least as accurate as the flatten + dense head.",
}
PROTOCOLS = ("faithful", "modern")
BASE_HEAD = "dense1000"


@dataclass(frozen=True)
class Config:
    """A run configuration without its seed."""

    variant: str
    placement: str = "none"
    head: str = BASE_HEAD

    @property
    def label(self) -> str:
        p = "" if self.placement == "none" else f" @{self.placement}"
        h = "" if self.head == BASE_HEAD else f" [{self.head} head]"
        return f"{self.variant}{p}{h}"

    def spec(self, protocol: str, seed: int) -> RunSpec:
        return RunSpec(protocol, self.variant, self.placement, self.head, seed)


CONTROL = Config("control")


@dataclass(frozen=True)
class Comparison:
    rule: str
    experiment: str
    treatment: Config
    reference: Config
    expected_sign: int  # predicted sign of treatment - reference
    role: str = "claim"  # claim | context

    @property
    def label(self) -> str:
        return f"{self.treatment.label} vs {self.reference.label}"


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    rules: tuple[str, ...]
    comparisons: tuple[Comparison, ...]


def _grid(placements) -> Experiment:
    comps = []
    for pl in placements:
        for v in ("dropout0.5", "dropout0.3", "dropout0.1"):
            comps.append(Comparison("AL001", "variants", Config(v, pl), CONTROL, -1))
        comps.append(Comparison("AL002", "variants", Config("bn", pl), CONTROL, +1, "context"))
    return Experiment("variants", "The 2018 grid: 5 variants x 3 placements", ("AL001", "AL002"), tuple(comps))


def _bn_placement() -> Experiment:
    comps = (Comparison("AL002", "bn_placement", Config("bn", "after"), Config("bn", "before"), -1),)
    return Experiment("bn_placement", "BatchNorm before versus after the activation", ("AL002",), comps)


def _head() -> Experiment:
    comps = (Comparison("AL003", "head", Config("control", "none", "dense1000"),
                        Config("control", "none", "gap"), -1),)
    return Experiment("head", "Flatten + dense head versus global average pooling", ("AL003",), comps)


def experiments(placements=PLACEMENTS) -> list[Experiment]:
    return [_grid(placements), _bn_placement(), _head()]


def select(rules: list[str] | None = None, placements=PLACEMENTS) -> list[Comparison]:
    """Comparisons backing the given rules (all when None). Context comparisons are kept only when
    their rule is selected. Comparisons whose configs need an unselected placement are dropped."""
    wanted = {r.upper() for r in rules} if rules else set(RULES)
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown rule code(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}")
    out = []
    for exp in experiments(placements):
        for c in exp.comparisons:
            if c.rule not in wanted:
                continue
            if any(cfg.placement not in ("none", *placements) for cfg in (c.treatment, c.reference)):
                continue
            out.append(c)
    return out


def run_specs(comparisons: list[Comparison], protocols, seeds: list[int]) -> list[RunSpec]:
    """Unique runs the comparisons need (a shared control is trained once)."""
    configs: list[Config] = []
    for c in comparisons:
        for cfg in (c.reference, c.treatment):
            if cfg not in configs:
                configs.append(cfg)
    return [cfg.spec(p, s) for p in protocols for cfg in configs for s in seeds]
