"""The multi-strategy allocation: interpreter rules, multi-asset windows, the book's invariants, its errors and its causality."""

import json

import numpy as np
import pandas as pd
import pytest

from trademl.allocation import (
    AllocationConfig,
    StrategyConfig,
    allocate,
    default_strategies,
    write_allocation,
)
from trademl.allocation_validation import walk_forward
from trademl.core import ConfigError, ModelError, TripwireError
from trademl.interpreters import (
    BreadthRule,
    EntropyRule,
    QuantileBreach,
    SpikeOverride,
    SpreadRule,
    TrendStrength,
    binary_entropy,
    make_interpreter,
)
from trademl.multi_asset import multi_asset_windows
from trademl.signal_models import resolve_model


def toy_panel(n=700, seed=0):
    """QQQ, SQQQ (its inverse), SPY, GLD and a mean-reverting ^VIX that sometimes spikes above 30."""
    rng = np.random.default_rng(seed)
    d = pd.bdate_range('2001-01-02', periods=n)
    r = {
        'QQQ': rng.normal(0.0004, 0.012, n),
        'SPY': rng.normal(0.0003, 0.010, n),
        'GLD': rng.normal(0.0002, 0.009, n),
    }
    r['SQQQ'] = -r['QQQ']
    vix = np.empty(n)
    vix[0] = 20.0
    for i in range(1, n):
        vix[i] = vix[i - 1] + 0.05 * (20 - vix[i - 1]) + rng.normal(0, 1.5)
    rows = []
    for s, x in r.items():
        c = 100 * np.exp(np.cumsum(x))
        rows.append(pd.DataFrame({'date': d, 'symbol': s, 'close': c, 'open': np.r_[c[0], c[:-1]]}))
    rows.append(
        pd.DataFrame(
            {'date': d, 'symbol': '^VIX', 'close': np.abs(vix) + 9, 'open': np.abs(vix) + 9}
        )
    )
    p = pd.concat(rows, ignore_index=True)
    p['high'] = p[['open', 'close']].max(axis=1) * 1.001
    p['low'] = p[['open', 'close']].min(axis=1) * 0.999
    p['volume'] = 1e6
    return p


def toy_cfg(extra=()):
    S = StrategyConfig
    return AllocationConfig(
        strategies=[
            S(
                name='rotator',
                traded=['QQQ'],
                short_leg=['SQQQ'],
                auxiliary=['SPY'],
                model='trend',
                interpreter='entropy',
                thresholds={'p_min': 0.55, 'max_entropy': 0.99},
                lookback=20,
            ),
            S(
                name='trend',
                traded=['SPY', 'GLD'],
                long_leg=['SPY', 'GLD'],
                model='momentum',
                interpreter='trend_strength',
                thresholds={'threshold': 0.0, 'scale': 0.01},
                lookback=20,
            ),
            S(
                name='spike',
                traded=['^VIX'],
                model='momentum',
                target='change',
                interpreter='spike_override',
                role='override',
                lookback=20,
            ),
            *extra,
        ],
        history=100,
    )


# ---- interpreters: each threshold on both sides, hand-computed ------------------------------------------


def test_entropy_rule_thresholds_both_sides():
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.9) == pytest.approx(0.4690, abs=1e-4)  # bits
    d, c = EntropyRule().interpret({'prob': np.array([0.90, 0.88, 0.10, 0.12, 0.5])})
    assert d.tolist() == [1, 0, -1, 0, 0]  # entropy 0.469 < 0.5 on one side, 0.529 on the other
    assert c[0] == pytest.approx(1 - 0.4690, abs=1e-4)
    d, _ = EntropyRule(max_entropy=1.0).interpret({'prob': np.array([0.651, 0.649, 0.349, 0.351])})
    assert d.tolist() == [1, 0, -1, 0]


def test_spread_quantile_trend_spike_breadth_rules():
    d, c = SpreadRule().interpret({'ret': np.array([0.0101, 0.0099, -0.0099, -0.0101])})
    assert d.tolist() == [1, 0, 0, -1] and c[0] == pytest.approx(0.202)
    band = np.array(
        [[0.01, 0.02, 0.03], [-0.01, 0.0, 0.01], [-0.03, -0.02, -0.01], [-0.01, 0.0, 0.01]]
    )
    assert QuantileBreach().interpret({'quantiles': band})[0].tolist() == [1, 1, 0, 0]
    assert QuantileBreach(hold=False).interpret({'quantiles': band})[0].tolist() == [1, 0, 0, 0]
    d, c = TrendStrength().interpret({'ret': np.array([0.0301, 0.0299, 0.05])})
    assert d.tolist() == [1, 0, 1] and c.tolist() == pytest.approx([0.301, 0.0, 0.5])
    assert SpikeOverride().interpret({'ret': np.log([1.101, 1.099])})[0].tolist() == [-1, 0]
    p = np.array([[0.6, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4], [0.6, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4]])
    assert BreadthRule().interpret({'prob': p})[0].tolist() == [1, 0]  # 4 of 7 vs 3 of 7


