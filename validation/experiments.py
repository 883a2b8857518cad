"""Which runs back which rule: the pre-registered design.

A comparison is (treatment - reference) of final test accuracy between runs with the same seed
(same initial weights where the layers match, same data order), so the analysis is paired.

Each rule has one **pre-registered primary claim**, fixed before any run, with the logic that
turns its comparisons into one verdict:

- ``all`` (intersection-union): the claim holds only if every primary comparison holds; each is
  tested at level alpha with no multiplicity correction (an intersection-union test is level alpha
  as it stands; Holm on top of it would only throw power away). It is contradicted as soon as one
  component is.
- ``any``: the claim holds if at least one comparison holds; Holm's step-down correction keeps the
  family-wise error at alpha. Used for the secondary (exploratory) comparisons of a rule.
- ``noninferior``: the treatment is at least as accurate as the reference up to a stated margin.

``min_effect`` is the smallest accuracy difference that matters for a rule (the minimum effect of
interest): a directional claim is also *contradicted* when the interval excludes an effect that
large in the predicted direction, and every inconclusive verdict reports the smallest effect the
run could have detected (power).

The placement grid has no mathematically identical cells. Dropout before and after a ReLU is the
same network: for a 0/1 mask m and keep probability k, ReLU(m * x / k) = m * ReLU(x) / k, and with
the same seed the masks are the same, so ``dropoutR @before`` and ``dropoutR @after`` train bit for
bit alike (``tests/validation/test_design.py`` checks it). Dropout is therefore trained at
``before`` (the article's placement) and ``pool`` only; batch norm, which does not commute with
ReLU, keeps all three placements.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import PLACEMENTS

RULES = {
    "AL001": "dropout-between-conv",
    "AL002": "bn-after-activation",
    "AL003": "dense-head",
}
PROTOCOLS = ("faithful", "modern")
BASE_HEAD = "dense1000"
DROPOUT_RATES = ("dropout0.5", "dropout0.3", "dropout0.1")
#: placements where a variant is trained: dropout commutes with ReLU, so `after` would duplicate `before`
VARIANT_PLACEMENTS = {"dropout": ("before", "pool"), "bn": ("before", "after", "pool")}
ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Claim:
    rule: str
    text: str
    logic: str  # all | any | noninferior
    min_effect: float  # minimum effect of interest (accuracy, absolute); the margin for noninferior
    primary: str  # the pre-registered primary comparisons, in words


CLAIMS = {
    "AL001": Claim(
        "AL001",
        "Dropout between convolutions (rates 0.5 and 0.3, before the activation as in the 2018 article) "
        "lowers test accuracy compared with the same network without it.",
        "all", 0.02, "dropout 0.5 and dropout 0.3 @before vs control; both must hold"),
    "AL002": Claim(
        "AL002",
        "BatchNorm between the convolution and the activation beats BatchNorm after the activation.",
        "all", 0.01, "bn @after vs bn @before"),
    "AL003": Claim(
        "AL003",
        "A global-average-pooling head is at least as accurate as the flatten + dense head "
        "(non-inferior within 0.01 accuracy).",
        "noninferior", 0.01, "gap head vs Flatten-Dense(1000) head, margin 0.01"),
}


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

    def spec(self, protocol: str, seed: int):
        from .train import RunSpec  # numpy; keep this module importable without it

        return RunSpec(protocol, self.variant, self.placement, self.head, seed)


CONTROL = Config("control")


@dataclass(frozen=True)
class Comparison:
    rule: str
    experiment: str
    treatment: Config
    reference: Config
    expected_sign: int  # predicted sign of treatment - reference (0 for a noninferiority claim)
    role: str = "primary"  # primary | secondary | context

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
    for pl in VARIANT_PLACEMENTS["dropout"]:
        if pl not in placements:
            continue
        for v in DROPOUT_RATES:
            primary = pl == "before" and v in ("dropout0.5", "dropout0.3")
            comps.append(Comparison("AL001", "variants", Config(v, pl), CONTROL, -1,
                                    "primary" if primary else "secondary"))
    for pl in VARIANT_PLACEMENTS["bn"]:
        if pl in placements:
            comps.append(Comparison("AL002", "variants", Config("bn", pl), CONTROL, +1, "context"))
    return Experiment("variants", "The 2018 grid without duplicate cells", ("AL001", "AL002"), tuple(comps))


def _bn_placement() -> Experiment:
    comps = (Comparison("AL002", "bn_placement", Config("bn", "after"), Config("bn", "before"), -1),)
    return Experiment("bn_placement", "BatchNorm before versus after the activation", ("AL002",), comps)


def _head() -> Experiment:
    comps = (Comparison("AL003", "head", Config("control", "none", "gap"),
                        Config("control", "none", "dense1000"), 0),)
    return Experiment("head", "Global average pooling versus the flatten + dense head", ("AL003",), comps)


def experiments(placements=PLACEMENTS) -> list[Experiment]:
    return [_grid(placements), _bn_placement(), _head()]


def _code(rule: str) -> str:
    """A rule code from a code or a rule name (``dropout-between-conv`` -> ``AL001``)."""
    from archlint.rules import get_rule

    found = get_rule(rule.strip())
    return found.code if found is not None else rule.strip().upper()


def select(rules: list[str] | None = None, placements=PLACEMENTS, primary_only: bool = False) -> list[Comparison]:
    """Comparisons backing the given rules (all when None). Comparisons whose configs need an
    unselected placement are dropped; ``primary_only`` keeps the pre-registered primary ones."""
    wanted = {_code(r) for r in rules} if rules else set(RULES)
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown rule code(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}")
    out = []
    for exp in experiments(placements):
        for c in exp.comparisons:
            if c.rule not in wanted or (primary_only and c.role != "primary"):
                continue
            if any(cfg.placement not in ("none", *placements) for cfg in (c.treatment, c.reference)):
                continue
            out.append(c)
    return out


def configs_of(comparisons: list[Comparison]) -> list[Config]:
    configs: list[Config] = []
    for c in comparisons:
        for cfg in (c.reference, c.treatment):
            if cfg not in configs:
                configs.append(cfg)
    return configs


def run_specs(comparisons: list[Comparison], protocols, seeds: list[int]) -> list:
    """Unique runs the comparisons need (a shared control is trained once), seed by seed: a grid
    stopped early still holds complete pairs for the seeds it finished."""
    return [cfg.spec(p, s) for p in protocols for s in seeds for cfg in configs_of(comparisons)]
