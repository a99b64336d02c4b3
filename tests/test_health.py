"""Data health: each anomaly kind on both sides of its threshold, the policy, the grades, membership, and the real panels."""

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from trademl.core import ConfigError, DataError
from trademl.health import (
    HealthConfig,
    Universe,
    apply_health_policy,
    apply_membership,
    find_anomalies,
    refuse_red,
    survivorship_note,
    symbol_health,
)

SP500 = SHARED_DATA / 'sp500_5yr.parquet'


def bars(close, symbol='X', start='2021-01-04', volume=1e6, gap=None):
    """A clean panel: opens at the previous close (times exp(gap)), wicks of 1% around open/close."""
    c = np.asarray(close, float)
    o = np.r_[c[0], c[:-1]] * (np.exp(gap) if gap is not None else 1.0)
    return pd.DataFrame(
        {
            'date': pd.bdate_range(start, periods=len(c)),
            'symbol': symbol,
            'open': o,
            'high': np.maximum(o, c) * 1.01,
            'low': np.minimum(o, c) * 0.99,
            'close': c,
            'volume': np.full(len(c), volume, float),
        }
    )


def walk(n=40, seed=0):
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def kinds(panel, **cfg):
    a = find_anomalies(panel, HealthConfig(**cfg) if cfg else None)
    return {
        (str(s), pd.Timestamp(d).strftime('%Y-%m-%d'), k)
        for s, d, k in zip(a.symbol, a.date, a.kind)
    }


def day(p, i):
    return p['date'].iloc[i].strftime('%Y-%m-%d')


def test_a_clean_panel_has_no_anomalies():
    assert kinds(bars(walk())) == set()


def test_copied_bar_flags_the_earlier_member_but_not_flat_bars():
    p = bars(walk())
    p.loc[10, ['open', 'high', 'low', 'close']] = p.loc[
        20, ['open', 'high', 'low', 'close']
    ].to_numpy()
    a = find_anomalies(p)
    assert (a.kind == 'copied_bar').sum() == 1
    assert a.loc[a.kind == 'copied_bar', 'date'].iloc[0] == p.date[10]
    assert day(p, 20) in a.loc[a.kind == 'copied_bar', 'detail'].iloc[0]
    p.loc[[10, 20], ['open', 'high', 'low', 'close']] = 100.0  # two flat bars are not copies
    assert not (find_anomalies(p).kind == 'copied_bar').any()


def test_placeholder_is_a_flat_bar_with_tiny_volume():
    p = bars(walk())
    p.loc[15, ['open', 'high', 'low', 'close']] = p.loc[14, 'close']
    p.loc[15, 'volume'] = 0.005e6  # 0.5% of the median: a placeholder
    assert (('X', day(p, 15), 'placeholder')) in kinds(p)
    p.loc[15, 'volume'] = 0.05e6  # 5%: a quiet but real bar
    assert not any(k == 'placeholder' for *_, k in kinds(p))


def test_high_low_bound_and_spike_on_both_sides():
    p = bars(walk())
    p.loc[5, 'high'] = max(p.loc[5, 'open'], p.loc[5, 'close']) * 0.999
    p.loc[6, 'low'] = min(p.loc[6, 'open'], p.loc[6, 'close']) * 1.001
    p.loc[7, 'high'] = max(p.loc[7, 'open'], p.loc[7, 'close']) * 1.30  # beyond 25%
    p.loc[8, 'high'] = max(p.loc[8, 'open'], p.loc[8, 'close']) * 1.20  # inside 25%
    k = kinds(p)
    assert ('X', day(p, 5), 'high_low_bound') in k and ('X', day(p, 6), 'high_low_bound') in k
    assert ('X', day(p, 7), 'high_low_spike') in k
    assert not any(d == day(p, 8) for _, d, _ in k)
    assert ('X', day(p, 8), 'high_low_spike') in kinds(p, spike=0.15)


def test_jump_reversal_needs_both_the_jump_and_the_reversal():
    c = np.full(40, 100.0)
    c[20] = 50.0  # -69% in logs, then back
    c = c * np.exp(np.arange(40) * 0.001)
    p = bars(c)
    assert ('X', day(p, 20), 'jump_reversal') in kinds(p)
    c2 = 100 * np.exp(np.arange(40) * 0.001)
    c2[20:] = (
        c2[20:] * 0.5
    )  # the same drop, not reversed, and traded intraday (no gap): not flagged
    assert not any(k == 'jump_reversal' for *_, k in kinds(bars(c2)))
    c3 = 100 * np.exp(np.arange(40) * 0.001)
    c3[20] = c3[20] * 0.8  # -22%: below the jump threshold of 0.3 in logs
    assert not any(k == 'jump_reversal' for *_, k in kinds(bars(c3)))
    assert ('X', day(p, 20), 'jump_reversal') not in kinds(p, reversal_share=1.0, jump=0.8)


