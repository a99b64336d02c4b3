"""Portfolio construction: hand-computed weights, caps and Kelly, property tests of the invariants,
volatility, combiner, guardrails.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trademl.portfolio import (
    Guardrails,
    PortfolioConfig,
    SignalCombiner,
    scores_from_signals,
    signals_to_weights,
    vol_forecast,
    vol_target_scale,
    weights_panel,
)


def sig(strategy, symbol, signal, strength=1.0, vetoed=False, er=0.0):
    """Build a seed-000 style signal dict."""
    return {
        'strategy': strategy,
        'symbol': symbol,
        'asof': '2024-01-02',
        'signal': signal,
        'strength': strength,
        'horizon': '5d',
        'expected_return': er,
        'raw_outputs': {'vetoed': vetoed},
    }


# ---------------------------------------------------------------- signals_to_weights
def test_hand_example_four_symbols():
    """ranks D=1,B=2,C=3,A=4 -> z=(r-2.5)/sqrt(1.25)=[-1.342,-0.447,0.447,1.342]; *0.25 -> [-.3354,-.1118,.1118,.3354];
    cap 0.3 -> [-.3,-.1118,.1118,.3]; gross .8236 > .5 -> *0.607082; Kelly *0.5."""
    cfg = PortfolioConfig(max_weight=0.3, z_scale=0.25, gross_cap=0.5, kelly_fraction=0.5)
    w = signals_to_weights(pd.Series({'A': 0.9, 'B': -0.2, 'C': 0.1, 'D': -0.8}), cfg)
    expected = pd.Series({'A': 0.0910623, 'B': -0.0339368, 'C': 0.0339368, 'D': -0.0910623})
    pd.testing.assert_series_equal(w, expected, atol=1e-7, check_names=False)
    assert w.abs().sum() == pytest.approx(0.25)  # gross cap 0.5 then Kelly 0.5


def test_cap_only_no_gross_scaling():
    """Same ranks, gross cap not binding: weights are capped z * z_scale * Kelly."""
    cfg = PortfolioConfig(max_weight=0.3, z_scale=0.25, gross_cap=1.0, kelly_fraction=1.0)
    w = signals_to_weights(pd.Series({'A': 0.9, 'B': -0.2, 'C': 0.1, 'D': -0.8}), cfg)
    assert w.to_dict() == pytest.approx({'A': 0.3, 'B': -0.1118034, 'C': 0.1118034, 'D': -0.3})


def test_vetoed_and_flat_get_zero():
    """Vetoed and FLAT signals are excluded from ranking and get exactly 0."""
    sigs = [
        sig('s', 'A', 'LONG', 0.9),
        sig('s', 'B', 'SHORT', 0.5),
        sig('s', 'C', 'LONG', 0.7, vetoed=True),
        sig('s', 'D', 'FLAT', 0.0),
        sig('s', 'E', 'LONG', 0.2),
    ]
    scores, excl = scores_from_signals(sigs)
    assert excl == {'C', 'D'}
    w = signals_to_weights(scores, PortfolioConfig(max_weight=0.25, z_scale=0.25), exclude=excl)
    assert w['C'] == 0.0 and w['D'] == 0.0
    assert w['A'] > 0 and w['B'] < 0


def test_degenerate_cross_sections():
    """Single symbol / all-equal scores -> sign(score) * max_weight (then gross cap, Kelly)."""
    cfg = PortfolioConfig(max_weight=0.25, gross_cap=1.0, kelly_fraction=0.5)
    assert signals_to_weights(pd.Series({'A': -0.4}), cfg)['A'] == pytest.approx(-0.125)
    w = signals_to_weights(pd.Series({'A': 0.3, 'B': 0.3, 'C': 0.3, 'D': 0.3, 'E': 0.3}), cfg)
    assert np.allclose(w, 0.2 * 0.5)  # 5*0.25=1.25 > 1 -> 0.2 each, then Kelly
    assert (signals_to_weights(pd.Series({'A': 0.0, 'B': 0.0}), cfg) == 0).all()


def test_panel_matches_single():
    """weights_panel equals row-by-row signals_to_weights (NaN = ineligible)."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(30, 6)), columns=list('ABCDEF'))
    df[df > 1.2] = np.nan
    df.iloc[3] = np.nan
    df.iloc[4, 1:] = np.nan
    cfg = PortfolioConfig(max_weight=0.2, z_scale=0.15, gross_cap=0.8, kelly_fraction=0.7)
    panel = weights_panel(df, cfg)
    for d in df.index:
        pd.testing.assert_series_equal(
            panel.loc[d], signals_to_weights(df.loc[d], cfg), check_names=False
        )


