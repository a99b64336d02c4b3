"""Adjustment on the real ETF panel removes split jumps from returns (skips without ../shared/data)."""

import numpy as np
import pandas as pd

from trademl.data import adjust, adjustment_events, load_panel, read_source, validate_panel


def day_return(panel, symbol, day):
    s = panel[panel.symbol == symbol].set_index('date')['close']
    i = s.index.get_loc(pd.Timestamp(day))
    return s.iloc[i] / s.iloc[i - 1] - 1


def test_adjust_removes_qqq_split_and_uso_reverse_split(etf_panel_path):
    raw = read_source('files', etf_panel_path)
    validate_panel(raw)
    # the raw closes show the splits as huge moves ...
    assert day_return(raw, 'QQQ', '2000-03-20') < -0.45  # 2:1 split
    assert day_return(raw, 'USO', '2020-04-29') > 6.0  # 1:8 reverse split
    adj = load_panel('files', etf_panel_path)  # adjust=True by default
    # ... the adjusted ones do not, and agree with the source's adjusted close
    assert abs(day_return(adj, 'QQQ', '2000-03-20')) < 0.10
    assert abs(day_return(adj, 'USO', '2020-04-29')) < 0.10
    a = raw[raw.symbol == 'QQQ'].set_index('date')['adj_close'].pct_change()
    b = adj[adj.symbol == 'QQQ'].set_index('date')['close'].pct_change()
    np.testing.assert_allclose(b.dropna(), a.dropna(), rtol=1e-10, atol=1e-14)  # to rounding
    # every adjusted bar still honours the contract (high/low stay consistent)
    validate_panel(adj)


def test_adjustment_events_find_the_documented_splits(etf_panel_path):
    ev = adjustment_events(read_source('files', etf_panel_path), threshold=0.3)
    found = {(e.symbol, e.date.strftime('%Y-%m-%d')) for e in ev.itertuples()}
    assert {
        ('QQQ', '2000-03-20'),
        ('IWM', '2005-06-09'),
        ('USO', '2020-04-29'),
        ('ITA', '2020-12-07'),
    } <= found


def test_adjust_keeps_dollar_volume_and_is_idempotent(etf_panel_path):
    raw = read_source('files', etf_panel_path)
    raw = raw[raw.symbol.isin(['QQQ', 'SPY'])]
    once = adjust(raw)
    np.testing.assert_allclose(
        once.close * once.volume, raw.close * raw.volume, rtol=1e-12
    )  # dollar volume unchanged
    twice = adjust(once)
    np.testing.assert_allclose(
        twice[['open', 'high', 'low', 'close', 'volume']],
        once[['open', 'high', 'low', 'close', 'volume']],
        rtol=1e-14,
    )
