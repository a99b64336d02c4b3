"""The NumPy indicators trademl computed before TA-Lib did (kept verbatim as a reference).

The package now calls TA-Lib for RSI, MACD, Bollinger, ATR, ADX, the EMAs and OBV; the tests check
that the features equal these values after warm-up.
"""

import numpy as np
from scipy.signal import lfilter


def _safe_ratio(num: np.ndarray, den: np.ndarray, fallback: float) -> np.ndarray:
    """Num / den, ``fallback`` where den == 0 (and num is defined), NaN stays NaN."""
    with np.errstate(divide='ignore', invalid='ignore'):
        ratio = num / den
    return np.where((den == 0) & ~np.isnan(num), fallback, ratio)


def _lag_diff(x: np.ndarray) -> np.ndarray:
    """x[t] - x[t-1] along axis 0; row 0 is NaN."""
    out = np.full(x.shape, np.nan)
    out[1:] = x[1:] - x[:-1]
    return out


def _window_sum(x: np.ndarray, start: int, n: int) -> np.ndarray:
    """Per-column sum of rows start..start+n-1 (NaN if the panel is too short)."""
    if start + n > x.shape[0]:
        return np.full(x.shape[1:], np.nan)
    return x[start : start + n].sum(axis=0)


def first_order_recursion(
    x: np.ndarray, seed_row: int, seed: np.ndarray, decay: float, gain: float
) -> np.ndarray:
    """y[seed_row] = seed, y[t] = decay*y[t-1] + gain*x[t] for t > seed_row.

    Rows before ``seed_row`` are NaN.  Runs as one ``lfilter`` call over the
    whole (T, N) block with per-column initial state ``decay * seed``.
    """
    out = np.full(x.shape, np.nan)
    if seed_row >= x.shape[0]:
        return out
    out[seed_row] = seed
    if seed_row + 1 < x.shape[0]:
        zi = (decay * np.asarray(seed, dtype=float))[None, ...]
        out[seed_row + 1 :], _ = lfilter([gain], [1.0, -decay], x[seed_row + 1 :], axis=0, zi=zi)
    return out


def seeded_average(x: np.ndarray, n: int, alpha: float, start: int = 0) -> np.ndarray:
    """Exponential average seeded TA-Lib style.

    The seed is the simple mean of rows start..start+n-1, placed at row
    start+n-1; afterwards y[t] = alpha*x[t] + (1-alpha)*y[t-1].
    """
    seed_row = start + n - 1
    return first_order_recursion(x, seed_row, _window_sum(x, start, n) / n, 1.0 - alpha, alpha)