@pytest.mark.parametrize(
    'kw',
    [
        {'max_weight': 0},
        {'max_weight': 1.5},
        {'gross_cap': -1},
        {'kelly_fraction': 0},
        {'kelly_fraction': 1.1},
        {'vol_method': 'x'},
        {'halflife': 0},
        {'combiner_window': 1},
        {'disagreement_penalty': 2},
        {'z_scale': float('nan')},
    ],
)
def test_config_validation_names_parameter(kw):
    """A bad value raises ValueError whose message names the parameter."""
    with pytest.raises(ValueError, match=list(kw)[0]):
        PortfolioConfig(**kw)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.floats(-1e6, 1e6), st.just(float('nan'))), st.booleans()),
        min_size=1,
        max_size=30,
    ),
    st.floats(0.01, 1.0),
    st.floats(0.05, 3.0),
    st.floats(0.01, 1.0),
    st.floats(0.01, 5.0),
)
def test_properties(items, max_w, gross, kelly, zs):
    """Caps and gross cap never exceeded; excluded/NaN -> 0; output finite."""
    cfg = PortfolioConfig(max_weight=max_w, gross_cap=gross, kelly_fraction=kelly, z_scale=zs)
    idx = [f'S{i}' for i in range(len(items))]
    scores = pd.Series([v for v, _ in items], index=idx)
    excl = {s for s, (_, e) in zip(idx, items) if e}
    w = signals_to_weights(scores, cfg, exclude=excl)
    assert np.isfinite(w).all()
    assert (w.abs() <= max_w * kelly + 1e-12).all()
    assert w.abs().sum() <= gross * kelly + 1e-9
    assert (w[list(excl)] == 0).all() and (w[scores.isna()] == 0).all()


# ---------------------------------------------------------------- volatility
def test_vol_target_constant_vol():
    """Constant +/-1% returns: EWMA vol = 0.01 exactly -> scale = 0.10 / (0.01*sqrt(252)); cap at
    max_leverage.
    """
    r = pd.Series([0.01, -0.01] * 50)
    v = vol_forecast(r, 'ewma', halflife=10)
    assert np.allclose(v, 0.01)
    sc = vol_target_scale(v, 0.10, 2.0)
    assert np.allclose(sc, 0.10 / (0.01 * np.sqrt(252)))  # 0.62994
    assert vol_target_scale(0.001, 0.10, 2.0) == 2.0
    assert vol_target_scale(0.0) == 2.0 and vol_target_scale(float('nan')) == 0.0


@pytest.mark.parametrize('method', ['ewma', 'garch'])
def test_vol_forecast_causal(method):
    """Forecast at t is unchanged when returns after t are perturbed."""
    rng = np.random.default_rng(1)
    r = pd.Series(rng.standard_t(5, 170) * 0.01)
    t = 135
    r2 = r.copy()
    r2.iloc[t + 1 :] = r2.iloc[t + 1 :] * 5 + 0.02
    a = vol_forecast(r, method, halflife=20, refit_every=20, min_obs=100)
    b = vol_forecast(r2, method, halflife=20, refit_every=20, min_obs=100)
    pd.testing.assert_series_equal(a.iloc[: t + 1], b.iloc[: t + 1])
    assert not np.allclose(a.iloc[t + 1 :], b.iloc[t + 1 :])
    if method == 'garch':
        assert a.iloc[:99].isna().all() and a.iloc[99:].notna().all() and (a.iloc[99:] > 0).all()