@pytest.mark.parametrize(
    'name,key,bad',
    [
        ('entropy', 'p_min', 'high'),
        ('spread', 'threshold', '0.01'),
        ('quantile_breach', 'hold', 'yes'),
        ('trend_strength', 'threshold', [0.03]),
    ],
)
def test_a_threshold_of_the_wrong_type_is_a_config_error(name, key, bad):
    with pytest.raises(ConfigError, match=key):
        make_interpreter(name, {key: bad})
    with pytest.raises(ConfigError, match=key):
        StrategyConfig(interpreter=name, thresholds={key: bad})


def test_the_signal_dict_has_the_inference_keys():
    s = TrendStrength().signal(
        {'ret': np.array([0.05])}, strategy='x', symbol='USO', asof='2020-01-02', horizon=60
    )
    assert set(s) == {
        'strategy',
        'symbol',
        'asof',
        'signal',
        'strength',
        'horizon',
        'expected_return',
        'raw_outputs',
    }
    assert (s['signal'], s['horizon'], s['expected_return']) == ('LONG', '60d', 0.05)


# ---- multi-asset windows and errors --------------------------------------------------------------------


def test_windows_are_views_aligned_and_errors_name_the_problem():
    p = toy_panel(200)
    w = multi_asset_windows(p, ['QQQ'], ['SPY', '^VIX'], lookback=30)
    assert w.x.shape == (len(w.dates), 30, 3) and w.x.base is not None
    assert w.x[-1, -1, 0] == pytest.approx(
        np.log(w.closes['QQQ'].iloc[-1] / w.closes['QQQ'].iloc[-2])
    )
    with pytest.raises(ConfigError, match=r"'XYZ'.*QQQ"):
        multi_asset_windows(p, ['QQQ'], ['XYZ'], 30)
    with pytest.raises(ConfigError, match=r'500.*199'):
        multi_asset_windows(p, ['QQQ'], [], 500)
    gap = p[~((p['symbol'] == 'SPY') & (p['date'] > p['date'].iloc[150]))]
    with pytest.raises(TripwireError, match='SPY'):
        multi_asset_windows(gap, ['QQQ'], ['SPY'], 30, asof=p['date'].iloc[190])
    w2 = multi_asset_windows(
        gap, ['QQQ'], ['SPY'], 30
    )  # no as-of date: filled from the past, counted
    assert w2.gaps.loc['SPY', 'filled_from_past'] == 199 - 150


def test_a_missing_neural_model_is_a_model_error_unless_the_fallback_is_allowed():
    with pytest.raises(ModelError, match='patchtst'):
        resolve_model('patchtst', fallback='momentum')
    assert (
        resolve_model('patchtst', allow_fallback=True, fallback='momentum').__class__.__name__
        == 'MomentumModel'
    )


def test_yaml_round_trip_of_the_default_book():
    cfg = AllocationConfig(strategies=default_strategies('+breadth'))
    assert AllocationConfig.from_yaml(cfg.to_yaml()) == cfg
    names = [s.name for s in cfg.strategies]
    assert names[:4] == [
        'sector_alpha_rotator',
        'real_economy_rotator',
        'industrial_sniper',
        'deep_cycle_arbitrage',
    ]
    assert cfg.strategies[0].short_leg == ['SQQQ']


# ---- the book ------------------------------------------------------------------------------------------


def test_book_invariants_gross_cash_and_long_only():
    p = toy_panel()
    _, book = walk_forward(p, toy_cfg(), start='2002-01-01')
    t = book.targets
    held = t.drop(columns='cash')
    assert (held >= 0).all().all()
    assert (held.sum(axis=1) <= 1 + 1e-12).all()
    np.testing.assert_allclose(t['cash'], 1 - held.sum(axis=1), atol=1e-12)
    assert (held.sum(axis=1) > 0).any()  # it does trade


def test_a_flat_strategy_contributes_nothing():
    p = toy_panel()
    never = StrategyConfig(
        name='never',
        traded=['GLD'],
        model='momentum',
        interpreter='trend_strength',
        thresholds={'threshold': 10.0},
        lookback=20,
    )
    a = allocate(p, toy_cfg(), asof=p['date'].iloc[-1])
    b = allocate(p, toy_cfg([never]), asof=p['date'].iloc[-1])
    assert b.weights['never'] == 0.0
    pd.testing.assert_series_equal(a.targets.reindex(b.targets.index, fill_value=0.0), b.targets)


