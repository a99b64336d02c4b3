"""Tests for the validation tools: purged CV, walk-forward, PSR/DSR, PBO, calibration and metrics."""

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trademl.metrics
import trademl.validation as V
import trademl.validation as figures
from trademl.core import ConfigError, DataError
from trademl.validation import CombinatorialPurgedCV, WalkForward, pbo

skfolio_ms = pytest.importorskip('skfolio.model_selection')


def panel_dates(n_dates, n_sym, seed=0, shuffle=True):
    d = np.repeat(np.datetime64('2020-01-01') + np.arange(n_dates), n_sym)
    if shuffle:
        d = np.random.default_rng(seed).permutation(d)
    return d


# ------------------------------------------------------------------------ CPCV
@pytest.mark.parametrize(
    'N,k,h,e,n',
    [
        (6, 2, 3, 1, 100),
        (5, 2, 0, 0, 53),
        (8, 3, 4, 2, 203),
        (4, 2, 2, 0, 41),
        (6, 3, 5, 5, 500),
        (7, 2, 1, 3, 77),
        (10, 4, 2, 1, 1000),
        (3, 2, 0, 3, 30),
    ],
)
def test_cpcv_matches_skfolio(N, k, h, e, n):
    sk = skfolio_ms.CombinatorialPurgedCV(n_folds=N, n_test_folds=k, purged_size=h, embargo_size=e)
    cv = CombinatorialPurgedCV(N, k, horizon=h, embargo=e)
    ref, mine = list(sk.split(np.zeros((n, 1)))), list(cv.split(np.arange(n)))
    assert len(ref) == len(mine) == cv.n_splits == sk.n_splits
    for (tr_ref, te_ref), (tr, te) in zip(ref, mine):
        np.testing.assert_array_equal(tr, tr_ref)
        np.testing.assert_array_equal(te, np.sort(np.concatenate(te_ref)))
    assert cv.n_paths == sk.n_test_paths
    np.testing.assert_array_equal(cv.path_assignment(), sk.recombined_paths.T)
    np.testing.assert_array_equal(cv.test_groups(), sk.test_set_index)


def test_cpcv_hand_computed_panel():
    # 12 unique dates, N=3 -> groups {0-3}, {4-7}, {8-11}; horizon 2, embargo 1.
    dates = panel_dates(12, 3, seed=1)
    cv = CombinatorialPurgedCV(n_groups=3, n_test_groups=1, horizon=2, embargo=1)
    expected_train = [
        [7, 8, 9, 10, 11],  # test G0: purge 4,5 (test labels reach them), embargo 6
        [0, 1, 11],  # test G1: purge 2,3 before; purge 8,9 + embargo 10 after
        [0, 1, 2, 3, 4, 5],  # test G2: purge 6,7
    ]
    expected_test = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    uniq, inv = np.unique(dates, return_inverse=True)
    for (tr, te), etr, ete in zip(cv.split(dates), expected_train, expected_test):
        assert sorted(set(inv[tr])) == etr and sorted(set(inv[te])) == ete
        assert len(tr) == 3 * len(etr) and len(te) == 3 * len(ete)  # all symbols of a date
    st_ = cv.date_status(12)
    np.testing.assert_array_equal(st_[1], [0, 0, 2, 2, 1, 1, 1, 1, 2, 2, 3, 0])


def test_cpcv_panel_properties():
    dates = panel_dates(203, 7, seed=2)
    cv = CombinatorialPurgedCV(6, 2, horizon=5, embargo=3)
    uniq, inv = np.unique(dates, return_inverse=True)
    g = cv.groups(dates)
    assert all(len(set(g[inv == i])) == 1 for i in range(len(uniq)))  # date -> one group
    assert cv.n_paths == 2 * math.comb(6, 2) // 6 == 5
    counts = np.zeros(6, int)
    for (tr, te), tg in zip(cv.split(dates), cv.test_groups()):
        assert not set(inv[tr]) & set(inv[te])  # no date on both sides
        assert not set(tr) & set(te)
        assert set(g[te]) == set(tg)
        counts[list(tg)] += 1
        for t in set(inv[te]):  # labels don't overlap
            assert not any((d <= t <= d + 5) or (t < d <= t + 5 + 3) for d in set(inv[tr]))
    assert (counts == cv.n_paths).all()
    pa = cv.path_assignment()
    tgs = cv.test_groups()
    assert pa.shape == (cv.n_paths, 6)
    for gg in range(6):  # every (path, group) covered once, each split used once per group
        assert sorted(pa[:, gg]) == [s for s in range(cv.n_splits) if gg in tgs[s]]
        assert all(gg in tgs[s] for s in pa[:, gg])


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 8), st.integers(0, 4), st.integers(0, 3), st.integers(60, 300), st.data())
def test_cpcv_matches_skfolio_hypothesis(N, h, e, n, data):
    k = data.draw(st.integers(2, N - 1))
    if h + e >= n // N - 1 or math.comb(N, k) > 200:
        return
    sk = skfolio_ms.CombinatorialPurgedCV(n_folds=N, n_test_folds=k, purged_size=h, embargo_size=e)
    for (a, b), (c, d) in zip(
        sk.split(np.zeros((n, 1))), CombinatorialPurgedCV(N, k, h, e).split(np.arange(n))
    ):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(np.sort(np.concatenate(b)), d)


