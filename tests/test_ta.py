"""Tests for ta_features: TA-Lib oracle, causality, warm-up/finiteness, MTF."""

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

import trademl.ta as tf

RTOL, ATOL = 1e-8, 1e-12
LENGTHS = (700, 523, 301, 120, 40, 12)


def business_days(n, start='2001-01-01'):
    """n consecutive business days as datetime64[ns] (midnight)."""
    days = np.arange(np.datetime64(start), np.datetime64(start) + 3 * n + 10, dtype='datetime64[D]')
    return days[np.is_busday(days)][:n].astype('datetime64[ns]')


def make_panel(lengths=LENGTHS, seed=0, stamps=None):
    """Left-aligned random-walk OHLCV panel; column j has lengths[j] bars."""
    rng = np.random.default_rng(seed)
    T, N = max(lengths), len(lengths)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    spread = rng.uniform(0, 0.03, (T, N))
    panel = {
        'open': close * (1 + rng.normal(0, 0.01, (T, N))),
        'high': close * (1 + spread),
        'low': close * (1 - spread * rng.uniform(0.2, 1, (T, N))),
        'close': close,
        'volume': rng.integers(100, 100_000, (T, N)).astype(float),
    }
    stamps = business_days(T) if stamps is None else stamps
    panel['dates'] = np.repeat(stamps[:T, None], N, axis=1)
    for j, n in enumerate(lengths):
        for key in panel:
            panel[key][n:, j] = np.datetime64('NaT') if key == 'dates' else np.nan
    return panel


def columns(panel, *keys):
    """Yield (j, length, [valid slices of keys]) for each column."""
    for j in range(panel['close'].shape[1]):
        n = int((~np.isnan(panel['close'][:, j])).sum())
        yield j, n, [panel[k][:n, j] for k in keys]


def assert_oracle(ours, theirs):
    """Equal NaN warm-up and values equal to TA-Lib within 1e-8 relative."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, equal_nan=True)


@pytest.fixture(scope='module')
def panel():
    return make_panel()


@pytest.fixture(scope='module')
def result(panel):
    return tf.compute_ta_features(panel)


# ---------------------------------------------------------------- TA-Lib oracle
def test_primitives_match_talib_from_first_output(panel):
    c, h, lo, v = panel['close'], panel['high'], panel['low'], panel['volume']
    ours = {
        'rsi': tf.rsi(c),
        'atr': tf.atr(h, lo, c),
        'adx': tf.adx(h, lo, c),
        'ema9': tf.ema(c, 9),
        'ema21': tf.ema(c, 21),
        'sma': tf.sma(v, 20),
        'obv': tf.obv_change(c, v),
        'macd': tf.macd(c),
        'bb': tf.bollinger(c),
    }
    for j, n, (cj, hj, lj, vj) in columns(panel, 'close', 'high', 'low', 'volume'):
        assert_oracle(ours['rsi'][:n, j], talib.RSI(cj, 14))
        assert_oracle(ours['atr'][:n, j], talib.ATR(hj, lj, cj, 14))
        assert_oracle(ours['adx'][:n, j], talib.ADX(hj, lj, cj, 14))
        assert_oracle(ours['ema9'][:n, j], talib.EMA(cj, 9))
        assert_oracle(ours['ema21'][:n, j], talib.EMA(cj, 21))
        assert_oracle(ours['sma'][:n, j], talib.SMA(vj, 20))
        obv = talib.OBV(cj, vj)
        assert_oracle(ours['obv'][:n, j], np.r_[np.full(min(n, 10), np.nan), obv[10:] - obv[:-10]])
        for mine, ref in zip(ours['macd'], talib.MACD(cj, 12, 26, 9)):
            assert_oracle(mine[:n, j], ref)
        for mine, ref in zip(ours['bb'], talib.BBANDS(cj, 20, 2, 2, 0)):
            assert_oracle(mine[:n, j], ref)
        # padding stays NaN
        for arr in (ours['rsi'], ours['adx'], ours['macd'][1], ours['bb'][0]):
            assert np.isnan(arr[n:, j]).all()


def test_features_match_talib(panel, result):
    feats, _ = result
    for j, n, (cj, hj, lj, vj) in columns(panel, 'close', 'high', 'low', 'volume'):
        f = {k: a[:n, j] for k, a in feats.items()}
        assert_oracle(f['rsi_14'], talib.RSI(cj, 14))
        line, sig, hist = talib.MACD(cj, 12, 26, 9)
        assert_oracle(f['macd'] * cj, line)
        assert_oracle(f['macd_signal'] * cj, sig)
        assert_oracle(f['macd_hist'] * cj, hist)
        assert_oracle(f['atr_norm'] * cj, talib.ATR(hj, lj, cj, 14))
        assert_oracle(f['adx_14'], talib.ADX(hj, lj, cj, 14))
        assert_oracle((f['ema9_rel'] + 1) * cj, talib.EMA(cj, 9))
        assert_oracle((f['ema21_rel'] + 1) * cj, talib.EMA(cj, 21))
        assert_oracle(f['volume_ratio'], vj / talib.SMA(vj, 20))
        up, _, low = talib.BBANDS(cj, 20, 2, 2, 0)
        np.testing.assert_allclose(f['bb_position'], (cj - low) / (up - low), rtol=1e-7, atol=1e-9)
        obv = talib.OBV(cj, vj)
        ref = np.full(n, np.nan)
        ref[10:] = (obv[10:] - obv[:-10]) / talib.SUM(vj, 10)[10:]
        assert_oracle(f['obv_trend'], ref)
        typical = (hj + lj + cj) / 3
        vwap = talib.SUM(typical * vj, 20) / talib.SUM(vj, 20)
        np.testing.assert_allclose(f['vwap_distance'], cj / vwap - 1, rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- causality
def perturb_after(panel, t, seed):
    """Copy of panel whose valid rows > t have random new prices/volumes."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in panel.items()}
    for key in ('open', 'high', 'low', 'close', 'volume'):
        out[key][t + 1 :] *= rng.uniform(0.5, 1.5, out[key][t + 1 :].shape)
    return out