def ema(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """TA-Lib EMA (alpha = 2/(n+1), SMA seed) of columns whose data start at ``start``."""
    return seeded_average(x, n, 2.0 / (n + 1), start)


def wilder(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """Wilder smoothing (alpha = 1/n, SMA seed) of columns whose data start at ``start``."""
    return seeded_average(x, n, 1.0 / n, start)


def rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of the last ``w`` rows (t-w+1..t); NaN for t < w-1.  Exact lag sum."""
    out = np.full(x.shape, np.nan)
    T = x.shape[0]
    if w > T:
        return out
    acc = x[: T - w + 1].copy()
    for lag in range(1, w):
        acc += x[lag : T - w + 1 + lag]
    out[w - 1 :] = acc
    return out


def sma(x: np.ndarray, w: int) -> np.ndarray:
    """Simple moving average over the last ``w`` rows (as TA-Lib SMA)."""
    return rolling_sum(x, w) / w


def rolling_std(x: np.ndarray, w: int, mean: np.ndarray | None = None) -> np.ndarray:
    """Population std over the last ``w`` rows (two-pass, around the window mean)."""
    mean = sma(x, w) if mean is None else mean
    out = np.full(x.shape, np.nan)
    T = x.shape[0]
    if w > T:
        return out
    centre = mean[w - 1 :]
    acc = np.zeros_like(centre)
    for lag in range(w):
        dev = x[lag : T - w + 1 + lag] - centre
        acc += dev * dev
    out[w - 1 :] = np.sqrt(acc / w)
    return out


def rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    """Wilder RSI exactly as TA-Lib RSI (first value at row n); 50 if no movement."""
    change = _lag_diff(close)
    avg_gain = wilder(np.maximum(change, 0.0), n, start=1)
    avg_loss = wilder(np.maximum(-change, 0.0), n, start=1)
    return _safe_ratio(100.0 * avg_gain, avg_gain + avg_loss, 50.0)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal and histogram exactly as TA-Lib MACD.

    TA-Lib seeds the fast EMA with the mean of the ``fast`` closes ending at
    row slow-1 (not at row fast-1), and the signal EMA from row slow-1; all
    three outputs start at row slow+signal-2.
    """
    line = ema(close, fast, start=slow - fast) - ema(close, slow)
    sig = ema(line, signal, start=slow - 1)
    line[: slow + signal - 2] = np.nan
    return line, sig, line - sig


def bollinger(
    close: np.ndarray, n: int = 20, k: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Bollinger bands: SMA(n) +- k * population std."""
    middle = sma(close, n)
    band = k * rolling_std(close, n, middle)
    return middle + band, middle, middle - band


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """TA-Lib TRANGE: max(h-l, |h-prev close|, |l-prev close|); row 0 NaN."""
    out = np.full(close.shape, np.nan)
    prev = close[:-1]
    h, lo = high[1:], low[1:]
    out[1:] = np.maximum(h - lo, np.maximum(np.abs(h - prev), np.abs(lo - prev)))
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Average true range exactly as TA-Lib ATR (first value at row n)."""
    return wilder(true_range(high, low, close), n, start=1)


def directional_movement(high: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(+DM, -DM) with TA-Lib's tie rules; row 0 is NaN."""
    up, down = _lag_diff(high), _lag_diff(low) * -1.0
    plus = np.where((up > 0) & (up > down), up, 0.0)
    minus = np.where((down > 0) & (up < down), down, 0.0)
    plus[0] = minus[0] = np.nan
    return plus, minus


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Average directional index exactly as TA-Lib ADX (first value at row 2n-1).

    TA-Lib sums the first n-1 DM/TR values (rows 1..n-1), then applies the
    Wilder running sum S[t] = S[t-1]*(1-1/n) + x[t]; DX is defined from row
    n and ADX is its Wilder average seeded by the mean of DX[n..2n-1].
    """
    plus_dm, minus_dm = directional_movement(high, low)
    decay = 1.0 - 1.0 / n

    def wilder_sum(x: np.ndarray) -> np.ndarray:
        return first_order_recursion(x, n - 1, _window_sum(x, 1, n - 1), decay, 1.0)

    smoothed_tr = wilder_sum(true_range(high, low, close))
    plus_di = _safe_ratio(100.0 * wilder_sum(plus_dm), smoothed_tr, 0.0)
    minus_di = _safe_ratio(100.0 * wilder_sum(minus_dm), smoothed_tr, 0.0)
    dx = _safe_ratio(100.0 * np.abs(minus_di - plus_di), minus_di + plus_di, 0.0)
    dx[:n] = np.nan
    return wilder(dx, n, start=n)


def obv_change(close: np.ndarray, volume: np.ndarray, n: int = 10) -> np.ndarray:
    """OBV[t] - OBV[t-n] (TA-Lib OBV), i.e. the signed volume of the last n bars."""
    return rolling_sum(np.sign(_lag_diff(close)) * volume, n)


def rolling_vwap(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, n: int = 20
) -> np.ndarray:
    """n-bar VWAP of the typical price; plain mean of typical price if no volume."""
    typical = (high + low + close) / 3.0
    vol_sum = rolling_sum(volume, n)
    weighted = _safe_ratio(rolling_sum(typical * volume, n), vol_sum, np.nan)
    return np.where(vol_sum == 0, sma(typical, n), weighted)


def reference_ta_block(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> dict[str, np.ndarray]:
    """The 12 TA features from high, low, close, volume (before padding mask)."""
    line, signal, hist = macd(c)
    upper, middle, lower = bollinger(c)
    width = upper - lower
    flat = (width <= 4e-9 * np.abs(middle)) & ~np.isnan(c)
    return {
        'rsi_14': rsi(c),
        'macd': line / c,
        'macd_signal': signal / c,
        'macd_hist': hist / c,
        'bb_position': np.where(flat & ~np.isnan(width), 0.5, (c - lower) / width),
        'atr_norm': atr(h, lo, c) / c,
        'adx_14': adx(h, lo, c),
        'obv_trend': _safe_ratio(obv_change(c, v), rolling_sum(v, 10), 0.0),
        'vwap_distance': c / rolling_vwap(h, lo, c, v) - 1.0,
        'ema9_rel': ema(c, 9) / c - 1.0,
        'ema21_rel': ema(c, 21) / c - 1.0,
        'volume_ratio': _safe_ratio(v, sma(v, 20), 1.0),
    }