def test_cpcv_bad_args():
    with pytest.raises(ConfigError, match='n_test_groups'):
        CombinatorialPurgedCV(3, 3)
    with pytest.raises(DataError, match='fewer than n_groups'):
        list(CombinatorialPurgedCV(6, 2).split(np.arange(4)))


# ---------------------------------------------------------------- walk-forward
@pytest.mark.parametrize('train_size', [None, 30])
def test_walk_forward(train_size):
    dates = panel_dates(120, 4, seed=3)
    _, inv = np.unique(dates, return_inverse=True)
    wf = WalkForward(n_splits=4, test_size=20, train_size=train_size, horizon=5, embargo=2)
    prev = None
    splits = list(wf.split(dates))
    assert len(splits) == 4
    for tr, te in splits:
        dtr, dte = inv[tr], inv[te]
        assert dtr.max() + 5 + 2 < dte.min()  # purged: labels never reach test
        assert dtr.max() < dte.min()  # never trains on later dates
        assert len(set(dte)) == 20 and len(te) == 80
        if train_size:
            assert len(set(dtr)) == 30
        if prev is not None:
            assert dte.min() == prev + 1
        prev = dte.max()
    assert prev == 119


# ------------------------------------------------------------------- PSR / DSR
def _norm_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _psr_ref(sr, n, srb, g3, g4):
    return _norm_cdf(
        (sr - srb) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr * sr)
    )


def _dsr_ref(sr, n, var, trials, g3, g4):
    inv = statistics.NormalDist().inv_cdf
    sr0 = (
        0.0
        if trials == 1
        else math.sqrt(var)
        * ((1 - 0.5772156649) * inv(1 - 1 / trials) + 0.5772156649 * inv(1 - 1 / (trials * math.e)))
    )
    return _psr_ref(sr, n, sr0, g3, g4)


@pytest.mark.parametrize(
    'sr,n,srb,g3,g4',
    [
        (0.1, 250, 0, 0, 3),
        (0.05, 1000, 0.02, -1, 6),
        (-0.03, 500, 0, 0.5, 4),
        (0.2, 60, 0.1, -2, 9),
    ],
)
def test_psr_reference(sr, n, srb, g3, g4):
    assert V.probabilistic_sharpe_ratio(sr, n, srb, g3, g4) == pytest.approx(
        _psr_ref(sr, n, srb, g3, g4), abs=1e-12
    )


@pytest.mark.parametrize('trials', [1, 2, 10, 100, 1000])
def test_dsr_reference(trials):
    got = V.deflated_sharpe_ratio(0.08, 750, 0.001, trials, -0.7, 5.0)
    assert got == pytest.approx(_dsr_ref(0.08, 750, 0.001, trials, -0.7, 5.0), abs=1e-9)
    assert (V.expected_max_sharpe(0.001, trials) == 0) == (trials == 1)


def test_dsr_paper_example():
    # Bailey & Lopez de Prado (2014): SR 2.5 ann., T=1250 daily, 100 trials, V[SR] 0.5 ann.,
    # skew -3, kurt 10 -> DSR ~= 0.9004 (SR0 ~= 0.1132 per period).
    sr, var = 2.5 / math.sqrt(250), 0.5 / 250
    assert V.expected_max_sharpe(var, 100) == pytest.approx(0.1132, abs=1e-4)
    assert V.deflated_sharpe_ratio(sr, 1250, var, 100, -3, 10) == pytest.approx(0.9004, abs=1e-4)