def intraday_panel(seed=3):
    """Hourly bars, 24/7, ~100 days, columns of different lengths."""
    stamps = np.datetime64('2021-03-01T00', 'ns') + np.arange(2400) * np.timedelta64(1, 'h')
    return make_panel(lengths=(2400, 1700, 500), seed=seed, stamps=stamps)


@pytest.mark.parametrize('make', [make_panel, intraday_panel])
@pytest.mark.parametrize('frac', [0.02, 0.1, 0.37, 0.5, 0.81])
def test_no_look_ahead(make, frac):
    base = make()
    t = int(frac * base['close'].shape[0])
    before, _ = tf.compute_ta_features(base)
    after, _ = tf.compute_ta_features(perturb_after(base, t, seed=int(1000 * frac)))
    changed = False
    for name in tf.TA_MTF_FEATURES:
        np.testing.assert_array_equal(before[name][: t + 1], after[name][: t + 1], err_msg=name)
        changed |= not np.array_equal(before[name][t + 1 :], after[name][t + 1 :], equal_nan=True)
    assert changed  # the perturbation really reached the features


# ---------------------------------------------------------------- warm-up / finiteness
def degenerate_panel():
    """Random walks plus an all-zero-volume column, a flat segment and a flat column."""
    p = make_panel(lengths=(600, 600, 600, 450), seed=5)
    p['volume'][:, 1] = 0.0
    for key in ('open', 'high', 'low', 'close'):
        p[key][200:330, 2] = p['close'][199, 2]  # o=h=l=c flat segment
        p[key][:, 3] = np.where(np.isnan(p[key][:, 3]), np.nan, 42.0)  # flat forever
    p['volume'][250:300, 2] = 0.0
    return p


