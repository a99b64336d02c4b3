"""Cross-sectional alpha features: definitions by hand, warm-up, causality (and a planted leak), per-date normalisation."""

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from trademl.alpha_features import FEATURES, Wide, alpha_features, cross_sectional
from trademl.core import ConfigError
from trademl.data import make_synthetic_panel
from trademl.features import assert_causal

SP500 = SHARED_DATA / 'sp500_5yr.parquet'


@pytest.fixture(scope='module')
def syn():
    return make_synthetic_panel(12, 400, seed=1)


@pytest.fixture(scope='module')
def feats(syn):
    return alpha_features(syn)


def test_shape_columns_and_warm_up(syn, feats):
    assert list(feats.columns) == list(FEATURES)
    assert feats.index.names == ['symbol', 'date'] and len(feats) == len(syn)
    f = feats.xs('SYN000')
    for col, warm in [
        ('mom_5', 5),
        ('mom_126', 126),
        ('mom_12_1', 252),
        ('vol_20', 20),
        ('vol_60', 60),
        ('dd_252', 251),
        ('beta_60', 60),
        ('gap_mean_20', 20),
        ('log_adv_20', 19),
    ]:
        assert f[col].iloc[:warm].isna().all(), col
        assert f[col].iloc[warm:].notna().all(), col


def test_definitions_by_hand(syn, feats):
    g = syn[syn.symbol == 'SYN003'].reset_index(drop=True)
    f = feats.xs('SYN003').reset_index(drop=True)
    i = 310
    lr = np.log(g.close / g.close.shift())
    gap = g.open / g.close.shift() - 1
    m, s = g.close[i - 19 : i + 1].mean(), g.close[i - 19 : i + 1].std()
    assert f.mom_60[i] == pytest.approx(g.close[i] / g.close[i - 60] - 1, rel=1e-12)
    assert f.mom_12_1[i] == pytest.approx(g.close[i - 21] / g.close[i - 252] - 1, rel=1e-12)
    assert f.zclose_20[i] == pytest.approx((g.close[i] - m) / s, rel=1e-9)
    assert f.boll_20[i] == pytest.approx((g.close[i] - (m - 2 * s)) / (4 * s), rel=1e-9)
    assert f.vol_60[i] == pytest.approx(lr[i - 59 : i + 1].std(), rel=1e-9)
    assert f.gap_mean_20[i] == pytest.approx(gap[i - 19 : i + 1].mean(), rel=1e-9)
    assert f.log_adv_20[i] == pytest.approx(
        np.log((g.close * g.volume)[i - 19 : i + 1].mean()), rel=1e-12
    )
    assert f.dd_252[i] == pytest.approx(g.close[i] / g.close[i - 251 : i + 1].max() - 1, abs=1e-12)
    wd = g.date[i].weekday()
    assert f.dow_sin[i] == pytest.approx(np.sin(2 * np.pi * wd / 5))
    assert f.dow_cos[i] == pytest.approx(np.cos(2 * np.pi * wd / 5))
    close = Wide(syn)['close']
    r = close / close.shift() - 1
    mk = r.mean(axis=1)
    beta = np.polyfit(mk.iloc[i - 59 : i + 1], r['SYN003'].iloc[i - 59 : i + 1], 1)[0]
    assert f.beta_60[i] == pytest.approx(beta, rel=1e-8)


def test_a_missing_bar_makes_windows_through_it_nan(syn):
    p = syn.drop(index=syn.index[(syn.symbol == 'SYN001') & (syn.date == syn.date.unique()[300])])
    f = alpha_features(p).xs('SYN001')
    d = syn.date.unique()
    assert np.isnan(f.loc[d[301], 'vol_20']) and np.isnan(f.loc[d[305], 'mom_5'])
    assert not np.isnan(f.loc[d[301], 'mom_5'])  # close 301 over close 296 does not need bar 300
    assert not np.isnan(f.loc[d[301 + 21], 'vol_20'])  # the window has moved past the gap