def test_psr_properties():
    assert V.probabilistic_sharpe_ratio(0.1, 500, 0.1, -1, 7) == pytest.approx(0.5)
    srs = np.linspace(-0.2, 0.3, 11)
    p = V.probabilistic_sharpe_ratio(srs, 500)
    assert p.shape == (11,) and np.all(np.diff(p) > 0)
    p_n = V.probabilistic_sharpe_ratio(0.05, np.array([50, 100, 500, 2000]))
    assert np.all(np.diff(p_n) > 0)  # more data, more confidence
    assert V.probabilistic_sharpe_ratio(0.1, 500, kurt=10) < V.probabilistic_sharpe_ratio(0.1, 500)
    assert V.probabilistic_sharpe_ratio(0.1, 500, skew=-2) < V.probabilistic_sharpe_ratio(0.1, 500)
    d = V.deflated_sharpe_ratio(0.1, 500, 0.002, np.arange(1, 200))
    assert np.all(np.diff(d) < 0) and d[0] == pytest.approx(V.probabilistic_sharpe_ratio(0.1, 500))


# ------------------------------------------------------------------------- PBO
def _pbo_bruteforce(m, s):
    t, n = m.shape
    blocks = np.array_split(np.arange(t), s)
    logits = []
    for comb in itertools.combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[i] for i in comb])
        oos_rows = np.concatenate([blocks[i] for i in range(s) if i not in comb])
        sr = lambda x: x.mean(0) / x.std(0, ddof=1)
        best = np.argmax(sr(m[is_rows]))
        oos = sr(m[oos_rows])
        rank = (oos < oos[best]).sum() + ((oos == oos[best]).sum() + 1) / 2
        w = rank / (n + 1)
        logits.append(np.log(w / (1 - w)))
    return np.array(logits)


def test_pbo_matches_bruteforce():
    m = np.random.default_rng(5).standard_normal((203, 7))
    r = pbo(m, 8)
    np.testing.assert_allclose(r.logits, _pbo_bruteforce(m, 8), atol=1e-12)
    assert r.n_combinations == math.comb(8, 4) == len(r.logits) == len(r.is_perf)
    assert r.pbo == pytest.approx(np.mean(r.logits <= 0))


def test_pbo_iid_noise_is_about_half():
    # IS and OOS halves are independent for iid noise -> OOS rank of the IS winner is
    # uniform -> E[PBO] = 0.5 (N even). Single datasets scatter widely (sd ~0.2).
    vals = [pbo(np.random.default_rng(s).standard_normal((800, 20)), 10).pbo for s in range(20)]
    assert 0.35 < np.mean(vals) < 0.65


def test_pbo_equal_sample_means_is_one():
    # Noise columns forced to identical realised means: IS sum + OOS sum is the same for
    # every strategy, so the IS winner is (near-)the OOS loser -> PBO ~ 1.
    for s in range(3):
        m = np.random.default_rng(s).standard_normal((1000, 50))
        m = m - m.mean(0) + 0.01
        assert pbo(m, 16).pbo >= 0.9
        assert pbo(m, 16, metric='mean').pbo == 1.0


def test_pbo_real_edge_is_zero():
    for s in range(5):
        m = np.random.default_rng(s).standard_normal((2500, 20))
        m[:, 0] += 0.2
        r = pbo(m, 16)
        assert r.pbo == 0.0 and r.prob_oos_loss == 0.0
    m = np.random.default_rng(0).standard_normal((2500, 20))
    m[:, 0] += 0.1  # weaker edge: PBO small but not always exactly 0 at T=2500
    assert pbo(m, 16).pbo < 0.2


def test_pbo_bad_args():
    m = np.zeros((10, 3))
    for s in (3, 12, 0):
        with pytest.raises(ConfigError, match='n_partitions'):
            pbo(m, s)
    with pytest.raises(DataError, match='N >= 2'):
        pbo(np.zeros((10, 1)), 2)


