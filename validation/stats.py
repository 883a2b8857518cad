"""Small-sample statistics for the validation experiments, in pure Python.

Student-t CDF and quantile via the regularised incomplete beta function (so the package works
without scipy), per-variant mean / sd / t confidence interval, Welch differences with the
Welch-Satterthwaite degrees of freedom, and Holm's step-down correction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

__all__ = [
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


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    bt = math.exp(lbt)
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with (possibly non-integer) df > 0."""
    if math.isnan(t) or not df > 0:
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t (inverse of :func:`t_cdf`), by bracketing and bisection."""
    if not 0.0 < p < 1.0 or not df > 0:
        if p == 0.0:
            return -math.inf
        if p == 1.0:
            return math.inf
        return math.nan
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


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
        # Both groups constant: the difference is exact (e.g. every run collapsed to chance).
        df = float(len(a) + len(b) - 2)
        p = 1.0 if diff == 0.0 else 0.0
        return Welch(diff, 0.0, df, diff, diff, math.copysign(math.inf, diff) if diff else 0.0, p)
    df = (qa + qb) ** 2 / ((qa * qa) / (len(a) - 1) + (qb * qb) / (len(b) - 1))
    t = diff / se
    p = min(1.0, 2.0 * (1.0 - t_cdf(abs(t), df)))
    half = t_ppf(0.5 + level / 2.0, df) * se
    return Welch(diff, se, df, diff - half, diff + half, t, p)


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