def test_the_market_is_the_mean_of_the_symbols_present(syn):
    one = alpha_features(syn[syn.symbol == 'SYN000'])
    assert one.beta_60.dropna().sub(1).abs().max() < 1e-9  # alone, a stock is its own market


def test_sector_codes(syn):
    f = alpha_features(syn, sector={'SYN000': 'b', 'SYN001': 'a'})
    codes = f.groupby(level='symbol').sector.first()
    assert codes['SYN000'] == 1 and codes['SYN001'] == 0 and codes['SYN005'] == -1
    assert f.attrs['sector_codes'] == {'a': 0, 'b': 1}
    with pytest.raises(ConfigError, match='mapping'):
        alpha_features(syn, sector=['a'])


def test_causal_on_synthetic_and_a_planted_leak_is_caught(syn):
    sub = syn[syn.symbol.isin(['SYN000', 'SYN001', 'SYN002', 'SYN003'])]
    assert_causal(alpha_features, sub, n_cuts=2)

    def leaky(p):
        w = Wide(p)
        return alpha_features(p).assign(peek=w.to_frame({'x': w['close'].shift(-1)})['x'])

    with pytest.raises(AssertionError, match='peek'):
        assert_causal(leaky, sub, n_cuts=2)


def test_causal_on_a_real_slice():
    if not SP500.is_file():
        pytest.skip(
            f'real S&P 500 panel not found at {SP500} (../shared/data is not beside this checkout)'
        )
    p = pd.read_parquet(SP500)
    syms = sorted(p.symbol.unique())[::17][:30]
    dates = np.sort(p.date.unique())[:400]
    sub = p[p.symbol.isin(syms) & p.date.isin(dates)].reset_index(drop=True)
    assert_causal(alpha_features, sub, n_cuts=2)


def _reference(frame, how, winsor=3.0):
    def one(d):
        if how == 'z':
            return ((d - d.mean()) / d.std()).clip(-winsor, winsor)
        n = d.count()
        return 2 * (d.rank() - 1) / (n - 1) - 1 if n > 1 else d * 0

    out = frame.groupby(level='date', group_keys=False).apply(lambda d: d.apply(one))
    return out.reindex(frame.index)


@pytest.mark.parametrize('how', ['rank', 'z'])
def test_cross_sectional_equals_a_per_date_reference(feats, how):
    dates = feats.index.get_level_values('date')
    days = np.sort(dates.unique())
    x = feats.loc[
        (dates >= days[250]) & (dates < days[300]), ['mom_20', 'vol_20', 'beta_60', 'dd_252']
    ].copy()
    x.iloc[::11, 0] = np.nan
    got = cross_sectional(x, how, winsor=2.0)
    pd.testing.assert_frame_equal(
        got, _reference(x, how, winsor=2.0), check_dtype=False, atol=1e-12
    )
    assert got.isna().equals(x.isna())


def test_cross_sectional_uses_each_dates_rows_only(feats):
    x = feats[['mom_20']].dropna()
    d0 = x.index.get_level_values('date').unique()[5]
    y = x.copy()
    other = y.index.get_level_values('date') != d0
    y.loc[other, 'mom_20'] = y.loc[other, 'mom_20'] * 100 + 7  # change every other date
    for how in ['rank', 'z']:
        a = cross_sectional(x, how).xs(d0, level='date')
        b = cross_sectional(y, how).xs(d0, level='date')
        pd.testing.assert_frame_equal(a, b)


def test_cross_sectional_ranges_and_errors(feats):
    r = cross_sectional(feats, 'rank')
    assert r.mom_5.dropna().between(-1, 1).all()
    assert cross_sectional(feats, 'z', winsor=1.5).vol_20.dropna().abs().max() <= 1.5
    single = feats.iloc[:1][['mom_5']].fillna(0.3)
    assert cross_sectional(single, 'rank').mom_5.iloc[0] == 0.0
    with pytest.raises(ConfigError, match='how'):
        cross_sectional(feats, 'minmax')
    with pytest.raises(ConfigError, match='winsor'):
        cross_sectional(feats, 'z', winsor=0)