def test_leverage_must_be_configured_to_exceed_gross_one():
    p = toy_panel()
    _, one = walk_forward(p, toy_cfg(), start='2002-01-01')
    _, lev = walk_forward(p, toy_cfg().replace(leverage=1.5), start='2002-01-01')
    g1, g15 = (b.targets.drop(columns='cash').sum(axis=1) for b in (one, lev))
    assert g1.max() <= 1 + 1e-12 and g15.max() <= 1.5 + 1e-12
    assert g15.max() > g1.max()  # configured leverage is used
    with pytest.raises(ConfigError, match='leverage'):
        AllocationConfig(leverage=-1.0)


def test_allocation_is_causal():
    p = toy_panel()
    cut = p['date'].iloc[600]
    _, full = walk_forward(p, toy_cfg(), start='2002-01-01')
    _, part = walk_forward(p[p['date'] <= cut], toy_cfg(), start='2002-01-01')
    pd.testing.assert_frame_equal(full.targets.loc[:cut], part.targets)
    a = allocate(p, toy_cfg(), asof=cut)
    b = allocate(p[p['date'] <= cut], toy_cfg(), asof=cut)
    pd.testing.assert_series_equal(a.targets, b.targets)


def test_allocation_text_json_and_file(tmp_path):
    p = toy_panel()
    a = allocate(p, toy_cfg())
    text = str(a)
    assert text.endswith('%') and 'cash' in text and text == a.summary()
    f = write_allocation(a, tmp_path / 'alloc.json')
    with open(f) as fh:
        d = json.load(fh)
    assert d['summary'] == text and d['targets']['cash'] == pytest.approx(a.targets['cash'])
    assert {s['strategy'] for s in d['signals']} == {'rotator', 'trend', 'spike'}


# ---- the real ETF panel ------------------------------------------------------------------------------


def test_default_book_on_the_real_etf_panel(etf_panel_path):
    from trademl.data import load_panel

    etf = load_panel('files', etf_panel_path)
    a = allocate(etf, AllocationConfig(), asof='2020-06-30')
    held = a.targets.drop('cash')
    assert held.sum() <= 1 + 1e-12 and a.targets['cash'] == pytest.approx(1 - held.sum())
    assert len(a.signals) == 6
    with pytest.raises(TripwireError, match="'GLD'.*2003"):
        multi_asset_windows(etf, ['QQQ'], ['GLD'], 60, asof='2003-06-30')
    with pytest.raises(ModelError, match='bilstm_kan'):
        allocate(etf, AllocationConfig(allow_fallback=False), asof='2020-06-30')


def test_breadth_and_rotation_strategies_run_end_to_end():
    p = toy_panel()
    S = StrategyConfig
    breadth = S(
        name='breadth',
        traded=['QQQ'],
        members=['QQQ', 'SPY', 'GLD'],
        model='trend',
        interpreter='breadth',
        role='breadth',
        lookback=20,
    )
    rot = S(
        name='rot',
        traded=['QQQ'],
        members=['SPY', 'GLD', 'QQQ'],
        model='momentum',
        lookback=20,
        interpreter='trend_strength',
        thresholds={'threshold': 0.0, 'scale': 0.01},
        role='rotation',
        rebalance_every=5,
    )
    runs, book = walk_forward(
        p, AllocationConfig(strategies=[breadth, rot], history=100), start='2002-01-01'
    )
    assert list(runs['breadth'].positions.columns) == ['QQQ']
    held = runs['rot'].positions
    assert ((held > 0).sum(axis=1) <= 1).all()  # one sector at a time
    changes = held.ne(held.shift()).any(axis=1).to_numpy().nonzero()[0]
    assert len(changes) > 2 and len({i % 5 for i in changes[1:]}) == 1  # weekly rebalancing only


def test_the_window_builder_is_causal_on_the_real_panel(etf_panel_path):
    from trademl.data import load_panel
    from trademl.features import assert_causal

    etf = load_panel('files', etf_panel_path, symbols=['ITA', 'XLI', 'QQQ', '^VIX'])

    def last_bar(p):
        w = multi_asset_windows(p, ['ITA', 'XLI'], ['QQQ', '^VIX'], lookback=20)
        idx = pd.MultiIndex.from_product([w.dates, ['ITA']], names=['date', 'symbol'])
        return pd.DataFrame(w.x[:, -1, :], index=idx, columns=w.channels)

    assert_causal(last_bar, etf, cuts=['2012-06-29', '2018-03-29'])