# --------------------------------------------------------- calibration / metrics
def test_calibration():
    p = np.array([0.1, 0.9, 0.8, 0.3, np.nan])
    y = np.array([0, 1, 0, 1, 1])
    assert V.brier_score(p, y) == pytest.approx(np.mean([0.01, 0.01, 0.64, 0.49]))
    ll = -np.mean(np.log([0.9, 0.9, 0.2, 0.3]))
    assert V.log_loss(p, y) == pytest.approx(ll)
    assert np.isfinite(V.log_loss([0.0, 1.0], [1, 0]))
    b = V.reliability_bins(p, y, n_bins=5)
    assert list(b.columns) == ['bin_low', 'bin_high', 'mean_pred', 'frac_pos', 'count']
    assert b['count'].sum() == 4 and b['count'].tolist() == [1, 1, 0, 0, 2]
    assert b['frac_pos'].iloc[4] == pytest.approx(0.5) and b['mean_pred'].iloc[4] == pytest.approx(
        0.85
    )


def test_direction_metrics():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.5).astype(float)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + 0.2 * rng.standard_normal(200), 0, 1)
    y_nan = y.copy()
    y_nan[:10] = np.nan
    d = V.direction_metrics(p, y_nan)
    assert d['n'] == 190
    assert d['roc_auc'] == pytest.approx(roc_auc_score(y[10:], p[10:]))
    assert d['accuracy'] == pytest.approx(np.mean((p[10:] >= 0.5) == y[10:]))
    assert np.isnan(V.direction_metrics(p[:5], np.ones(5))['roc_auc'])


def test_daily_ic():
    rng = np.random.default_rng(1)
    n_d, n_s = 30, 8
    dates = np.repeat(np.arange(n_d), n_s)
    pred = rng.standard_normal(n_d * n_s)
    real = 0.5 * pred + rng.standard_normal(n_d * n_s)
    # add a date with only 2 symbols -> skipped
    dates = np.r_[dates, 99, 99]
    pred = np.r_[pred, 1, 2]
    real = np.r_[real, 2, 1]
    out = V.daily_ic(pred, real, dates)
    ref = [np.corrcoef(pred[dates == d], real[dates == d])[0, 1] for d in range(n_d)]
    rref = [
        pd.Series(pred[dates == d]).corr(pd.Series(real[dates == d]), method='spearman')
        for d in range(n_d)
    ]
    assert out['n_days'] == n_d
    assert out['ic_mean'] == pytest.approx(np.mean(ref)) and out['ic_std'] == pytest.approx(
        np.std(ref, ddof=1)
    )
    assert out['rank_ic_mean'] == pytest.approx(np.mean(rref))
    assert out['ic_t'] == pytest.approx(np.mean(ref) / np.std(ref, ddof=1) * np.sqrt(n_d))
    empty = V.daily_ic([1, 2], [1, 2], [0, 0])
    assert empty['n_days'] == 0 and np.isnan(empty['ic_mean'])


def test_return_metrics():
    r = np.array([0.1, -0.5, 0.2, np.nan, 0.1])
    # one definition (trademl.metrics), re-exported; drawdowns are negative fractions
    assert V.max_drawdown is trademl.metrics.max_drawdown
    assert V.sharpe_ratio is trademl.metrics.sharpe_ratio and V.daily_ic is trademl.metrics.daily_ic
    assert V.max_drawdown(r) == pytest.approx(-0.5)
    assert V.max_drawdown([0.01, 0.02]) == 0.0
    x = np.random.default_rng(0).standard_normal(500) * 0.01 + 0.001
    assert V.sharpe_ratio(x) == pytest.approx(x.mean() / x.std(ddof=1))
    assert V.sharpe_ratio(x, 252) == pytest.approx(x.mean() / x.std(ddof=1) * np.sqrt(252))
    s = V.sharpe_stats(x)
    assert s['n_obs'] == 500 and 2.5 < s['kurt'] < 3.5 and abs(s['skew']) < 0.5


# --------------------------------------------------------------------- figures
def test_figures_build():
    import plotly.graph_objects as go

    cv = CombinatorialPurgedCV(6, 2, horizon=3, embargo=2)
    m = np.random.default_rng(0).standard_normal((400, 10)) * 0.01
    r = pbo(m, 8)
    bins = V.reliability_bins(np.random.default_rng(0).random(100), np.arange(100) % 2)
    figs = [
        figures.cpcv_diagram(cv, 60),
        figures.path_equity(m[:, :5]),
        figures.pbo_logit_histogram(r),
        figures.degradation_scatter(r),
        figures.reliability_diagram(bins),
        figures.dsr_vs_trials(0.1, 500, 0.002, range(1, 50)),
    ]
    assert all(isinstance(f, go.Figure) for f in figs)
