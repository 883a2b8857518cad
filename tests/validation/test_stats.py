import math

import pytest

from archlint_validation import stats


@pytest.mark.parametrize(
    "p, df, expected",
    [(0.975, 1, 12.706204736174694), (0.975, 2, 4.302652729749462), (0.975, 10, 2.228138851986274),
     (0.9, 4, 1.533206274058944), (0.975, 2.5, 3.5746548420036817)],
)
def test_t_ppf_known_values(p, df, expected):
    assert stats.t_ppf(p, df) == pytest.approx(expected, rel=1e-9)
    assert stats.t_ppf(1 - p, df) == pytest.approx(-expected, rel=1e-9)


def test_t_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    for df in (1, 1.7, 3, 7.3, 30, 400):
        for t in (-8.0, -2.1, -0.3, 0.0, 0.4, 1.96, 5.5):
            assert stats.t_cdf(t, df) == pytest.approx(sp.t.cdf(t, df), abs=1e-12)
        for p in (0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.9995):
            assert stats.t_ppf(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-8, abs=1e-10)


def test_summarize_ci():
    s = stats.summarize([0.30, 0.28, 0.29])
    assert s.n == 3 and s.mean == pytest.approx(0.29)
    assert s.sd == pytest.approx(0.01)
    half = 4.302652729749462 * 0.01 / math.sqrt(3)
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.29 - half), pytest.approx(0.29 + half))
    one = stats.summarize([0.5])
    assert one.mean == 0.5 and math.isnan(one.ci_low)


def test_welch_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    a, b = [0.45, 0.47, 0.44, 0.46], [0.29, 0.27, 0.33]
    w = stats.welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert w.t == pytest.approx(ref.statistic, rel=1e-9)
    assert w.p == pytest.approx(ref.pvalue, rel=1e-7)
    va, vb = sp.tvar(a) / 4, sp.tvar(b) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    assert w.df == pytest.approx(df)
    half = sp.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert w.ci_low == pytest.approx(w.diff - half) and w.ci_high == pytest.approx(w.diff + half)


def test_welch_constant_groups_give_no_p_of_zero():
    w = stats.welch([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])
    assert w.diff == 0 and w.p == 1.0
    # the case: two collapsed seeds against two others: no p = 0, no interval
    w = stats.welch([0.10, 0.10], [0.04, 0.04])
    assert w.diff == pytest.approx(0.06) and math.isnan(w.p) and math.isnan(w.ci_low)


def test_holm():
    # textbook example: p = 0.01, 0.04, 0.03, 0.005 -> 0.03, 0.06, 0.06, 0.02
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, float("nan")]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []



# ---------------------------------------------------------------------------------------------
# paired analysis


def test_paired_t_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    a = [0.281, 0.305, 0.262, 0.298, 0.275, 0.290, 0.301]
    b = [0.262, 0.280, 0.259, 0.270, 0.249, 0.281, 0.279]
    c = stats.paired(a, b)
    ref = sp.ttest_rel(a, b)
    assert c.t == pytest.approx(ref.statistic, rel=1e-9) and c.p_t == pytest.approx(ref.pvalue, rel=1e-7)
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low, rel=1e-9), pytest.approx(ci.high, rel=1e-9))
    assert c.df == 6 and c.n == 7


def test_pairing_finds_what_welch_misses():
    """Seeds differ a lot (shared by both arms); the treatment costs a steady 0.01. Welch sees
    the seed spread and cannot conclude; the paired test removes it. Both checked against scipy."""
    sp = pytest.importorskip("scipy.stats")
    ref = [0.20, 0.30, 0.25, 0.35, 0.22, 0.28]
    treat = [r - 0.01 + e for r, e in zip(ref, [0.001, -0.002, 0.0015, -0.001, 0.002, -0.0005])]
    w, c = stats.welch(treat, ref), stats.paired(treat, ref)
    assert w.p == pytest.approx(sp.ttest_ind(treat, ref, equal_var=False).pvalue, rel=1e-7)
    assert c.p_t == pytest.approx(sp.ttest_rel(treat, ref).pvalue, rel=1e-7)
    assert w.p > 0.5 and c.p_t < 1e-4
    assert c.p_perm == pytest.approx(2 / 64) and c.p == c.p_perm  # the exact test is the bottleneck
    assert stats.directional_verdict(c, -1, 0.005) == "supported"