def test_finite_after_warmup_nan_before():
    p = degenerate_panel()
    feats, unavailable = tf.compute_ta_features(p)
    assert list(feats) == list(tf.TA_MTF_FEATURES)
    for j, n, _ in columns(p):
        for name, arr in feats.items():
            col = arr[:, j]
            assert np.isnan(col[n:]).all(), name
            if name in tf.LOOKBACK:
                k = tf.LOOKBACK[name]
                assert np.isnan(col[:k]).all(), name
                assert np.isfinite(col[k:n]).all(), (name, j)
            else:  # MTF: no warm-up at all (first-value-seeded EMAs)
                assert np.isfinite(col[:n]).all(), name
    assert unavailable == ['mtf_4h', 'mtf_1h']
    assert np.all(np.abs(feats['obv_trend'][10:, 0]) <= 1)
    flat = {k: v[40:450, 3] for k, v in feats.items()}
    assert np.all(flat['rsi_14'] == 50) and np.all(flat['bb_position'] == 0.5)
    assert np.all(flat['adx_14'] == 0) and np.all(flat['atr_norm'] == 0)
    assert np.all(feats['volume_ratio'][19:, 1] == 1.0) and np.all(feats['obv_trend'][10:, 1] == 0)
    assert np.all(feats['bb_position'][230:330, 2] == 0.5)


# ---------------------------------------------------------------- MTF
def trend_panel(sign, n=1100):
    """A steadily rising (sign=+1) or falling (sign=-1) daily series."""
    close = 100 + sign * 0.05 * np.arange(n)
    return {
        'open': close,
        'high': close + 0.1,
        'low': close - 0.1,
        'close': close,
        'volume': np.full(n, 1e4),
        'dates': business_days(n),
    }


@pytest.mark.parametrize('sign', [1, -1])
def test_mtf_trend_sign(sign):
    """Neutral during each timeframe's first period (the EMAs equal the price), then the trend's sign."""
    p = {k: v[:, None] for k, v in trend_panel(sign).items()}
    feats, unavailable = tf.compute_ta_features(p)
    for name, tfm in (('mtf_day', 'day'), ('mtf_week', 'week'), ('mtf_month', 'month')):
        pid = tf.period_ids(p['dates'][:, 0], tfm)
        first_row = int(np.argmax(pid != pid[0]))  # first bar of the second period
        col = feats[name][:, 0]
        assert first_row > 0 and np.all(col[:first_row] == 0), name
        assert np.all(col[first_row:] == sign), name
    assert np.all(feats['mtf_4h'] == 0) and np.all(feats['mtf_1h'] == 0)
    assert unavailable == ['mtf_4h', 'mtf_1h']


def ema_seeded_by_first(x, n):
    """Plain-loop EMA seeded with the first value (pandas ewm(adjust=False))."""
    a, y = 2.0 / (n + 1), x[0]
    for v in x[1:]:
        y = a * v + (1 - a) * y
    return y


def brute_force_in_progress_ema(close, pid, t, n):
    """EMA over completed period closes + close[t], seeded by the first close (loop reference)."""
    closes = [close[i] for i in range(t) if pid[i] != pid[i + 1]] + [close[t]]
    return ema_seeded_by_first(closes, n)


@pytest.mark.parametrize('timeframe', ['week', 'month', 'day'])
def test_in_progress_ema_matches_brute_force(panel, timeframe):
    c, d = panel['close'], panel['dates']
    valid = ~np.isnan(c)
    k = tf._period_ordinal(tf.period_ids(d, timeframe), valid)
    closes = tf._period_closes(c, k, valid, 21)
    for n in (9, 21):
        fast = tf.in_progress_ema(c, k, closes, n)
        for j, length, (cj, dj) in columns(panel, 'close', 'dates'):
            pid = tf.period_ids(dj, timeframe)
            for t in range(0, length, 7):
                ref = brute_force_in_progress_ema(cj, pid, t, n)
                np.testing.assert_allclose(fast[t, j], ref, rtol=1e-10, equal_nan=True)