def test_jump_gap_is_a_large_unreversed_downward_overnight_gap():
    c = walk()
    c[25:] = c[25:] * 0.5
    g = np.zeros(40)
    g[25] = np.log(0.5)  # the open already trades at the new level
    p = bars(c, gap=g)
    assert ('X', day(p, 25), 'jump_gap') in kinds(p)
    assert not any(k == 'jump_gap' for *_, k in kinds(p, gap_jump=0.8))
    bad_open = bars(walk(), gap=g)  # a bad open: the close stays at the old level
    assert not any(k == 'jump_gap' for *_, k in kinds(bad_open))
    up = bars(c[::-1].copy(), gap=-g[::-1])  # an upward gap is never an unadjusted distribution
    assert not any(k == 'jump_gap' for *_, k in kinds(up))


def test_zero_volume_and_stale_runs():
    c = walk()
    c[10:15] = c[10]  # 5 equal closes: the 4 repeats are a stale run at stale_days=5
    p = bars(c)
    p.loc[30, 'volume'] = 0.0
    k = kinds(p)
    assert ('X', day(p, 30), 'zero_volume') in k
    stale = sorted(d for _, d, kind in k if kind == 'stale_run')
    assert stale == [day(p, i) for i in range(11, 15)]
    assert not any(kind == 'stale_run' for *_, kind in kinds(p, stale_days=6))
    idx = bars(walk(), volume=0.0)  # an index never trades volume: no volume anomalies
    assert kinds(idx) == set()


def test_policy_masks_repairs_and_keeps():
    c = walk()
    c[20] = c[20] * 0.5
    p = bars(c)
    p.loc[5, 'high'] = max(p.loc[5, 'open'], p.loc[5, 'close']) * 0.999
    p.loc[8, 'high'] = max(p.loc[8, 'open'], p.loc[8, 'close']) * 1.5
    a = find_anomalies(p)
    clean, report = apply_health_policy(p, a)
    assert p.date[20] not in set(clean.date) and len(clean) == len(p) - 1
    row5 = clean[clean.date == p.date[5]].iloc[0]
    assert row5.high == max(row5.open, row5.close)
    assert clean[clean.date == p.date[8]].high.iloc[0] == p.high[8]  # spikes are kept by default
    assert set(report.kind) == {'jump_reversal', 'high_low_bound'}
    clean2, _ = apply_health_policy(p, a, {'high_low_spike': 'mask', 'jump_reversal': 'keep'})
    assert p.date[8] not in set(clean2.date) and p.date[20] in set(clean2.date)
    with pytest.raises(ConfigError, match='stale_run'):
        apply_health_policy(p, a, {'stale_run': 'repair'})


def test_gap_repair_back_adjusts_the_earlier_bars():
    c = walk()
    c[25:] = c[25:] * 0.5
    g = np.zeros(40)
    g[25] = np.log(0.5)
    p = bars(c, gap=g)
    clean, report = apply_health_policy(p, find_anomalies(p))
    assert len(clean) == len(p) and len(report) == 1
    np.testing.assert_allclose(
        clean.close[:25],
        p.close[:25] * 0.5 * p.open[25] / p.open[25] * (p.open[25] / p.close[24] / 0.5),
    )
    r = np.log(clean.close / clean.close.shift())
    assert r.abs().max() < 0.1


def test_grades_and_refusal():
    full = bars(walk(100), 'FULL')
    holey = bars(walk(100, 1), 'HOLEY').drop(index=range(40, 60))  # 80% coverage: RED
    late = bars(walk(30, 2), 'LATE', start=full.date[70].strftime('%Y-%m-%d'))  # span 30%: AMBER
    p = pd.concat([full, holey, late], ignore_index=True)
    h = symbol_health(p, find_anomalies(p))
    assert h.loc['FULL', 'status'] == 'GREEN'
    assert h.loc['HOLEY', 'status'] == 'RED' and 'coverage' in h.loc['HOLEY', 'reason']
    assert h.loc['LATE', 'status'] == 'AMBER' and 'span' in h.loc['LATE', 'reason']
    assert h.attrs['survivorship'] == survivorship_note()
    with pytest.raises(DataError, match='HOLEY'):
        refuse_red(h)
    assert refuse_red(h.drop(index='HOLEY')) is not None
    h2 = symbol_health(p, find_anomalies(p), HealthConfig(red_coverage=0.75, amber_coverage=0.9))
    assert h2.loc['HOLEY', 'status'] == 'AMBER'


def test_defects_make_a_symbol_red():
    c = walk(100)
    c[[20, 40, 60]] = c[[20, 40, 60]] * 0.5  # 3 reversed jumps in 100 bars: 3% > 2%
    h = symbol_health(bars(c), find_anomalies(bars(c)))
    assert h.loc['X', 'status'] == 'RED' and 'defect_share' in h.loc['X', 'reason']


