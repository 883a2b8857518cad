"""Small-sample statistics for the validation experiments, on scipy (the ``validate`` extra).

- Student-t CDF and quantile: :mod:`scipy.special` (``stdtr``, ``stdtrit``); the regularised
  incomplete beta function is ``scipy.special.betainc``.
- Per configuration: mean, sd and a t confidence interval.
- Per comparison, **paired** across seeds (runs with the same seed share initial weights and data
  order): the paired t on per-seed differences, and beside it two exact tests that need no
  normality, the sign-flip permutation test and the sign test. A decision uses the larger of the
  paired-t and permutation p-values.
- Zero variance is handled exactly: when every per-seed difference is the same the t statistic
  is undefined (reported as None, never p = 0) and the exact permutation test decides; with n
  seeds its smallest two-sided p-value is 2 / 2**n, so n < 6 can never reach 0.05.
- Power: the smallest effect the run could detect (80% power, two-sided alpha) from the observed
  sd of the differences, reported with every inconclusive verdict.
- Verdicts: directional claims with a minimum effect of interest, non-inferiority with a margin,
  intersection-union for "all" claims, Holm's step-down correction for "any" claims.
- Welch's unpaired comparison is kept for reference (the tests show what pairing gains):
  ``scipy.stats.ttest_ind(equal_var=False)``.
- The exact tests are scipy's: the sign test is ``scipy.stats.binomtest``, the sign-flip
  permutation test ``scipy.stats.permutation_test`` on the paired differences (every one of the
  2**n sign patterns up to n = 20 seeds). Holm's step-down correction has no scipy version
  (``false_discovery_control`` is Benjamini-Hochberg) and stays here, a few lines.

scipy is imported inside the functions: importing this module (the bundled evidence does) costs
nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

__all__ = [
    "Paired",
    "paired",
    "permutation_p",
    "sign_test_p",
    "detectable_effect",
    "directional_verdict",
    "noninferiority_verdict",
    "combine_all",
    "combine_any",
    "betainc",
    "t_cdf",
    "t_ppf",
    "Summary",
    "summarize",
    "Welch",
    "welch",
    "holm",
    "verdict",
]


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    from scipy.special import betainc as _betainc

    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return float(_betainc(a, b, x))


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with (possibly non-integer) df > 0."""
    from scipy.special import stdtr

    if math.isnan(t) or not df > 0:
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    return float(stdtr(df, t))


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t (inverse of :func:`t_cdf`)."""
    from scipy.special import stdtrit

    if not 0.0 < p < 1.0 or not df > 0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        return math.nan
    if p == 0.5:
        return 0.0
    return float(stdtrit(df, p))


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return asdict(self)


def _mean_var(xs: Sequence[float]) -> tuple[float, float]:
    n = len(xs)
    m = sum(xs) / n
    var = sum((x - m) ** 2 for x in xs) / (n - 1) if n > 1 else math.nan
    return m, var


def summarize(values: Iterable[float], level: float = 0.95) -> Summary:
    """Mean, sample sd and the two-sided t confidence interval of the mean."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    m, var = _mean_var(xs)
    if n < 2:
        return Summary(n, m, math.nan, math.nan, math.nan)
    sd = math.sqrt(var)
    half = t_ppf(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return Summary(n, m, sd, m - half, m + half)


@dataclass(frozen=True)
class Welch:
    diff: float  # mean(treatment) - mean(reference)
    se: float
    df: float
    ci_low: float
    ci_high: float
    t: float
    p: float  # two-sided, unadjusted

    def to_dict(self) -> dict:
        return asdict(self)


def welch(treatment: Sequence[float], reference: Sequence[float], level: float = 0.95) -> Welch:
    """Welch's unequal-variance comparison of two means (Welch-Satterthwaite df)."""
    a = [float(v) for v in treatment]
    b = [float(v) for v in reference]
    nan = math.nan
    if len(a) < 2 or len(b) < 2:
        diff = (sum(a) / len(a) - sum(b) / len(b)) if a and b else nan
        return Welch(diff, nan, nan, nan, nan, nan, nan)
    ma, va = _mean_var(a)
    mb, vb = _mean_var(b)
    diff = ma - mb
    qa, qb = va / len(a), vb / len(b)
    se = math.sqrt(qa + qb)
    if se == 0.0:
        # Both groups constant (e.g. every run collapsed to chance): t is undefined. Two runs that
        # tie are no evidence of anything, so no p = 0 here: p is NaN (and 1 for equal groups).
        df = float(len(a) + len(b) - 2)
        return Welch(diff, 0.0, df, nan, nan, nan, 1.0 if diff == 0.0 else nan)
    import warnings

    from scipy.stats import ttest_ind

    with warnings.catch_warnings():  # a constant group: scipy warns of precision loss; the result stands
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(level)
    return Welch(diff, se, float(res.df), float(ci.low), float(ci.high), float(res.statistic), float(res.pvalue))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (NaN counts as 1), in the input order."""
    ps = [1.0 if (p is None or math.isnan(p)) else float(p) for p in pvalues]
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj


def verdict(diff: float, p_adjusted: float, expected_sign: int, alpha: float = 0.05) -> str:
    """'supported' / 'contradicted' / 'inconclusive' for one comparison.

    expected_sign is the sign the rule's claim predicts for (treatment - reference) accuracy.
    """
    if math.isnan(diff) or math.isnan(p_adjusted) or p_adjusted >= alpha or diff == 0.0:
        return "inconclusive"
    return "supported" if (diff > 0) == (expected_sign > 0) else "contradicted"


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """A rule's verdict from its comparisons: all supported -> supported; any contradicted and
    none supported -> contradicted; otherwise inconclusive."""
    if not verdicts:
        return "inconclusive"
    if all(v == "supported" for v in verdicts):
        return "supported"
    if any(v == "contradicted" for v in verdicts) and not any(v == "supported" for v in verdicts):
        return "contradicted"
    return "inconclusive"


# ----------------------------------------------------------------------------------------------
# paired analysis across seeds

_EXACT_MAX_N = 20
#: sign patterns drawn (seeded) above _EXACT_MAX_N seeds
_DRAWS = 200_000
#: sums of differences equal to this many decimal places are ties (accuracies differ in steps of
#: 1 / test images, far coarser)
_TIE_DECIMALS = 9


def sign_test_p(diffs: Sequence[float]) -> float:
    """Exact two-sided sign test (zero differences dropped); 1.0 when nothing is left."""
    from scipy.stats import binomtest

    pos = sum(1 for d in diffs if d > 0)
    neg = sum(1 for d in diffs if d < 0)
    n = pos + neg
    if n == 0:
        return 1.0
    return float(binomtest(pos, n, 0.5).pvalue)


def permutation_p(diffs: Sequence[float], alternative: str = "two-sided", shift: float = 0.0) -> float:
    """Exact sign-flip permutation test of mean(diffs - shift) = 0 (all 2**n sign patterns; a
    seeded Monte Carlo of 200,000 patterns above n = 20): ``scipy.stats.permutation_test`` on
    the one sample of differences, whose signs it flips. ``alternative``: two-sided, less,
    greater. Ties with the observed statistic count as at least as extreme, so p >= 1 / 2**n:
    never 0."""
    import numpy as np
    from scipy.stats import permutation_test

    d = np.array([float(x) - shift for x in diffs])
    n = len(d)
    if n == 0 or np.isnan(d).any():
        return math.nan
    if n == 1:  # scipy wants two observations; the two sign patterns by hand
        return _one_seed_p(float(d[0]), alternative)
    exact = n <= _EXACT_MAX_N
    res = permutation_test(
        (d,), _tied_sum, permutation_type="samples", alternative=alternative, vectorized=True,
        n_resamples=2 ** n if exact else _DRAWS, batch=1 << 16, rng=None if exact else np.random.default_rng(12345),
    )
    return float(res.pvalue)


def _tied_sum(x, axis: int = -1):
    """The sum of the (sign-flipped) differences, rounded to :data:`_TIE_DECIMALS` places: two
    sign patterns whose sums are equal in exact arithmetic (0.0054 - 0.0014 and 0.0040, from
    accuracies on a grid of 1/5000) differ by ~1e-18 in floating point, which
    ``permutation_test``'s tie tolerance (100 ulp of the observed value) does not absorb; rounded,
    they tie, as they must."""
    import numpy as np

    return np.round(np.sum(x, axis=axis), _TIE_DECIMALS)


def _one_seed_p(d: float, alternative: str) -> float:
    totals = (d, -d)
    if alternative == "greater":
        return sum(t >= d for t in totals) / 2.0
    if alternative == "less":
        return sum(t <= d for t in totals) / 2.0
    return sum(abs(t) >= abs(d) for t in totals) / 2.0


def detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired t at ``alpha`` detects with ``power``
    (noncentral t approximated by the central quantiles: (t_{1-a/2} + t_{power}) sd / sqrt(n)).
    Infinite when n seeds cannot reach ``alpha`` in the exact permutation test (2 / 2**n > alpha)."""
    if n < 2 or sd is None or not math.isfinite(sd):
        return math.inf
    if 2.0 / 2.0 ** n > alpha:
        return math.inf
    return (t_ppf(1.0 - alpha / 2.0, n - 1) + t_ppf(power, n - 1)) * sd / math.sqrt(n)


@dataclass(frozen=True)
class Paired:
    n: int
    diff: float  # mean over seeds of (treatment - reference)
    sd: float  # sd of the per-seed differences
    se: float
    df: float
    ci_low: float  # paired-t interval; the single point when every difference is equal
    ci_high: float
    t: float | None  # None when sd == 0 (undefined, never +-inf)
    p_t: float | None  # two-sided paired t; None when undefined
    p_perm: float  # exact two-sided sign-flip permutation test
    p_sign: float  # exact two-sided sign test
    p: float  # the decision p-value: max(p_t, p_perm), p_perm alone when p_t is undefined
    detectable: float  # smallest effect detectable with 80% power at alpha 0.05
    min_p: float  # smallest p the permutation test can give with n seeds (2 / 2**n)

    def to_dict(self) -> dict:
        return asdict(self)


def paired(treatment: Sequence[float], reference: Sequence[float], level: float = 0.95,
           alpha: float = 0.05) -> Paired:
    """Paired comparison of per-seed results (the i-th treatment run pairs with the i-th reference
    run: same seed)."""
    if len(treatment) != len(reference):
        raise ValueError(f"paired comparison needs equal lengths, got {len(treatment)} and {len(reference)}")
    d = [float(a) - float(b) for a, b in zip(treatment, reference)]
    n = len(d)
    nan = math.nan
    if n == 0 or any(math.isnan(x) for x in d):  # a missing result: nothing to conclude
        return Paired(n, nan, nan, nan, nan, nan, nan, None, None, nan, nan, nan, math.inf, nan)
    m = sum(d) / n
    p_perm = permutation_p(d)
    p_sign = sign_test_p(d)
    min_p = min(1.0, 2.0 / 2.0 ** n)
    if n < 2:
        return Paired(n, m, nan, nan, nan, nan, nan, None, None, p_perm, p_sign, p_perm, math.inf, min_p)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
    df = float(n - 1)
    se = sd / math.sqrt(n)
    if sd <= 1e-12 * max(1.0, abs(m)):
        # every seed gave the same difference: t and its interval are undefined (not a point:
        # ties are no proof of precision); the exact permutation test decides
        return Paired(n, m, 0.0, 0.0, df, nan, nan, None, None, p_perm, p_sign, p_perm,
                      detectable_effect(0.0, n, alpha), min_p)
    t = m / se
    p_t = min(1.0, 2.0 * (1.0 - t_cdf(abs(t), df)))
    half = t_ppf(0.5 + level / 2.0, df) * se
    return Paired(n, m, sd, se, df, m - half, m + half, t, p_t, p_perm, p_sign, max(p_t, p_perm),
                  detectable_effect(sd, n, alpha), min_p)


def directional_verdict(c: Paired | dict, expected_sign: int, min_effect: float, p: float | None = None,
                        alpha: float = 0.05) -> str:
    """One comparison of a directional claim ("treatment lowers accuracy": expected_sign -1).

    supported: p < alpha with the predicted sign; contradicted: p < alpha with the other sign, or
    the interval excludes an effect of ``min_effect`` in the predicted direction (the claimed harm,
    if any, is smaller than what matters); inconclusive otherwise. ``p`` overrides the decision
    p-value (a Holm-adjusted one)."""
    get = c.get if isinstance(c, dict) else lambda k: getattr(c, k)
    diff, lo, hi = get("diff"), get("ci_low"), get("ci_high")
    p = get("p") if p is None else p
    if diff is None or p is None or math.isnan(diff) or math.isnan(p):
        return "inconclusive"
    if p < alpha and diff != 0.0:
        return "supported" if (diff > 0) == (expected_sign > 0) else "contradicted"
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        if expected_sign < 0 and lo > -min_effect:
            return "contradicted"
        if expected_sign > 0 and hi < min_effect:
            return "contradicted"
    return "inconclusive"


def noninferiority_verdict(treatment: Sequence[float], reference: Sequence[float], margin: float,
                           level: float = 0.95) -> tuple[str, float, float]:
    """Is the treatment at least as accurate as the reference, up to ``margin``?

    Hypotheses on the paired mean difference D: H0 D <= -margin against H1 D > -margin. Supported
    when the lower bound of the two-sided ``level`` interval lies above -margin **and** the exact
    one-sided permutation test of the shifted differences rejects at (1 - level) / 2; contradicted
    when the upper bound lies below -margin (worse by more than the margin); inconclusive otherwise.
    With zero variance (every seed the same difference) the interval is undefined and the exact
    tests decide alone. Returns (verdict, one-sided paired-t p or None, one-sided permutation p)."""
    c = paired(treatment, reference, level)
    a = (1.0 - level) / 2.0
    d = [float(x) - float(y) for x, y in zip(treatment, reference)]
    if c.n < 2:
        return "inconclusive", None, math.nan
    p_above = permutation_p(d, "greater", shift=-margin)  # H0: D <= -margin
    p_below = permutation_p(d, "less", shift=-margin)  # H0: D >= -margin
    p_t = None if c.t is None else 1.0 - t_cdf((c.diff + margin) / c.se, c.df)
    undefined = math.isnan(c.ci_low)  # zero variance: the exact test alone decides
    if p_above < a and (undefined or c.ci_low > -margin):
        return "supported", p_t, p_above
    if p_below < a and (undefined or c.ci_high < -margin):
        return "contradicted", p_t, p_above
    return "inconclusive", p_t, p_above


def combine_all(verdicts: Sequence[str]) -> str:
    """Intersection-union: an "all" claim is supported only when every component is (each tested
    at alpha, no correction), contradicted as soon as one component is."""
    if not verdicts:
        return "inconclusive"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted"
    return "supported" if all(v == "supported" for v in verdicts) else "inconclusive"


def combine_any(verdicts: Sequence[str]) -> str:
    """An "any" claim (verdicts already Holm-adjusted): supported when one component is,
    contradicted when every component is, inconclusive otherwise."""
    if not verdicts:
        return "inconclusive"
    if any(v == "supported" for v in verdicts):
        return "supported"
    return "contradicted" if all(v == "contradicted" for v in verdicts) else "inconclusive"