def test_permutation_and_sign_tests_against_scipy():
    sp = pytest.importorskip("scipy.stats")
    import numpy as np

    for d in ([0.03, -0.01, 0.02, 0.05, 0.01, -0.02], [0.1, 0.2, 0.15, 0.12, 0.3, 0.05, 0.07],
              [-0.004, 0.002, -0.01, -0.003, 0.0, -0.006, -0.001, -0.002]):
        x = np.array(d)
        res = sp.permutation_test((x, np.zeros_like(x)), lambda a, b: np.mean(a - b), permutation_type="samples",
                                  alternative="two-sided", n_resamples=10**6)
        assert stats.permutation_p(d) == pytest.approx(res.pvalue, rel=1e-9)
        for alt in ("less", "greater"):
            res = sp.permutation_test((x, np.zeros_like(x)), lambda a, b: np.mean(a - b),
                                      permutation_type="samples", alternative=alt, n_resamples=10**6)
            assert stats.permutation_p(d, alt) == pytest.approx(res.pvalue, rel=1e-9)
        pos, neg = sum(v > 0 for v in d), sum(v < 0 for v in d)
        assert stats.sign_test_p(d) == pytest.approx(sp.binomtest(pos, pos + neg, 0.5).pvalue, rel=1e-12)


def test_ties_and_zero_variance_never_give_p_zero():
    # every seed the same difference: t undefined, no interval; the exact test decides
    c = stats.paired([0.10, 0.10], [0.04, 0.04])
    assert c.t is None and c.p_t is None and math.isnan(c.ci_low)
    assert c.p_perm == 0.5 and c.p == 0.5 and c.p_sign == 0.5
    assert stats.directional_verdict(c, -1, 0.02) == "inconclusive"  # the "contradicted"
    # six seeds, all collapsed to chance under the treatment: exact p = 2/64
    c = stats.paired([0.1] * 6, [0.3] * 6)
    assert c.p == pytest.approx(2 / 64) and c.min_p == pytest.approx(2 / 64)
    assert stats.directional_verdict(c, -1, 0.02) == "supported"
    # identical arms: p = 1, not 0 or NaN
    c = stats.paired([0.2, 0.3, 0.25], [0.2, 0.3, 0.25])
    assert c.diff == 0 and c.p == 1.0 and c.p_sign == 1.0
    # five seeds can never reach 0.05 two-sided: power is reported as nil
    c = stats.paired([0.1, 0.11, 0.12, 0.1, 0.13], [0.3, 0.31, 0.29, 0.3, 0.32])
    assert c.p == pytest.approx(2 / 32) and c.detectable == math.inf
    assert stats.directional_verdict(c, -1, 0.02) == "inconclusive"


