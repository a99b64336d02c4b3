"""Cross-sectional labels: forward returns by hand, demeaning and ranking per date, triple barrier with exit dates, availability and causality."""

import numpy as np
import pandas as pd
import pytest

from trademl.alpha_labels import (
    LabelConfig,
    by_availability,
    forward_return,
    make_labels,
    triple_barrier_labels,
)
from trademl.core import ConfigError
from trademl.data import make_synthetic_panel
from trademl.features import assert_causal


@pytest.fixture(scope='module')
def syn():
    return make_synthetic_panel(8, 300, seed=2)


def test_forward_return_by_hand(syn):
    g = syn[syn.symbol == 'SYN004'].reset_index(drop=True)
    r = forward_return(syn, 5).xs('SYN004')
    for t in [0, 50, 294]:
        assert r.fwd_5.iloc[t] == pytest.approx(g.close[t + 5] / g.open[t + 1] - 1, rel=1e-13)
        assert r.known.iloc[t] == g.date[t + 5]
    assert r.fwd_5.iloc[-5:].isna().all() and r.known.iloc[-5:].isna().all()
    r3 = forward_return(syn, 3).xs('SYN004')
    assert r3.fwd_3.iloc[10] == pytest.approx(g.close[13] / g.open[11] - 1, rel=1e-13)


def test_demeaned_sums_to_zero_and_rank_is_in_range(syn):
    raw = forward_return(syn, 5)['fwd_5']
    dm = forward_return(syn, 5, 'demeaned')['fwd_5']
    assert dm.groupby(level='date').sum().abs().max() < 1e-12
    d0 = raw.index.get_level_values('date')[20]
    day = raw.xs(d0, level='date')
    assert np.allclose(dm.xs(d0, level='date'), day - day.mean())
    rk = forward_return(syn, 5, 'rank')['fwd_5']
    day_rk = rk.xs(d0, level='date')
    assert day_rk.max() == 1 and day_rk.min() == -1
    assert (day_rk.rank() == day.rank()).all()
    assert rk.isna().equals(raw.isna())


def test_a_ragged_universe_demeans_over_the_symbols_present():
    a = make_synthetic_panel(3, 60, seed=5)
    a = a[~((a.symbol == 'SYN002') & (a.date < a.date.unique()[30]))].reset_index(drop=True)
    dm = forward_return(a, 5, 'demeaned')['fwd_5'].dropna()
    counts = dm.groupby(level='date').size()
    assert set(counts) == {2, 3}
    assert dm.groupby(level='date').sum().abs().max() < 1e-12


def test_horizon_longer_than_the_data_is_refused(syn):
    with pytest.raises(ConfigError, match=r'horizon 400 .*300 bars'):
        forward_return(syn, 400)
    with pytest.raises(ConfigError, match='300'):
        triple_barrier_labels(syn, max_h=300)
    with pytest.raises(ConfigError, match='how'):
        forward_return(syn, 5, 'zscore')


def _sawtooth(n=40):
    d = pd.bdate_range('2021-01-04', periods=n)
    c = 100 * np.exp(0.01 * np.tile([1.0, -1.0], n // 2).cumsum())
    return pd.DataFrame(
        {
            'date': d,
            'symbol': 'X',
            'open': c,
            'high': c * 1.001,
            'low': c * 0.999,
            'close': c,
            'volume': 1e6,
        }
    )


def test_triple_barrier_take_profit_stop_and_time_limit():
    b = _sawtooth()
    t = 25
    sig = np.log(b.close).diff()[t - 19 : t + 1].std()
    up = b.copy()
    up.loc[t + 3, 'high'] = up.open[t + 1] * (1 + 2.5 * sig)
    lab = triple_barrier_labels(up, sl=3.0).iloc[t]
    assert (lab.tb_label, lab.tb_days, lab.known) == (1.0, 3.0, b.date[t + 3])
    assert lab.tb_ret == pytest.approx(2 * sig, rel=1e-12)
    dn = b.copy()
    dn.loc[t + 2, 'low'] = dn.open[t + 1] * (1 - 3.5 * sig)
    lab = triple_barrier_labels(dn, sl=3.0).iloc[t]
    assert (lab.tb_label, lab.tb_days, lab.known) == (-1.0, 2.0, b.date[t + 2])
    lab = triple_barrier_labels(b, sl=3.0, max_h=6).iloc[t]
    assert (lab.tb_label, lab.tb_days, lab.known) == (0.0, 6.0, b.date[t + 6])
    assert lab.tb_ret == pytest.approx(b.close[t + 6] / b.open[t + 1] - 1)
    first = triple_barrier_labels(b).iloc[:20]
    assert first.tb_label.isna().all() and first.known.isna().all()  # sigma needs 20 returns


def test_availability_makes_labels_causal(syn):
    sub = syn[syn.symbol.isin(['SYN000', 'SYN001', 'SYN002'])]
    with pytest.raises(AssertionError, match='look-ahead'):
        assert_causal(lambda p: forward_return(p, 5).drop(columns='known'), sub, n_cuts=2)
    for how in ['raw', 'demeaned', 'rank']:
        assert_causal(lambda p, how=how: by_availability(forward_return(p, 5, how)), sub, n_cuts=2)
    assert_causal(
        lambda p: by_availability(triple_barrier_labels(p)), sub, n_cuts=2, checks=('perturb',)
    )
    with pytest.raises(
        AssertionError, match='look-ahead'
    ):  # indexed by origin, the barrier path looks ahead
        assert_causal(
            lambda p: triple_barrier_labels(p).drop(columns='known'),
            sub,
            n_cuts=2,
            checks=('perturb',),
        )


def test_by_availability_index(syn):
    x = by_availability(forward_return(syn, 5))
    assert x.index.names == ['symbol', 'date', 'origin']
    assert (x.index.get_level_values('date') > x.index.get_level_values('origin')).all()
    with pytest.raises(ConfigError, match='known'):
        by_availability(forward_return(syn, 5).drop(columns='known'))


def test_make_labels_selects_the_target(syn):
    f = make_labels(syn)
    assert f.label.equals(forward_return(syn, 5, 'demeaned').fwd_5.rename('label'))
    tb = make_labels(syn, LabelConfig(target='triple_barrier', how='raw'))
    assert set(tb.label.dropna().unique()) <= {-1.0, 0.0, 1.0}
    with pytest.raises(ConfigError, match='target'):
        LabelConfig(target='sharpe')