# ---------------------------------------------------------------- combiner
def test_combiner_negative_sharpe_gets_zero():
    """Strategy with negative rolling Sharpe gets weight 0; the other gets 1."""
    c = SignalCombiner(window=4).update(
        pd.DataFrame({'A': [0.01, 0.03, 0.01, 0.03], 'B': [-0.01, -0.03, -0.01, -0.03]})
    )
    assert c.current_weights().to_dict() == {'A': 1.0, 'B': 0.0}
    out = c.combine([sig('A', 'X', 'LONG', 0.8), sig('B', 'X', 'SHORT', 1.0)])
    # net = 0.8; votes d=(+1,-1) with w=(1,0): dbar=1, V=0 -> no penalty
    assert out['X'] == pytest.approx(0.8)


def test_combiner_sharpe_weights_and_penalty():
    """Equal std, means 0.02 vs 0.01 -> SR ratio 2:1 -> w = (2/3, 1/3).
    A LONG 1.0, B SHORT 0.5: net = 2/3 - 1/6 = 0.5; dbar = 1/3; V = 2/3*(2/3)^2 + 1/3*(4/3)^2 = 8/9;
    penalty 0.5 -> net = 0.5 * (1 - 4/9) = 5/18."""
    c = SignalCombiner(window=4, penalty=0.5)
    c.update(pd.DataFrame({'A': [0.01, 0.03, 0.01, 0.03], 'B': [0.0, 0.02, 0.0, 0.02]}))
    assert c.current_weights().to_dict() == pytest.approx({'A': 2 / 3, 'B': 1 / 3})
    out = c.combine(
        [
            sig('A', 'X', 'LONG', 1.0),
            sig('B', 'X', 'SHORT', 0.5),
            sig('A', 'Y', 'SHORT', 0.3),
            sig('B', 'Y', 'LONG', 1.0, vetoed=True),
        ]
    )
    assert out['X'] == pytest.approx(5 / 18)
    assert out['Y'] == 0.0  # any vetoed signal on a symbol -> 0
    assert SignalCombiner(window=4, penalty=0.0).update(c.returns).combine(
        [sig('A', 'X', 'LONG', 1.0), sig('B', 'X', 'SHORT', 0.5)]
    )['X'] == pytest.approx(0.5)


def test_combiner_all_losers_zero():
    """No positive Sharpe -> all weights 0 -> all net signals 0."""
    c = SignalCombiner(window=3).update(
        pd.DataFrame({'A': [-0.01, -0.02, -0.01], 'B': [-0.01, 0.0, -0.03]})
    )
    assert (c.current_weights() == 0).all()
    assert c.combine([sig('A', 'X', 'LONG'), sig('B', 'X', 'LONG')]) == {'X': 0.0}


