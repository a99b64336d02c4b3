"""Tests for trademl.smc: hand-built definitions, loop-reference equality, causality."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trademl.core import ConfigError
from trademl.smc import SMC_FEATURES as FEATURE_NAMES
from trademl.smc import smc_features, smc_features_loop


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def bars_to_arrays(bars):
    """One-symbol panel from a list of (open, high, low, close) tuples."""
    a = np.array(bars, dtype=float)
    return {k: a[:, i : i + 1] for i, k in enumerate(('open', 'high', 'low', 'close'))} | {
        'volume': np.ones((len(bars), 1))
    }


def doji_bars(closes, spread=0.5):
    """Bars with open == close and high/low at close +/- spread."""
    return [(c, c + spread, c - spread, c) for c in closes]


def column(out, name):
    return out[name][:, 0]


def random_walk_panel(rng, n_rows, n_cols, jump=0.05, jump_prob=0.1, tick=None):
    """Consistent OHLC random walks with jumps and random NaN tails (left-aligned)."""
    r = rng.normal(0, 0.01, (n_rows, n_cols))
    r += rng.choice(
        [0.0, jump, -jump], (n_rows, n_cols), p=[1 - jump_prob, jump_prob / 2, jump_prob / 2]
    )
    c = 100 * np.exp(np.cumsum(r, 0))
    o = np.vstack([c[:1], c[:-1]]) * np.exp(rng.normal(0, 0.005, (n_rows, n_cols)))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.005, (n_rows, n_cols))))
    l = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.005, (n_rows, n_cols))))
    if tick is not None:  # coarse price grid -> many ties
        o, h, l, c = (np.round(x / tick) * tick for x in (o, h, l, c))
        h, l = np.maximum(h, np.maximum(o, c)), np.minimum(l, np.minimum(o, c))
    lengths = rng.integers(0, n_rows + 1, n_cols)
    lengths[0] = n_rows
    for j, n in enumerate(lengths):
        for x in (o, h, l, c):
            x[n:, j] = np.nan
    return {'open': o, 'high': h, 'low': l, 'close': c, 'volume': np.ones((n_rows, n_cols))}


def assert_same(a, b):
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# --------------------------------------------------------------------------
# hand-built definitions
# --------------------------------------------------------------------------
def test_bullish_order_block():
    bars = [
        (100, 101, 98, 99),  # bearish bar: the OB, zone [98, 100], mid 99
        (99, 104, 99, 103.5),  # close 103.5 > 101 * 1.02 = 103.02 -> confirmed here
        (103.5, 104, 102, 103),
        (103, 103.5, 102.5, 103.2),
    ]
    out = smc_features(bars_to_arrays(bars), lookback=2)
    np.testing.assert_array_equal(column(out, 'ob_bull_count'), [0, 1, 1, 0])
    np.testing.assert_array_equal(column(out, 'ob_bear_count'), [0, 0, 0, 0])
    np.testing.assert_allclose(
        column(out, 'ob_distance'), [0, (99 - 103.5) / 103.5, (99 - 103) / 103, 0], rtol=1e-15
    )


def test_bullish_order_block_needs_threshold():
    bars = [(100, 101, 98, 99), (99, 104, 99, 103.0), (103, 103.5, 102.5, 103.2)]
    out = smc_features(bars_to_arrays(bars))  # 103.0 < 103.02
    np.testing.assert_array_equal(column(out, 'ob_bull_count'), [0, 0, 0])


def test_bearish_order_block():
    bars = [
        (100, 102, 99.5, 101.5),  # bullish bar: the OB, zone [101.5, 102], mid 101.75
        (101, 101, 97, 97.2),  # close 97.2 < 99.5 * 0.98 = 97.51 -> confirmed here
        (97.2, 98, 96.8, 97.5),
    ]
    out = smc_features(bars_to_arrays(bars))
    np.testing.assert_array_equal(column(out, 'ob_bear_count'), [0, 1, 1])
    np.testing.assert_array_equal(column(out, 'ob_bull_count'), [0, 0, 0])
    np.testing.assert_allclose(
        column(out, 'ob_distance'), [0, (101.75 - 97.2) / 97.2, (101.75 - 97.5) / 97.5], rtol=1e-15
    )


def test_bullish_fair_value_gap():
    bars = [
        (10, 10.2, 9.8, 10),
        (10.1, 11.2, 10.1, 11),  # gap centred here: low[2] 10.6 > high[0] 10.2
        (11, 11.5, 10.6, 11.3),  # confirmed here, zone [10.2, 10.6], mid 10.4
        (11.3, 11.4, 11.0, 11.2),
        (11.2, 11.3, 11.1, 11.2),
    ]
    out = smc_features(bars_to_arrays(bars), lookback=2)
    np.testing.assert_array_equal(column(out, 'fvg_bull_count'), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(column(out, 'fvg_bear_count'), [0, 0, 0, 0, 0])
    np.testing.assert_allclose(
        column(out, 'fvg_distance'),
        [0, 0, (10.4 - 11.3) / 11.3, (10.4 - 11.2) / 11.2, 0],
        rtol=1e-12,
    )


def test_bearish_fair_value_gap():
    bars = [
        (10, 10.2, 9.8, 10),
        (9.9, 9.9, 8.8, 9),  # gap centred here: high[2] 9.4 < low[0] 9.8
        (9, 9.4, 8.5, 8.7),
    ]  # confirmed here, zone [9.4, 9.8], mid 9.6
    out = smc_features(bars_to_arrays(bars))
    np.testing.assert_array_equal(column(out, 'fvg_bear_count'), [0, 0, 1])
    np.testing.assert_array_equal(column(out, 'fvg_bull_count'), [0, 0, 0])
    np.testing.assert_allclose(column(out, 'fvg_distance'), [0, 0, (9.6 - 8.7) / 8.7], rtol=1e-12)


def test_swing_high_not_visible_before_confirmation():
    highs = [10, 11, 15, 13, 12, 11.5]  # swing high at i=2 with w=2, known at i+w=4
    bars = [(h - 0.5, h, h - 1, h - 0.5) for h in highs]
    out = smc_features(bars_to_arrays(bars), swing_window=2)
    liq = column(out, 'liq_high_distance')
    assert np.isnan(liq[:4]).all()  # a centred window would already show 15 at bar 2
    np.testing.assert_allclose(liq[4:], [(15 - 11.5) / 11.5, (15 - 11) / 11], rtol=1e-15)
    # the same holds when the series simply ends before the confirmation bar
    short = smc_features(bars_to_arrays(bars[:4]), swing_window=2)
    assert np.isnan(column(short, 'liq_high_distance')).all()


def test_swing_low_not_visible_before_confirmation():
    lows = [15, 14, 10, 12, 13, 13.5]  # swing low at i=2 with w=2, known at 4
    bars = [(x + 0.5, x + 1, x, x + 0.5) for x in lows]
    liq = column(smc_features(bars_to_arrays(bars), swing_window=2), 'liq_low_distance')
    assert np.isnan(liq[:4]).all()
    np.testing.assert_allclose(liq[4:], [(10 - 13.5) / 13.5, (10 - 14) / 14], rtol=1e-15)


# closes for the structure tests; doji bars with high/low = close +/- 0.5, w = 1
# swing highs: 11.5 (bar 1, known 2), 13.5 (bar 4, known 5), 10.5 (bar 7, known 8)
# swing lows:  9.5 (bar 2, known 3), 8.5 (bar 6, known 7), 7.5 (bar 8, known 9)
STRUCTURE_CLOSES = [10, 11, 10, 12, 13, 12, 9, 10, 8, 11]


def test_break_of_structure_bullish():
    out = smc_features(bars_to_arrays(doji_bars(STRUCTURE_CLOSES[:5])), swing_window=1)
    # bar 3 closes 12 > 11.5, no earlier break -> BOS; bar 4 (13) does not re-break the level
    np.testing.assert_array_equal(column(out, 'bos_bull'), [0, 0, 0, 1, 0])
    for name in ('bos_bear', 'choch_bull', 'choch_bear'):
        np.testing.assert_array_equal(column(out, name), [0] * 5)
    np.testing.assert_allclose(column(out, 'liq_low_distance')[3], (9.5 - 12) / 12, rtol=1e-15)


def test_change_of_character_and_bearish_bos():
    out = smc_features(bars_to_arrays(doji_bars(STRUCTURE_CLOSES)), swing_window=1)
    flags = {
        name: np.flatnonzero(column(out, name)).tolist()
        for name in ('bos_bull', 'bos_bear', 'choch_bull', 'choch_bear')
    }
    # bar 6: close 9 < swing low 9.5 after a bullish break -> CHOCH bear
    # bar 8: close 8 < swing low 8.5 after a bearish break -> BOS bear
    # bar 9: close 11 > swing high 10.5 after a bearish break -> CHOCH bull
    assert flags == {'bos_bull': [3], 'bos_bear': [8], 'choch_bull': [9], 'choch_bear': [6]}
    np.testing.assert_allclose(column(out, 'liq_high_distance')[9], (10.5 - 11) / 11, rtol=1e-15)
    np.testing.assert_allclose(column(out, 'liq_low_distance')[9], (7.5 - 11) / 11, rtol=1e-15)


def test_hand_built_cases_match_loop_reference():
    for closes in (STRUCTURE_CLOSES, STRUCTURE_CLOSES[::-1]):
        a = bars_to_arrays(doji_bars(closes))
        assert_same(smc_features(a, swing_window=1), smc_features_loop(a, swing_window=1))


# --------------------------------------------------------------------------
# output contract and edge cases
# --------------------------------------------------------------------------
def test_output_names_order_shape_and_padding():
    a = random_walk_panel(np.random.default_rng(1), 120, 4)
    out = smc_features(a)
    assert tuple(out) == FEATURE_NAMES
    padding = np.isnan(a['close'])
    for name, v in out.items():
        assert v.shape == (120, 4) and v.dtype == np.float64
        assert np.isnan(v[padding]).all()
        if not name.startswith('liq'):
            assert not np.isnan(v[~padding]).any()


@pytest.mark.parametrize('n_rows', [0, 1, 2, 3, 21])
def test_short_and_empty_panels(n_rows):
    a = random_walk_panel(np.random.default_rng(n_rows), max(n_rows, 1), 3)
    a = {k: v[:n_rows] for k, v in a.items()}
    assert_same(smc_features(a), smc_features_loop(a))


def test_bad_parameters_rejected():
    a = random_walk_panel(np.random.default_rng(0), 10, 1)
    for kwargs in ({'lookback': 0}, {'swing_window': 0}, {'ob_threshold': -0.1}):
        (name,) = kwargs
        with pytest.raises(ConfigError, match=name):
            smc_features(a, **kwargs)


# --------------------------------------------------------------------------
# vectorised == loop reference
# --------------------------------------------------------------------------
PARAMS = [
    {},
    {'lookback': 1, 'swing_window': 1},
    {'lookback': 3, 'swing_window': 2, 'ob_threshold': 0.0},
    {'lookback': 7, 'swing_window': 5, 'ob_threshold': 0.01},
]


@pytest.mark.parametrize('seed', range(12))
def test_matches_loop_reference_random_walks(seed):
    rng = np.random.default_rng(seed)
    a = random_walk_panel(
        rng,
        int(rng.integers(30, 400)),
        int(rng.integers(1, 7)),
        jump=float(rng.choice([0.02, 0.05, 0.1])),
        tick=[None, 0.5][seed % 2],
    )
    for kwargs in PARAMS:
        assert_same(smc_features(a, **kwargs), smc_features_loop(a, **kwargs))


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n_rows=st.integers(1, 40),
    n_cols=st.integers(1, 4),
    lookback=st.integers(1, 8),
    window=st.integers(1, 4),
    threshold=st.sampled_from([0.0, 0.02, 0.5]),
)
def test_matches_loop_reference_arbitrary_bars(data, n_rows, n_cols, lookback, window, threshold):
    """Integer price grid (ties everywhere), OHLC not even required to be consistent."""
    prices = st.lists(st.integers(1, 6), min_size=n_rows * n_cols * 4, max_size=n_rows * n_cols * 4)
    flat = np.array(data.draw(prices), dtype=float).reshape(4, n_rows, n_cols)
    lengths = data.draw(st.lists(st.integers(0, n_rows), min_size=n_cols, max_size=n_cols))
    for j, n in enumerate(lengths):
        flat[:, n:, j] = np.nan
    a = dict(zip(('open', 'high', 'low', 'close'), flat))
    kwargs = {'lookback': lookback, 'swing_window': window, 'ob_threshold': threshold}
    assert_same(smc_features(a, **kwargs), smc_features_loop(a, **kwargs))


# --------------------------------------------------------------------------
# causality
# --------------------------------------------------------------------------
@pytest.mark.parametrize('seed', range(25))
def test_future_rows_do_not_change_past_outputs(seed):
    rng = np.random.default_rng(1000 + seed)
    n_rows, n_cols = 250, 5
    a = random_walk_panel(rng, n_rows, n_cols, tick=[None, 0.5][seed % 2])
    kwargs = PARAMS[seed % len(PARAMS)]
    base = smc_features(a, **kwargs)
    cut = int(rng.integers(0, n_rows - 1))
    cols = rng.choice(n_cols, size=int(rng.integers(1, n_cols + 1)), replace=False)
    other = random_walk_panel(rng, n_rows, n_cols, jump=0.2)
    perturbed = {k: v.copy() for k, v in a.items()}
    for k in ('open', 'high', 'low', 'close'):
        future = other[k][cut + 1 :][:, cols]
        if seed % 3 == 0:  # sometimes the future simply is not there
            future = np.full_like(future, np.nan)
        perturbed[k][cut + 1 :, cols] = future
    after = smc_features(perturbed, **kwargs)
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(base[name][: cut + 1], after[name][: cut + 1], err_msg=name)


# --------------------------------------------------------------------------
# the forward-fill helpers SMC shares with the rest of trademl (home: trademl.data)
# --------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n_rows=st.integers(1, 30), n_cols=st.integers(1, 4))
def test_ffill_rows_equals_pandas_ffill_of_the_kept_cells(seed, n_rows, n_cols):
    import pandas as pd

    from trademl.data import ffill_rows, gather_rows, last_event_row

    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_rows, n_cols))
    mask = rng.random((n_rows, n_cols)) < 0.4
    expected = pd.DataFrame(np.where(mask, a, np.nan)).ffill().fillna(-9.0).to_numpy()
    np.testing.assert_array_equal(ffill_rows(a, mask, fill=-9.0), expected)
    np.testing.assert_array_equal(gather_rows(a, last_event_row(mask), -9.0), expected)


def test_smc_uses_the_one_forward_fill_of_trademl_data():
    import trademl.data as tdata
    import trademl.smc as smc

    assert smc.last_event_row is tdata.last_event_row and smc.gather_rows is tdata.gather_rows
