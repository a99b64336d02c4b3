"""Tests for the vectorised backtester: event-loop equality, cost pins, properties, stats."""

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trademl.data as tdata
from trademl.backtest import compute_stats, run_backtest
from trademl.costs import CostModel


# ---------------------------------------------------------------- reference
def reference_backtest(weights, panel, cm, execution, capital, window=20):
    """Plain event loop (days, then symbols) with the same conventions as run_backtest."""
    symbols = list(pd.unique(panel['symbol']))
    dates = sorted(pd.unique(panel['date']))
    bars = {(r.date, r.symbol): r for r in panel.itertuples(index=False)}
    wts = weights.sort_index()
    len(dates)
    last_close = dict.fromkeys(symbols)
    pos = dict.fromkeys(symbols, 0.0)
    hist_dollar = {s: [] for s in symbols}
    hist_lr = {s: [] for s in symbols}
    prev_raw_close = dict.fromkeys(symbols)
    cur_target = dict.fromkeys(symbols, 0.0)
    pending = dict.fromkeys(symbols, 0.0)  # target decided at previous close
    out_ret, out_cost = [], []
    for _t, day in enumerate(dates):
        if day in wts.index:
            row = wts.loc[day]
            new_target = {
                s: (0.0 if (s not in row.index or pd.isna(row[s])) else float(row[s]))
                for s in symbols
            }
        else:
            new_target = dict(cur_target)
        exec_target = new_target if execution == 'close' else pending
        day_ret, night, inday = 0.0, 0.0, 0.0
        costs = {'fee': 0.0, 'spread': 0.0, 'impact': 0.0, 'borrow': 0.0}
        for s in symbols:
            b = bars.get((day, s))
            valid = b is not None and not (pd.isna(b.open) or pd.isna(b.close))
            # causal liquidity: history up to the previous day only
            dw = [x for x in hist_dollar[s][-window:] if not pd.isna(x)]
            lw = [x for x in hist_lr[s][-window:] if not pd.isna(x)]
            adv = np.mean(dw) if len(dw) >= 1 else np.nan
            vol = np.std(lw, ddof=1) if len(lw) >= 2 else np.nan
            old = pos[s]
            new = exec_target[s] if valid else old
            lc = last_close[s]
            c = b.close if valid else lc
            o = b.open if valid else lc
            if execution == 'close':
                r = (c / lc - 1.0) if lc is not None else 0.0
                day_ret += old * r
                held = old
            else:
                r_on = (o / lc - 1.0) if lc is not None else 0.0
                r_id = (c / o - 1.0) if o is not None else 0.0
                night += old * r_on
                inday += new * r_id
                held = new
            if cm is not None:
                d = abs(new - old)
                hs = (
                    cm.half_spread_bps.get(s, cm.default_half_spread_bps)
                    if isinstance(cm.half_spread_bps, dict)
                    else cm.half_spread_bps
                )
                bb = (
                    cm.borrow_bps_annual.get(s, cm.default_borrow_bps)
                    if isinstance(cm.borrow_bps_annual, dict)
                    else cm.borrow_bps_annual
                )
                costs['fee'] += cm.fee_bps / 1e4 * d
                costs['spread'] += hs / 1e4 * d
                cap = cm.max_impact_bps / 1e4
                if not (np.isfinite(adv) and adv > 0 and np.isfinite(vol)):
                    frac = cap
                else:
                    frac = min(cm.impact_coef * vol * math.sqrt(d * capital / adv), cap)
                costs['impact'] += frac * d
                costs['borrow'] += bb / 1e4 / cm.periods_per_year * max(-held, 0.0)
            pos[s] = new
            if valid:
                last_close[s] = c
            # update liquidity history with today's raw bar
            raw_c = b.close if b is not None else np.nan
            vol_ = b.volume if b is not None else np.nan
            hist_dollar[s].append(raw_c * (0.0 if pd.isna(vol_) else vol_))
            pc = prev_raw_close[s]
            hist_lr[s].append(np.log(raw_c / pc) if pc is not None and not pd.isna(pc) else np.nan)
            prev_raw_close[s] = raw_c
        if (
            execution == 'next_open'
        ):  # overnight on the old book, rebalanced at the open, then the session
            day_ret = (1 + night) * (1 + inday) - 1
        cur_target = new_target
        pending = new_target
        out_ret.append(day_ret - sum(costs.values()))
        out_cost.append(costs)
    return pd.Series(out_ret, index=pd.DatetimeIndex(dates)), pd.DataFrame(
        out_cost, index=pd.DatetimeIndex(dates)
    )


