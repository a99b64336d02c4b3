"""A port of seed 002's SMC loops (pandas `.iloc` per row, one symbol at a time): the baseline the
vectorised SMC features are measured against. Benchmark code only; never imported by the package."""

import numpy as np
import pandas as pd


def seed_loops_one_symbol(df: pd.DataFrame) -> dict:
    """Port of the seed's per-row pandas .iloc loops over one symbol's whole history."""
    bullish_ob, bearish_ob, bullish_fvg, bearish_fvg = [], [], [], []
    liquidity_high, liquidity_low = [], []
    for i in range(2, len(df) - 1):
        if (
            df['close'].iloc[i + 1] > df['high'].iloc[i] * 1.02
            and df['close'].iloc[i] < df['open'].iloc[i]
        ):
            bullish_ob.append((i, df['low'].iloc[i], df['open'].iloc[i]))
        if (
            df['close'].iloc[i + 1] < df['low'].iloc[i] * 0.98
            and df['close'].iloc[i] > df['open'].iloc[i]
        ):
            bearish_ob.append((i, df['close'].iloc[i], df['high'].iloc[i]))
    for i in range(1, len(df) - 1):
        if df['low'].iloc[i + 1] > df['high'].iloc[i - 1]:
            bullish_fvg.append((i, df['high'].iloc[i - 1], df['low'].iloc[i + 1]))
        if df['high'].iloc[i + 1] < df['low'].iloc[i - 1]:
            bearish_fvg.append((i, df['high'].iloc[i + 1], df['low'].iloc[i - 1]))
    window = 20
    for i in range(window, len(df) - window):
        if df['high'].iloc[i] == df['high'].iloc[i - window : i + window + 1].max():
            liquidity_high.append(df['high'].iloc[i])
        if df['low'].iloc[i] == df['low'].iloc[i - window : i + window + 1].min():
            liquidity_low.append(df['low'].iloc[i])
    bos_bullish, bos_bearish = np.zeros(len(df)), np.zeros(len(df))
    swing_high, swing_low = df['high'].iloc[0], df['low'].iloc[0]
    for i in range(1, len(df)):
        if df['close'].iloc[i] > swing_high:
            bos_bullish[i] = 1.0
            swing_high = df['high'].iloc[i]
        else:
            swing_high = max(swing_high, df['high'].iloc[i])
        if df['close'].iloc[i] < swing_low:
            bos_bearish[i] = 1.0
            swing_low = df['low'].iloc[i]
        else:
            swing_low = min(swing_low, df['low'].iloc[i])
    return {
        'bullish_ob': bullish_ob,
        'bearish_ob': bearish_ob,
        'bullish_fvg': bullish_fvg,
        'bearish_fvg': bearish_fvg,
        'liquidity_high': liquidity_high,
        'liquidity_low': liquidity_low,
        'bos_bullish': bos_bullish,
        'bos_bearish': bos_bearish,
    }


def seed_loops(arrays: dict) -> list:
    """Seed-style baseline: one pandas DataFrame per symbol, then the per-row .iloc loops."""
    names = ('open', 'high', 'low', 'close')
    return [
        seed_loops_one_symbol(pd.DataFrame({k: arrays[k][:, j] for k in names}))
        for j in range(arrays['close'].shape[1])
    ]