def test_combiner_causal():
    """Weights used on day t depend only on returns up to t-1."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(0.001, 0.01, (120, 3)), columns=['a', 'b', 'c'])
    t = 80
    df2 = df.copy()
    df2.iloc[t:] = -df2.iloc[t:] * 3
    w1 = SignalCombiner(window=20).update(df).weights_history()
    w2 = SignalCombiner(window=20).update(df2).weights_history()
    pd.testing.assert_frame_equal(w1.iloc[: t + 1], w2.iloc[: t + 1])  # row t uses returns <= t-1
    assert not w1.iloc[t + 1 :].equals(w2.iloc[t + 1 :])
    # incremental updates == one-shot; current_weights == next row of history
    c = SignalCombiner(window=20)
    for i in range(0, 120, 7):
        c.update(df.iloc[i : i + 7])
    pd.testing.assert_frame_equal(c.weights_history(), w1)
    row = SignalCombiner(window=20).update(df.iloc[:t]).current_weights()
    pd.testing.assert_series_equal(row, w1.iloc[t], check_names=False)
    assert np.allclose(w1.sum(axis=1).where(w1.sum(axis=1) > 0, 1.0), 1.0)


# ---------------------------------------------------------------- guardrails
def test_vix_halves():
    """VIX 35 > 30 halves weights; VIX 30 (not strictly above) does not."""
    g = Guardrails()
    w = pd.Series({'A': 0.1, 'B': -0.2})
    out, ev = g.apply(w, 35.0, pd.Series([100.0, 101.0]))
    assert out.to_dict() == pytest.approx({'A': 0.05, 'B': -0.1}) and any('VIX' in e for e in ev)
    out, ev = g.apply(w, 30.0, pd.Series([100.0, 101.0]))
    assert out.equals(w) and ev == []


def test_trailing_stop_exact_point_and_cooldown():
    """Peak 102; 99.97 (1.97% dd) does not trigger; 99.96 (= 102*0.98, exactly 2%) triggers.
    cooldown=2: flat for the 2 bars after the trigger, re-entry at the close of trigger+2 with peak reset."""
    g = Guardrails(trailing_stop=0.02, cooldown=2)
    w = pd.Series({'A': 0.1})
    eq = [100.0, 102.0, 99.97]
    out, ev = g.apply(w, 20.0, pd.Series(eq))
    assert out['A'] == 0.1 and ev == []
    eq.append(99.96)
    out, ev = g.apply(w, 20.0, pd.Series(eq))
    assert out['A'] == 0.0 and any('triggered' in e for e in ev)
    eq.append(99.96)  # trigger + 1: still stopped
    assert g.apply(w, 20.0, pd.Series(eq))[0]['A'] == 0.0
    eq.append(99.96)  # trigger + 2: re-entry
    out, ev = g.apply(w, 20.0, pd.Series(eq))
    assert out['A'] == 0.1 and any('re-entry' in e for e in ev)
    eq.append(98.0)  # new peak 99.96 -> stop level 97.9608: 98.0 is fine
    assert g.apply(w, 20.0, pd.Series(eq))[0]['A'] == 0.1
    eq.append(97.96)
    assert g.apply(w, 20.0, pd.Series(eq))[0]['A'] == 0.0


def test_guardrails_validation():
    """Bad guardrail values raise ValueError naming the parameter."""
    for kw in ({'trailing_stop': 0}, {'cooldown': 0}, {'vix_scale': 2}, {'vix_threshold': -1}):
        with pytest.raises(ValueError, match=list(kw)[0]):
            Guardrails(**kw)


# ------------------------------------------------------- the chain: combiner -> weights -> overlays
@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_w=st.floats(0.05, 1.0),
    gross=st.floats(0.2, 2.0),
    veto_p=st.floats(0.0, 0.5),
)
def test_strategy_chain_never_trades_a_vetoed_signal_and_keeps_its_caps(seed, max_w, gross, veto_p):
    """Through combine_panel, weights_panel, vol targeting (which scales up) and guardrails: any vetoed signal for a
    (date, symbol) means no target there; |w| <= max_weight and gross <= gross_cap on every date."""
    from trademl.data import make_synthetic_panel
    from trademl.strategy import StrategyConfig, run_strategy

    p = make_synthetic_panel(5, 120, seed=seed % 50)
    dates = pd.DatetimeIndex(sorted(p.date.unique()))
    syms = sorted(p.symbol.unique())
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product([dates, syms], names=['date', 'symbol'])
    frames = {
        k: pd.DataFrame(
            {
                'direction': rng.choice([-1.0, 0.0, 1.0], len(idx)),
                'strength': rng.uniform(0, 1, len(idx)),
                'expected_return': 0.0,
                'vetoed': rng.uniform(size=len(idx)) < veto_p,
            },
            index=idx,
        )
        for k in ('a', 'b')
    }
    cfg = StrategyConfig.from_dict(
        {
            'portfolio': {
                'max_weight': max_w,
                'gross_cap': gross,
                'z_scale': 0.5,
                'combiner_window': 10,
            },
            'combiner': 'equal',
        }
    )
    run = run_strategy(frames, p, cfg)
    t = run.targets
    vetoed = (
        (frames['a']['vetoed'] | frames['b']['vetoed'])
        .unstack('symbol')
        .reindex(index=t.index, columns=t.columns, fill_value=False)
    )
    assert (t[vetoed].fillna(0) == 0).all().all()
    assert (t.abs() <= max_w + 1e-12).all().all() and (t.abs().sum(axis=1) <= gross + 1e-9).all()