def test_detectable_effect():
    sp = pytest.importorskip("scipy.stats")
    sd, n = 0.02, 8
    expected = (sp.t.ppf(0.975, n - 1) + sp.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    assert stats.detectable_effect(sd, n) == pytest.approx(expected, rel=1e-9)
    # the approximation is close to the exact noncentral-t power at that effect
    nc = expected / (sd / math.sqrt(n))
    crit = sp.t.ppf(0.975, n - 1)
    power = sp.nct.sf(crit, n - 1, nc) + sp.nct.cdf(-crit, n - 1, nc)
    assert 0.75 < power < 0.85
    assert stats.detectable_effect(sd, 5) == math.inf  # 2/32 > 0.05


def test_directional_verdict_with_a_minimum_effect():
    sig = {"diff": -0.10, "ci_low": -0.15, "ci_high": -0.05, "p": 0.01}
    assert stats.directional_verdict(sig, -1, 0.02) == "supported"
    assert stats.directional_verdict(sig, +1, 0.02) == "contradicted"
    # not significant, and the interval rules out a harm of 0.02: the claimed harm is not there
    small = {"diff": 0.001, "ci_low": -0.008, "ci_high": 0.01, "p": 0.7}
    assert stats.directional_verdict(small, -1, 0.02) == "contradicted"
    wide = {"diff": -0.01, "ci_low": -0.05, "ci_high": 0.03, "p": 0.5}
    assert stats.directional_verdict(wide, -1, 0.02) == "inconclusive"
    assert stats.directional_verdict(sig, -1, 0.02, p=0.2) == "inconclusive"  # a Holm p overrides
    assert stats.directional_verdict({"diff": float("nan"), "ci_low": None, "ci_high": None, "p": 0.01}, -1, 0.02) \
        == "inconclusive"


def test_noninferiority():
    ref = [0.30, 0.32, 0.28, 0.31, 0.29, 0.33, 0.30]
    # equal heads: a two-sided test stays inconclusive for ever; non-inferiority concludes
    same = [r + e for r, e in zip(ref, [0.002, -0.001, 0.001, -0.002, 0.0015, 0.0, -0.0005])]
    assert stats.directional_verdict(stats.paired(same, ref), +1, 0.0) != "supported"
    v, p_t, p_perm = stats.noninferiority_verdict(same, ref, margin=0.01)
    assert v == "supported" and p_t < 0.025 and p_perm == pytest.approx(1 / 128)
    sp = pytest.importorskip("scipy.stats")
    shifted = [a - b + 0.01 for a, b in zip(same, ref)]
    assert p_t == pytest.approx(sp.ttest_1samp(shifted, 0.0, alternative="greater").pvalue, rel=1e-7)
    # clearly worse than the margin
    worse = [r - 0.05 + e for r, e in zip(ref, [0.002, -0.001, 0.001, -0.002, 0.0015, 0.0, -0.0005])]
    assert stats.noninferiority_verdict(worse, ref, 0.01)[0] == "contradicted"
    # noisy: cannot tell
    noisy = [r + e for r, e in zip(ref, [0.04, -0.05, 0.03, -0.04, 0.05, -0.03, 0.0])]
    assert stats.noninferiority_verdict(noisy, ref, 0.01)[0] == "inconclusive"
    # zero variance: the exact test decides, no p = 0
    v, p_t, p_perm = stats.noninferiority_verdict([0.1] * 6, [0.1] * 6, 0.01)
    assert v == "supported" and p_t is None and p_perm == pytest.approx(1 / 64)
    assert stats.noninferiority_verdict([0.1, 0.1], [0.1, 0.1], 0.01)[0] == "inconclusive"


def test_all_and_any_claims():
    # "all" (intersection-union): every component at alpha, no correction; one contradiction refutes
    assert stats.combine_all(["supported", "supported"]) == "supported"
    assert stats.combine_all(["supported", "inconclusive"]) == "inconclusive"
    assert stats.combine_all(["supported", "contradicted"]) == "contradicted"
    assert stats.combine_all([]) == "inconclusive"
    # "any": Holm-adjusted components; one support is enough, refuted only when all are
    assert stats.combine_any(["inconclusive", "supported"]) == "supported"
    assert stats.combine_any(["contradicted", "inconclusive"]) == "inconclusive"
    assert stats.combine_any(["contradicted", "contradicted"]) == "contradicted"
    # Holm makes an "any" family stricter than its members alone: p = 0.03 and 0.04 each pass
    # alpha, but only the family of two after Holm (0.06, 0.06) does not
    ps = stats.holm([0.03, 0.04])
    assert ps == pytest.approx([0.06, 0.06])
    comps = [{"diff": -0.1, "ci_low": -0.2, "ci_high": 0.0, "p": p} for p in (0.03, 0.04)]
    assert stats.combine_any([stats.directional_verdict(c, -1, 0.02, p=q) for c, q in zip(comps, ps)]) == "inconclusive"
    assert stats.combine_all([stats.directional_verdict(c, -1, 0.02) for c in comps]) == "supported"


def test_a_missing_result_gives_no_p_value():
    c = stats.paired([0.3, float("nan"), 0.2], [0.1, 0.1, 0.1])
    assert math.isnan(c.p) and math.isnan(c.diff) and c.n == 3
    assert stats.directional_verdict(c, -1, 0.02) == "inconclusive"
    assert math.isnan(stats.permutation_p([0.1, float("nan")]))


def test_float_ties_are_ties():
    """Differences of accuracies tie in exact arithmetic but not in floating point
    (0.2 - 0.0 and 0.5 - 0.3); the permutation test counts them as ties: here 2 of the 16 sign
    patterns sum to exactly 0 = the observed sum, so P(T >= 0) = 7/16 + 2/16."""
    d = [0.19999999999999996, -0.6, 0.20000000000000007, 0.2]
    assert stats.permutation_p(d, "greater") == 9 / 16
    assert stats.permutation_p(d, "less") == 9 / 16
    assert stats.permutation_p(d) == 1.0
    # scipy's own tie tolerance (100 ulp of the observed sum) misses these: plain sums give 0.5
    import numpy as np

    plain = sp_permutation(np.array(d), "greater")
    assert plain != 9 / 16


def sp_permutation(d, alternative: str) -> float:
    sp = pytest.importorskip("scipy.stats")
    import numpy as np

    return sp.permutation_test((d,), np.sum, permutation_type="samples", alternative=alternative,
                               vectorized=True, n_resamples=2 ** len(d)).pvalue


def test_one_seed():
    assert stats.permutation_p([0.1]) == 1.0
    assert stats.permutation_p([0.1], "greater") == 0.5 and stats.permutation_p([0.1], "less") == 1.0
    assert stats.paired([0.3], [0.2]).p == 1.0


def test_importing_the_statistics_imports_no_scipy():
    import subprocess
    import sys

    code = "import sys, archlint_validation.stats; assert 'scipy' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
