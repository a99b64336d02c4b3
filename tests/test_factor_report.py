"""The factor report equals alphalens-reloaded where the definitions match (close-to-close returns,
Spearman IC, quantile means, quantile turnover), on a synthetic and on the real S&P 500 panel."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from trademl.data import make_synthetic_panel
from trademl.factor_report import (
    factor_report,
    forward_table,
    ic_series,
    newey_west_t,
    quantile_returns,
    quantile_turnover,
    quantiles,
)


def _momentum(panel, k=5):
    c = panel.pivot(index='date', columns='symbol', values='close')
    return c, (c / c.shift(k) - 1).stack().rename('factor')


def _compare_with_alphalens(panel):
    al = pytest.importorskip('alphalens', reason='alphalens-reloaded is not installed')
    prices, factor = _momentum(panel)
    f = factor.copy()
    f.index.names = ['date', 'asset']
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        fd = al.utils.get_clean_factor_and_forward_returns(
            f, prices, periods=(1, 5), quantiles=5, max_loss=1.0
        )
        al_ic = al.performance.factor_information_coefficient(fd)
        al_q, _ = al.performance.mean_return_by_quantile(fd, demeaned=True)
        al_q_raw, _ = al.performance.mean_return_by_quantile(fd, demeaned=False)
        al_turn = al.performance.quantile_turnover(fd['factor_quantile'], 5, 1)
    fd.index.names = ['date', 'symbol']
    fwd = forward_table(panel, [1, 5], basis='close').reindex(fd.index)
    for h in [1, 5]:
        mine = ic_series(fd['factor'], fwd[h])['rank_ic']
        ref = al_ic[f'{h}D']
        ref.index = pd.DatetimeIndex(ref.index).tz_localize(None)
        np.testing.assert_allclose(mine.to_numpy(), ref.reindex(mine.index).to_numpy(), atol=1e-10)
        for dm, ref_q in [(True, al_q), (False, al_q_raw)]:
            q, _ = quantile_returns(fd['factor'], fwd[h], 5, demeaned=dm)
            np.testing.assert_allclose(q.to_numpy(), ref_q[f'{h}D'].to_numpy(), atol=1e-12)
    qs = quantiles(fd['factor'], 5)
    np.testing.assert_array_equal(qs.to_numpy(), fd['factor_quantile'].to_numpy())
    mine_t = quantile_turnover(qs)[5]
    ref_t = al_turn.dropna()
    ref_t.index = pd.DatetimeIndex(ref_t.index).tz_localize(None)
    np.testing.assert_allclose(mine_t.reindex(ref_t.index).to_numpy(), ref_t.to_numpy(), atol=1e-12)


def test_equals_alphalens_on_synthetic():
    _compare_with_alphalens(make_synthetic_panel(40, 260, signal=0.3))


def test_equals_alphalens_on_real_panel():
    path = SHARED_DATA / 'sp500_5yr.parquet'
    if not path.is_file():
        pytest.skip(f'real S&P 500 panel not found at {path}')
    p = pd.read_parquet(path)
    syms = sorted(p['symbol'].unique())[:60]
    p = p[p['symbol'].isin(syms) & (p['date'] >= '2016-01-01') & (p['date'] < '2017-01-01')]
    _compare_with_alphalens(p.reset_index(drop=True))


def test_report_finds_planted_signal_and_not_noise():
    panel = make_synthetic_panel(60, 400, signal=0.3)
    _, mom = _momentum(panel, 20)
    rep = factor_report(mom, panel, horizon=5, max_h=10)
    assert rep.summary['rank_ic_mean'] > 0.02 and rep.summary['rank_ic_t_nw'] > 2
    assert list(rep.decay.index) == list(range(1, 11))
    noise = pd.Series(np.random.default_rng(0).normal(size=len(mom)), index=mom.index)
    rn = factor_report(noise, panel, horizon=5, max_h=5)
    assert abs(rn.summary['rank_ic_t_nw']) < 3
    assert 0.7 < rn.summary['turnover_top'] < 0.9  # random quintiles: ~80% new names a day


def test_newey_west_lags_zero_is_plain_t():
    x = np.random.default_rng(1).normal(0.1, 1, 500)
    np.testing.assert_allclose(newey_west_t(x, 0), x.mean() / x.std() * np.sqrt(len(x)))