def test_intraday_input_gives_real_4h_1h():
    p = intraday_panel()
    feats, unavailable = tf.compute_ta_features(p)
    assert unavailable == []
    for name in ('mtf_4h', 'mtf_1h', 'mtf_day'):
        vals = feats[name][:, 0]
        assert {-1.0, 1.0} <= set(vals[np.isfinite(vals)]), name
    c = p['close'][:, 0]
    import pandas as pd

    e9, e21 = (
        pd.Series(c).ewm(span=n, adjust=False).mean().to_numpy() for n in (9, 21)
    )  # 1h periods == hourly bars
    expected = np.where((c > e9) & (e9 > e21), 1.0, np.where((c < e9) & (e9 < e21), -1.0, 0.0))
    np.testing.assert_array_equal(feats['mtf_1h'][:, 0], expected)
    pid = tf.period_ids(p['dates'][:, 0], '4h')
    for t in range(100, 2400, 97):
        e9, e21 = (brute_force_in_progress_ema(c, pid, t, n) for n in (9, 21))
        want = 1.0 if c[t] > e9 > e21 else -1.0 if c[t] < e9 < e21 else 0.0
        assert feats['mtf_4h'][t, 0] == want


def test_daily_detection():
    valid = np.ones((3, 1), bool)
    days = business_days(3)[:, None]
    assert not tf.is_intraday(days, valid)
    assert not tf.is_intraday(days + np.timedelta64(16, 'h'), valid)  # stamped at the close
    assert tf.is_intraday(days[:1] + np.timedelta64(9, 'h'), valid[:1])  # lone 09:00 bar
    assert tf.is_intraday(days[:1] + np.arange(3)[:, None] * np.timedelta64(1, 'h'), valid)


def test_week_ids_are_monday_to_sunday():
    d = np.arange(np.datetime64('2024-01-01'), np.datetime64('2024-01-15')).astype('datetime64[ns]')
    ids = tf.period_ids(d, 'week')  # 2024-01-01 is a Monday
    assert (ids[:7] == ids[0]).all() and (ids[7:] == ids[0] + 1).all()


# ---------------------------------------------------------------- property / edge cases


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 90), min_size=1, max_size=4),
    cut=st.floats(0, 1),
    seed=st.integers(0, 10_000),
    zero_vol=st.booleans(),
)
def test_no_look_ahead_property(lengths, cut, seed, zero_vol):
    lengths = tuple(lengths) if max(lengths) > 0 else (1,) + tuple(lengths)
    base = make_panel(lengths=lengths, seed=seed)
    if zero_vol:
        base['volume'][:, 0] = np.where(np.isnan(base['volume'][:, 0]), np.nan, 0.0)
    t = int(cut * (base['close'].shape[0] - 1))
    before, _ = tf.compute_ta_features(base)
    after, _ = tf.compute_ta_features(perturb_after(base, t, seed))
    for name in tf.TA_MTF_FEATURES:
        assert before[name].shape == base['close'].shape
        np.testing.assert_array_equal(before[name][: t + 1], after[name][: t + 1], err_msg=name)
        valid = ~np.isnan(base['close'])
        assert not np.isinf(before[name]).any() and np.isnan(before[name][~valid]).all()


def test_short_panel_all_nan_warmup():
    p = make_panel(lengths=(5, 3, 0))
    feats, _ = tf.compute_ta_features(p)
    for name in tf.LOOKBACK:
        assert np.isnan(feats[name]).all(), name


# ---------------------------------------------------------------- TA-Lib vs the former NumPy code
def former_numpy_features(p):
    """The 12 TA features as trademl's own NumPy code computed them before TA-Lib did."""
    from ta_reference import reference_ta_block

    h, lo, c, v = (np.asarray(p[k], float) for k in ('high', 'low', 'close', 'volume'))
    with np.errstate(divide='ignore', invalid='ignore'):
        old = reference_ta_block(h, lo, c, v)
    return {k: np.where(np.isnan(c), np.nan, x) for k, x in old.items()}


def sample_bars():
    from trademl.data import load_panel, panel_arrays

    pa = panel_arrays(load_panel('sample'))
    return {k: pa[k] for k in ('open', 'high', 'low', 'close', 'volume', 'dates')}