def test_membership():
    p = pd.concat([bars(walk(), 'A'), bars(walk(seed=3), 'B')], ignore_index=True)
    u = Universe(
        pd.DataFrame(
            {'symbol': ['A', 'B'], 'from': [p.date[10], p.date[0]], 'to': [None, p.date[5]]}
        )
    )
    out = apply_membership(p, u)
    assert out[out.symbol == 'A'].date.min() == p.date[10] and len(out[out.symbol == 'B']) == 6
    assert u.members(p.date[3]) == ['B'] and u.members(p.date[20]) == ['A']
    assert out.attrs['survivorship'] == '' and survivorship_note(None)
    with pytest.raises(DataError, match='B'):
        Universe(pd.DataFrame({'symbol': ['B'], 'from': ['2021-02-01'], 'to': ['2021-01-01']}))


def test_unsorted_panels_are_refused():
    p = bars(walk())
    with pytest.raises(DataError, match='sorted'):
        find_anomalies(p.iloc[::-1])


@pytest.fixture(scope='module')
def sp500():
    if not SP500.is_file():
        pytest.skip(
            f'real S&P 500 panel not found at {SP500} (../shared/data is not beside this checkout)'
        )
    return pd.read_parquet(SP500)


def test_real_sp500_panel(sp500):
    a = find_anomalies(sp500)
    copied = a[a.kind == 'copied_bar']
    assert len(copied) == 1067
    top9 = set(copied.date.value_counts().index[:10])
    for d in [
        '2014-07-17',
        '2014-07-28',
        '2014-08-01',
        '2014-08-26',
        '2014-10-29',
        '2014-10-30',
        '2017-08-01',
        '2017-09-14',
        '2014-05-19',
    ]:
        assert pd.Timestamp(d) in top9, d
    on_nine = copied.date.isin(
        pd.to_datetime(
            [
                '2014-05-19',
                '2014-07-17',
                '2014-07-28',
                '2014-08-01',
                '2014-08-26',
                '2014-10-29',
                '2014-10-30',
                '2017-08-01',
                '2017-09-14',
            ]
        )
    ).sum()
    assert on_nine == 925
    got = set(zip(a.symbol, a.date.dt.strftime('%Y-%m-%d'), a.kind))
    assert ('LNT', '2016-05-19', 'jump_reversal') in got
    assert ('AOS', '2014-05-19', 'high_low_bound') in got
    for s, d in [
        ('DISCA', '2014-08-07'),
        ('DISCK', '2014-08-07'),
        ('NI', '2015-07-02'),
        ('EBAY', '2015-07-20'),
        ('BAX', '2015-07-01'),
    ]:
        assert (s, d, 'jump_gap') in got
    assert (a.kind == 'high_low_bound').sum() == 12  # the 12 rows of the data notes
    clean, report = apply_health_policy(sp500, a)
    r = np.log(clean.close / clean.groupby('symbol').close.shift())
    assert r.abs().max() < np.log(1.7)  # the largest moves left are real news (VRTX +62%)
    h = symbol_health(clean, find_anomalies(clean))
    assert (h.status == 'RED').sum() == 0 and h.loc['O', 'status'] == 'AMBER'


def test_real_etf_panel():
    etf = SHARED_DATA / 'etf_panel.parquet'
    if not etf.is_file():
        pytest.skip(
            f'real ETF panel not found at {etf} (../shared/data is not beside this checkout)'
        )
    p = pd.read_parquet(etf)
    a = find_anomalies(p)
    got = set(zip(a.symbol, a.date.dt.strftime('%Y-%m-%d'), a.kind))
    for s, d in [('QQQ', '2000-03-20'), ('IWM', '2005-06-09'), ('ITA', '2020-12-07')]:
        assert (s, d, 'jump_gap') in got  # the unadjusted splits of the raw OHLC
    assert ('ITA', '2010-05-06', 'jump_reversal') in got  # the flat flash-crash bar
    assert ('XLF', '2002-05-01', 'high_low_spike') in got  # the bad high tick
    assert ('DIA', '2010-11-18', 'zero_volume') in got and (
        'DIA',
        '2010-12-16',
        'zero_volume',
    ) in got
    assert not any(
        s in ('^VIX', '^TNX') and k == 'zero_volume' for s, _, k in got
    )  # indices trade no volume
    with pytest.raises(DataError, match='UVXY'):  # 120 zero-volume days of 2011-2012
        refuse_red(symbol_health(p, a))
    clean, _ = apply_health_policy(p, a)
    assert (symbol_health(clean, find_anomalies(clean)).status != 'RED').all()