def random_case(seed, n_sym=4, n_days=60, holes=True):
    """Synthetic panel with random missing bars/NaN opens/zero volume, plus random weights."""
    rng = np.random.default_rng(seed)
    p = tdata.make_synthetic_panel(n_sym, n_days, seed)
    if holes:
        p = p.drop(p.sample(frac=0.08, random_state=seed).index).reset_index(drop=True)
        p.loc[p.sample(frac=0.03, random_state=seed + 1).index, 'open'] = np.nan
        p.loc[p.sample(frac=0.05, random_state=seed + 2).index, 'volume'] = 0.0
    dates = pd.DatetimeIndex(sorted(pd.unique(p['date'])))
    syms = list(pd.unique(p['symbol']))
    keep = np.sort(rng.choice(len(dates), size=len(dates) * 2 // 3, replace=False))
    w = pd.DataFrame(rng.normal(0, 0.3, (len(keep), n_sym)), index=dates[keep], columns=syms)
    return p, w


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
@pytest.mark.parametrize('execution', ['close', 'next_open'])
@pytest.mark.parametrize('with_costs', [False, True])
def test_matches_event_loop(seed, execution, with_costs):
    p, w = random_case(seed)
    sym0 = w.columns[0]
    cm = (
        CostModel(
            fee_bps=1.0,
            half_spread_bps={sym0: 12.0},
            impact_coef=0.3,
            borrow_bps_annual={sym0: 300.0},
            default_borrow_bps=40.0,
        )
        if with_costs
        else None
    )
    res = run_backtest(w, p, cm, execution, capital=5e7)
    ref_r, ref_c = reference_backtest(w, p, cm, execution, 5e7)
    diff = np.max(np.abs(res.returns.to_numpy() - ref_r.to_numpy()))
    assert diff < 1e-10, diff
    np.testing.assert_allclose(
        res.costs.to_numpy(), ref_c[list(res.costs.columns)].to_numpy(), atol=1e-10, rtol=0
    )
    if with_costs:
        assert res.costs['impact'].sum() > 0 and res.costs['borrow'].sum() > 0


# ---------------------------------------------------------------- cost pins
def test_cost_components_hand_computed():
    cm = CostModel(fee_bps=2.0, half_spread_bps=5.0, impact_coef=0.1, borrow_bps_annual=252.0)
    trade = np.array([[0.1, -0.2]])
    held = np.array([[0.1, -0.2]])
    adv = np.array([[1e7, 4e6]])
    vol = np.array([[0.02, 0.03]])
    c = cm.costs(trade, held, adv, vol, capital=1e6)
    np.testing.assert_allclose(c['fee'], [[2e-4 * 0.1, 2e-4 * 0.2]])
    np.testing.assert_allclose(c['spread'], [[5e-4 * 0.1, 5e-4 * 0.2]])
    # sqrt law: 0.1*0.02*sqrt(1e5/1e7)=2e-4 ; 0.1*0.03*sqrt(2e5/4e6)=0.003*sqrt(.05)
    np.testing.assert_allclose(c['impact'], [[2e-4 * 0.1, 0.003 * math.sqrt(0.05) * 0.2]])
    np.testing.assert_allclose(c['borrow'], [[0.0, 0.2 * 252e-4 / 252]])


def test_impact_fallback_zero_adv_and_nan_vol():
    cm = CostModel(half_spread_bps=0.0, max_impact_bps=100.0)
    c = cm.costs(
        np.array([[0.5, 0.5, 0.0]]),
        np.zeros((1, 3)),
        np.array([[0.0, 1e6, np.nan]]),
        np.array([[0.02, np.nan, 0.02]]),
        capital=1e6,
    )
    np.testing.assert_allclose(c['impact'], [[0.01 * 0.5, 0.01 * 0.5, 0.0]])
    assert all(np.isfinite(v).all() for v in c.values())


def test_borrow_on_short_held_n_days():
    """A -50% short held for 10 full days accrues 10 * 0.5 * 100bps/252 of borrow."""
    p = tdata.make_synthetic_panel(2, 30, 0)
    dates = pd.DatetimeIndex(sorted(pd.unique(p['date'])))
    s = list(pd.unique(p['symbol']))
    w = pd.DataFrame(0.0, index=dates, columns=s)
    w.iloc[4:14, 0] = -0.5  # decided at close of days 4..13
    cm = CostModel(half_spread_bps=0.0, impact_coef=0.0, borrow_bps_annual=100.0)
    for ex in ('close', 'next_open'):
        res = run_backtest(w, p, cm, ex)
        assert res.costs['borrow'].sum() == pytest.approx(10 * 0.5 * 100e-4 / 252, rel=1e-12)
        assert (res.costs['borrow'] > 0).sum() == 10


def test_per_symbol_spread_mapping_and_unknown_symbol():
    p = tdata.make_synthetic_panel(2, 10, 0)
    dates = pd.DatetimeIndex(sorted(pd.unique(p['date'])))
    s = list(pd.unique(p['symbol']))
    w = pd.DataFrame({s[0]: 0.2, s[1]: 0.2}, index=dates[:1])
    cm = CostModel(half_spread_bps={s[0]: 10.0}, default_half_spread_bps=1.0, impact_coef=0.0)
    res = run_backtest(w, p, cm, 'close')
    assert res.costs['spread'].sum() == pytest.approx(0.2 * 10e-4 + 0.2 * 1e-4)
    with pytest.raises(ValueError, match='NOPE'):
        run_backtest(w.assign(NOPE=0.1), p)


def test_missing_bar_blocks_opening_and_returns_zero():
    p = tdata.make_synthetic_panel(2, 10, 0)
    dates = pd.DatetimeIndex(sorted(pd.unique(p['date'])))
    p = p[~((p['date'] == dates[3]) & (p['symbol'] == 'SYN000'))]
    w = pd.DataFrame({'SYN000': [1.0]}, index=dates[3:4])
    res = run_backtest(w, p, None, 'close')
    assert res.weights.loc[dates[3], 'SYN000'] == 0.0  # could not open on the missing day
    assert res.returns.loc[dates[3]] == 0.0 and res.weights.loc[dates[4], 'SYN000'] == 1.0


# ---------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    execution=st.sampled_from(['close', 'next_open']),
    scale=st.floats(0.1, 3.0),
)
def test_properties(seed, execution, scale):
    p, w = random_case(seed, n_sym=3, n_days=40)
    zero = run_backtest(w * 0.0, p, CostModel(fee_bps=1.0), execution)
    assert (zero.returns == 0).all() and (zero.costs.to_numpy() == 0).all()
    res = run_backtest(w * scale, p, CostModel(fee_bps=1.0), execution)
    assert (res.costs.to_numpy() >= 0).all() and np.isfinite(res.returns).all()
    r1 = run_backtest(
        w, p, None, 'close'
    ).returns  # at the close, returns are linear in the weights
    r2 = run_backtest(2 * w, p, None, 'close').returns
    np.testing.assert_allclose(r2.to_numpy(), 2 * r1.to_numpy(), atol=1e-14, rtol=1e-12)
    # sign flip: a book and its mirror lose the same costs
    a, b = (
        run_backtest(w * scale, p, CostModel(), execution),
        run_backtest(-w * scale, p, CostModel(borrow_bps_annual=0.0), execution),
    )
    np.testing.assert_allclose(a.turnover, b.turnover, atol=1e-15)


# ---------------------------------------------------------------- stats
def test_stats_tiny_hand_example():
    r = pd.Series([0.01, -0.02, 0.03, -0.01])
    st_ = compute_stats(r, pd.Series([0.0] * 4), pd.DataFrame({'fee': [0.0] * 4}))
    mean, sd = 0.0025, np.std([0.01, -0.02, 0.03, -0.01], ddof=1)
    assert st_['sharpe'] == pytest.approx(mean / sd * math.sqrt(252))
    # equity 1.01, 0.9898, 1.019494, 1.00929906 ; trough 0.9898 vs peak 1.01
    assert st_['max_drawdown'] == pytest.approx(0.9898 / 1.01 - 1)
    assert st_['hit_rate'] == 0.5 and st_['profit_factor'] == pytest.approx(0.04 / 0.03)


def test_result_outputs(tmp_path):
    p, w = random_case(7, n_sym=3, n_days=120, holes=False)
    res = run_backtest(w, p, CostModel())
    assert res.equity.iloc[-1] == pytest.approx(np.prod(1 + res.returns.to_numpy()))
    assert set(res.figures()) == {'equity', 'drawdown', 'exposures', 'costs'}
    assert list(res.exposures.columns) == ['gross', 'net', 'long', 'short']
    out = res.tearsheet(tmp_path / 't.html')
    assert os.path.getsize(out) > 1000