@pytest.mark.parametrize('make', [make_panel, degenerate_panel, sample_bars])
def test_features_equal_the_former_numpy_code(make):
    """Same warm-up (NaN) rows, and values within 1e-8 (in practice ~1e-12) after it."""
    p = make()
    old = former_numpy_features(p)
    new, _ = tf.compute_ta_features(p)
    for name in tf.TA_FEATURES:
        np.testing.assert_array_equal(np.isnan(new[name]), np.isnan(old[name]), err_msg=name)
        np.testing.assert_allclose(new[name], old[name], rtol=0, atol=1e-8, err_msg=name)


def long_panel(frames):
    """A long (symbol, date) panel from {symbol: (dates, panel column index)} of make_panel()."""
    import pandas as pd

    base = make_panel(lengths=(400, 400, 400), seed=11)
    rows = []
    for sym, (days, j) in frames.items():
        n = len(days)
        cols = {k: base[k][:n, j] for k in ('open', 'high', 'low', 'close', 'volume')}
        rows.append(pd.DataFrame({'symbol': sym, 'date': days, **cols}))
    return pd.concat(rows, ignore_index=True)


def test_ragged_calendar_each_symbol_over_its_own_bars():
    """A late listing and a symbol with missing days: each symbol's features are those of its own bars."""
    from trademl.data import panel_arrays

    cal = business_days(400)
    gaps = np.delete(cal, [50, 51, 200])  # three missing bars
    frames = {'AAA': (cal, 0), 'LATE': (cal[150:], 1), 'GAPS': (gaps, 2)}
    pa = panel_arrays(long_panel(frames))
    feats, _ = tf.compute_ta_features(pa)
    frame = pa.to_frame(feats)
    for sym, (days, j) in frames.items():
        alone = panel_arrays(long_panel({sym: (days, j)}))
        mine, _ = tf.compute_ta_features(alone)
        got = frame.xs(sym)
        assert list(got.index) == list(days)
        for name in tf.TA_FEATURES:
            np.testing.assert_array_equal(got[name].to_numpy(), mine[name][:, 0], err_msg=name)
        c, h, lo = (alone[k][:, 0] for k in ('close', 'high', 'low'))
        assert_oracle(got['rsi_14'], talib.RSI(c, 14))
        assert_oracle(got['adx_14'], talib.ADX(h, lo, c, 14))


def test_missing_bar_inside_a_column_is_skipped():
    """A NaN bar inside a column: TA-Lib indicators run over the other bars; the rolling-window
    normalisations (VWAP, volume ratio, OBV trend) are NaN while their window holds the gap."""
    p = make_panel(lengths=(300,), seed=2)
    holed = {k: v.copy() for k, v in p.items()}
    for key in ('open', 'high', 'low', 'close', 'volume'):
        holed[key][120] = np.nan
    with_gap, _ = tf.compute_ta_features(holed)
    skipped = {k: np.delete(v, 120, axis=0) for k, v in p.items()}
    without, _ = tf.compute_ta_features(skipped)
    talib_based = ('rsi_14', 'macd', 'macd_signal', 'macd_hist', 'bb_position', 'atr_norm')
    talib_based += ('adx_14', 'ema9_rel', 'ema21_rel')
    for name in talib_based:
        assert np.isnan(with_gap[name][120]).all(), name
        np.testing.assert_array_equal(np.delete(with_gap[name], 120, axis=0), without[name])
    for name, w in (('vwap_distance', 20), ('volume_ratio', 20), ('obv_trend', 10)):
        assert np.isnan(with_gap[name][120 : 120 + w]).all(), name
        assert np.isfinite(with_gap[name][120 + w :]).all(), name


def test_price_scale_does_not_matter():
    """A symbol priced in 1e-9 units gets the same features as one priced in tens."""
    p = make_panel(lengths=(300, 200), seed=4)
    tiny = {k: (v * 1e-10 if k in ('open', 'high', 'low', 'close') else v) for k, v in p.items()}
    big, _ = tf.compute_ta_features(p)
    small, _ = tf.compute_ta_features(tiny)
    for name in tf.TA_FEATURES:
        np.testing.assert_allclose(small[name], big[name], rtol=1e-9, atol=1e-12, err_msg=name)
