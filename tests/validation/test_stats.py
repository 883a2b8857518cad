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


def test_welch_degenerate_constant_groups():
    w = stats.welch([0.1, 0.1, 0.1], [0.1, 0.1, 0.1])
    assert w.diff == 0 and w.p == 1.0
    w = stats.welch([0.1, 0.1, 0.1], [0.3, 0.3, 0.3])
    assert w.p == 0.0 and w.diff == pytest.approx(-0.2)


def test_holm():
    # textbook example: p = 0.01, 0.04, 0.03, 0.005 -> 0.03, 0.06, 0.06, 0.02
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, float("nan")]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_verdicts():
    assert stats.verdict(-0.1, 0.01, -1) == "supported"
    assert stats.verdict(0.1, 0.01, -1) == "contradicted"
    assert stats.verdict(-0.1, 0.2, -1) == "inconclusive"
    assert stats.verdict(float("nan"), 0.01, -1) == "inconclusive"
    assert stats.combine_verdicts(["supported", "supported"]) == "supported"
    assert stats.combine_verdicts(["supported", "inconclusive"]) == "inconclusive"
    assert stats.combine_verdicts(["contradicted", "inconclusive"]) == "contradicted"
    assert stats.combine_verdicts([]) == "inconclusive"
